//! Real reports, generated in the test run by `scripts/with-test-services.sh` from one
//! pytest + allure-pytest run of `tests/fixtures/allure_suite/` (3 passed, 2 failed, 1 broken,
//! 1 skipped; a parametrized test, a test in a class, a non-ASCII name): every case's name
//! and status must be what the suite did (`expected.json` beside it), in each format.
//! Skipped when the folders are not given, unless `CRAT_REQUIRE_NGINX=1` (make test).

use super::*;
use shared::domain::test_case::{TestCase, TestId};

const EXPECTED: &str = include_str!("../../fixtures/allure_suite/expected.json");

/// The report folder in `variable`, or None (skipped, said why) when it is not set.
fn report_folder(variable: &str) -> Option<PathBuf> {
    match std::env::var(variable) {
        Ok(folder) => Some(PathBuf::from(folder)),
        Err(_) => {
            assert!(
                std::env::var("CRAT_REQUIRE_NGINX").as_deref() != Ok("1"),
                "CRAT_REQUIRE_NGINX=1 but {variable} is not set"
            );
            eprintln!(
                "skipped: {variable} is not set (run under scripts/with-test-services.sh with pytest, allure-pytest, allure-commandline and allure installed)"
            );
            None
        }
    }
}

async fn read_real(variable: &str, source: &str) -> Option<Vec<TestCase>> {
    let folder = report_folder(variable)?;
    let server = ReportServer::start(Some(folder)).await;
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(read.source, source);
    assert!(!read.over_cap);
    assert_eq!(read.in_report, read.cases.len() as u64);
    check_against_the_suite(&read.cases);
    Some(read.cases)
}

fn check_against_the_suite(cases: &[TestCase]) {
    let expected: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
    let expected = expected["cases"].as_array().unwrap();
    let mut got: Vec<_> = cases
        .iter()
        .map(|c| (c.name.as_str(), c.status.as_str()))
        .collect();
    let mut want: Vec<_> = expected
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "names and statuses");
    for e in expected {
        let case = cases.iter().find(|c| c.name == e["name"]).unwrap();
        if case.status.is_failure() {
            let function = e["function"].as_str().unwrap();
            let full_name = case.full_name.as_deref().unwrap_or_default();
            assert!(
                full_name.ends_with(&format!("#{function}")),
                "{full_name} for {function}"
            );
            assert_eq!(
                case.message.as_deref(),
                e["message"].as_str(),
                "{}",
                case.name
            );
        } else {
            assert_eq!(case.message, None, "{}", case.name);
        }
        if let Some(group) = e["suite_ends_with"].as_str() {
            assert_eq!(
                case.suite.last().map(String::as_str),
                Some(group),
                "{:?}",
                case.suite
            );
        }
        assert!(!case.suite.is_empty(), "{} has a suite path", case.name);
        assert!(TestId::parse("id", case.id.as_str()).is_ok());
    }
    let mut ids: Vec<_> = cases.iter().map(|c| &c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        cases.len(),
        "the two parametrized cases have their own ids"
    );
}

#[tokio::test]
async fn allure2_report_of_the_suite() {
    read_real("CRAT_TEST_ALLURE2_REPORT", "Allure 2 data/suites.json").await;
}

#[tokio::test]
async fn allure3_report_of_the_suite() {
    let Some(cases) = read_real("CRAT_TEST_ALLURE3_REPORT", "Allure 3 widgets/tree.json").await
    else {
        return;
    };
    // Allure 3's leaf id is the history id, kept as it is (hex, a dot, hex).
    for case in &cases {
        assert!(!case.id.as_str().starts_with("h-"), "{}", case.id);
    }
}

#[tokio::test]
async fn allure3_with_its_allure2_plugin_is_read_from_the_allure2_files() {
    let (Some(compat), Some(allure2)) = (
        read_real(
            "CRAT_TEST_ALLURE3_COMPAT_REPORT",
            "Allure 2 data/suites.json",
        )
        .await,
        read_real("CRAT_TEST_ALLURE2_REPORT", "Allure 2 data/suites.json").await,
    ) else {
        return;
    };
    // One rule for the Allure 2 files, whoever wrote them: the same ids.
    let ids = |cases: &[TestCase]| {
        let mut ids: Vec<_> = cases
            .iter()
            .map(|c| (c.name.clone(), c.id.clone()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&compat), ids(&allure2));
}
