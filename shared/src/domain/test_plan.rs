//! The test plan of a re-run of only the failures: the failed and broken cases of an
//! earlier run, named the way Allure's test plan names tests, so the test server can run
//! only those (allure-pytest reads the file `ALLURE_TESTPLAN_PATH` points at).
//!
//! How a case is named: allure-pytest selects a test when an entry's `selector` equals the
//! test's full name, or its `id` equals the test's `@allure.id` label. CRAT's test id is the
//! report's history id (or a hash CRAT made), never an `@allure.id`, so an entry carries
//! `selector` = the report's full name whenever the case has one, and no `id`. Only a case
//! without a full name carries `id`: its history id as the report gave it (for a test
//! server with its own matcher; allure-pytest matches nothing by it). A case with neither
//! (no full name, an id CRAT hashed) cannot be named and is left out, counted in
//! `left_out`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::test_case::{MAX_CASES_PER_RUN, TestCase};

/// One test to run: by full name (`selector`), else by the report's history id (`id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct PlannedTest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// The failed and broken cases of run `of_run`, to run again (a new run field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestPlan {
    /// The run whose failures these are.
    pub of_run: i64,
    /// By full name first (in order), then by id, each named once (a parametrized test's variants share a full
    /// name, so they are one entry and all of them run again).
    pub tests: Vec<PlannedTest>,
    /// Failed or broken cases that could not be named (no full name, no report id).
    #[serde(default)]
    pub left_out: u64,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRefusal {
    /// The run has no failed or broken case stored.
    NoFailures,
    /// It has some, but none has a name a test plan can use.
    NoneNamed { failures: u64 },
    /// The plan would not fit on the run record.
    TooLarge { entries: usize, bytes: usize },
}

impl TestPlan {
    /// The version of Allure's test plan format the trigger body carries.
    pub const VERSION: &'static str = "1.0";
    /// The most bytes of `tests` as JSON: the plan is kept on the run record, and a
    /// DynamoDB item holds at most 400 KB.
    pub const MAX_JSON_BYTES: usize = 200 * 1024;

    /// The plan re-running the failed and broken ones of `cases` (run `of_run`'s).
    pub fn of_failures(of_run: i64, cases: &[TestCase]) -> Result<Self, PlanRefusal> {
        let mut named = BTreeSet::new();
        let mut failures = 0u64;
        let mut left_out = 0u64;
        for case in cases.iter().filter(|c| c.status.is_failure()) {
            failures += 1;
            match name_of(case) {
                Some(entry) => {
                    named.insert(entry);
                }
                None => left_out += 1,
            }
        }
        if failures == 0 {
            return Err(PlanRefusal::NoFailures);
        }
        if named.is_empty() {
            return Err(PlanRefusal::NoneNamed { failures });
        }
        let tests: Vec<PlannedTest> = named.into_iter().collect();
        let bytes = serde_json::to_vec(&tests).map_or(usize::MAX, |v| v.len());
        if tests.len() > MAX_CASES_PER_RUN || bytes > Self::MAX_JSON_BYTES {
            return Err(PlanRefusal::TooLarge {
                entries: tests.len(),
                bytes,
            });
        }
        Ok(Self {
            of_run,
            tests,
            left_out,
        })
    }

    /// The plan as Allure's test plan file: `{"version": "1.0", "tests": [...]}`.
    pub fn allure_json(&self) -> Value {
        json!({"version": Self::VERSION, "tests": self.tests})
    }
}

/// CRAT's hashed ids are `h-` and 32 hex digits; no report gave them, so no tool knows them.
fn is_crat_hash(id: &str) -> bool {
    id.len() == 34
        && id.starts_with("h-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn name_of(case: &TestCase) -> Option<PlannedTest> {
    match case.full_name.as_deref().map(str::trim) {
        Some(full) if !full.is_empty() => Some(PlannedTest {
            id: None,
            selector: Some(full.to_owned()),
        }),
        _ if !is_crat_hash(case.id.as_str()) => Some(PlannedTest {
            id: Some(case.id.as_str().to_owned()),
            selector: None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TestId, TestStatus};

    fn case(id: TestId, status: TestStatus, full_name: Option<&str>) -> TestCase {
        TestCase {
            id,
            name: "t".into(),
            suite: vec![],
            status,
            duration_ms: None,
            message: None,
            full_name: full_name.map(str::to_owned),
            flaky: false,
            retries: 0,
        }
    }

    fn hist(id: &str) -> TestId {
        TestId::from_history_id(id)
    }

    #[test]
    fn names_exactly_the_failed_and_broken_cases_by_full_name() {
        use TestStatus::*;
        let cases = [
            case(hist("a1"), Passed, Some("tests.t#test_a")),
            case(hist("b2"), Failed, Some("tests.t#test_b")),
            case(hist("c3"), Broken, Some("tests.t#test_c")),
            case(hist("d4"), Skipped, Some("tests.t#test_d")),
            case(hist("e5"), Unknown, Some("tests.t#test_e")),
            // Two variants of one parametrized test: one entry.
            case(hist("f6"), Failed, Some("tests.t#test_f")),
            case(hist("f7"), Failed, Some("tests.t#test_f")),
        ];
        let plan = TestPlan::of_failures(7, &cases).unwrap();
        let selectors: Vec<_> = plan
            .tests
            .iter()
            .map(|t| t.selector.as_deref().unwrap())
            .collect();
        assert_eq!(
            selectors,
            ["tests.t#test_b", "tests.t#test_c", "tests.t#test_f"]
        );
        assert!(plan.tests.iter().all(|t| t.id.is_none()), "no history id");
        assert_eq!(plan.of_run, 7);
        assert_eq!(plan.left_out, 0);
        assert_eq!(
            plan.allure_json(),
            json!({"version": "1.0", "tests": [
                {"selector": "tests.t#test_b"}, {"selector": "tests.t#test_c"},
                {"selector": "tests.t#test_f"}]})
        );
    }

    #[test]
    fn a_case_without_full_name_goes_by_its_report_id_never_by_a_crat_hash() {
        use TestStatus::*;
        let hashed = TestId::from_parts(&["s".into()], "x", &[]);
        let cases = [
            case(hist("9f0c"), Failed, None),
            case(hist("aa"), Broken, Some("  ")),
            case(hashed.clone(), Failed, None),
        ];
        let plan = TestPlan::of_failures(1, &cases).unwrap();
        assert_eq!(
            plan.allure_json()["tests"],
            json!([{"id": "9f0c"}, {"id": "aa"}])
        );
        assert_eq!(plan.left_out, 1);
        assert_eq!(
            TestPlan::of_failures(1, &[case(hashed, Broken, None)]),
            Err(PlanRefusal::NoneNamed { failures: 1 })
        );
    }

    #[test]
    fn no_failures_or_a_plan_too_large_for_the_run_record_is_refused() {
        use TestStatus::*;
        assert_eq!(
            TestPlan::of_failures(1, &[case(hist("a"), Passed, Some("x#a"))]),
            Err(PlanRefusal::NoFailures)
        );
        assert_eq!(TestPlan::of_failures(1, &[]), Err(PlanRefusal::NoFailures));
        let long = "n".repeat(400);
        let many: Vec<_> = (0..600)
            .map(|i| case(hist(&format!("x{i}")), Failed, Some(&format!("{long}#{i}"))))
            .collect();
        assert!(matches!(
            TestPlan::of_failures(1, &many),
            Err(PlanRefusal::TooLarge { entries: 600, bytes }) if bytes > TestPlan::MAX_JSON_BYTES
        ));
    }
}
