//! Re-run only the failures: the test server gets an Allure test plan naming exactly the
//! failed and broken cases of the run (seeded through the store here; the notify step
//! stores them from the report in a real run).

use super::*;
use shared::domain::{TestCase, TestId, TestStatus};

fn case(id: &str, status: TestStatus, full_name: Option<&str>) -> TestCase {
    TestCase {
        id: TestId::from_history_id(id),
        name: format!("test_{id}"),
        suite: vec!["tests".into()],
        status,
        duration_ms: Some(12),
        message: status.is_failure().then(|| "AssertionError".to_owned()),
        full_name: full_name.map(str::to_owned),
        flaky: false,
        retries: 0,
    }
}

impl Env {
    async fn seed_cases(&self, run_id: i64, cases: &[TestCase]) {
        let run = self.app.state.store.get_run(run_id).await.unwrap().unwrap();
        self.app
            .state
            .store
            .put_test_cases(&run, cases)
            .await
            .unwrap();
    }

    async fn rerun_with(&self, run_id: i64, body: Option<&str>, kind: &str) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/deploy-test-runs/{run_id}/rerun")),
            )
            .bearer_auth(&self.user);
        if let Some(body) = body {
            req = req.header("content-type", kind).body(body.to_owned());
        }
        req.send().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_of_only_the_failures_sends_the_test_server_their_plan() {
    use TestStatus::*;
    let e = env().await;
    let first = e.trigger(&e.user).await["id"].as_i64().unwrap();
    assert_eq!(e.ended(first).await["status"], "COMPLETED");
    e.seed_cases(
        first,
        &[
            case("a1", Passed, Some("tests.test_api#test_login")),
            case("b2", Failed, Some("tests.test_api#test_logout")),
            case("c3", Broken, Some("tests.test_db.TestPool#test_reconnect")),
            case("d4", Skipped, Some("tests.test_api#test_slow")),
            case("e5", Failed, None),
        ],
    )
    .await;

    let resp = e
        .rerun_with(first, Some(r#"{"only_failed": true}"#), "application/json")
        .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let second: Value = resp.json().await.unwrap();
    let second_id = second["id"].as_i64().unwrap();
    assert_eq!(second["test_plan"]["of_run"], first, "{second}");
    assert_eq!(e.ended(second_id).await["status"], "COMPLETED");

    let tasks = e.peers.tasks().await;
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks[0]["body"].get("testplan").is_none(),
        "the first ran all"
    );
    let plan = &tasks[1]["body"]["testplan"];
    assert_eq!(plan["version"], "1.0", "{plan}");
    let selectors: Vec<&str> = plan["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["selector"].as_str())
        .collect();
    assert_eq!(
        selectors,
        [
            "tests.test_api#test_logout",
            "tests.test_db.TestPool#test_reconnect"
        ],
        "exactly the failed and broken cases: {plan}"
    );
    assert_eq!(
        plan["tests"][2],
        json!({"id": "e5"}),
        "a case without a full name goes by its report id: {plan}"
    );
    assert_eq!(plan["tests"].as_array().unwrap().len(), 3);

    // A plain re-run of the re-run runs the whole suite again.
    let third = e.rerun_with(second_id, None, "").await;
    assert_eq!(third.status(), StatusCode::ACCEPTED);
    let third: Value = third.json().await.unwrap();
    assert!(third.get("test_plan").is_none(), "{third}");
    e.ended(third["id"].as_i64().unwrap()).await;
    assert!(e.peers.tasks().await[2]["body"].get("testplan").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_body_is_checked_and_a_run_without_failures_is_422() {
    use TestStatus::*;
    let e = env().await;
    let first = e.trigger(&e.user).await["id"].as_i64().unwrap();
    assert_eq!(e.ended(first).await["status"], "COMPLETED");
    e.seed_cases(first, &[case("a1", Passed, Some("tests.t#test_a"))])
        .await;
    let json = "application/json";

    let body = assert_error(
        e.rerun_with(first, Some(r#"{"only_failed": true}"#), json)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_failed_tests",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("only_failed:"),
        "{body}"
    );
    let unknown = assert_error(
        e.rerun_with(first, Some(r#"{"only_faild": true}"#), json)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert!(
        unknown.to_string().contains("only_faild"),
        "the unknown key is named: {unknown}"
    );
    assert_error(
        e.rerun_with(first, Some(r#"{"only_failed": "yes"}"#), json)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_error(
        e.rerun_with(first, Some(r#"{"only_failed": true}"#), "text/plain")
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let big = format!(
        r#"{{"only_failed": false, "x": "{}"}}"#,
        "y".repeat(70 * 1024)
    );
    assert_error(
        e.rerun_with(first, Some(&big), json).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    )
    .await;
    assert_eq!(e.peers.tasks().await.len(), 1, "none of them deployed");

    // `{}` and `only_failed: false` re-run the whole suite.
    let all = e.rerun_with(first, Some("{}"), json).await;
    assert_eq!(all.status(), StatusCode::ACCEPTED);
    let all: Value = all.json().await.unwrap();
    assert!(all.get("test_plan").is_none(), "{all}");
    e.ended(all["id"].as_i64().unwrap()).await;
    assert!(e.peers.tasks().await[1]["body"].get("testplan").is_none());
}
