//! A run's test cases, its comparison with the previous run, an item's flaky tests and a
//! test's history over HTTP: cases are seeded through the store (as the notify step
//! records them) and read back through the routes, on both stores.

use crate::common;
use chrono::TimeDelta;
use common::{Backend, TestApp, assert_error, t0};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::{Email, Run, RunId, RunStatus, TestCase, TestCasesNote, TestId, TestStatus};
use shared::ports::Admission;
use shared::services::test_results;

on_both_stores!(
    a_runs_tests_page_by_status_and_cursor,
    compare_names_the_new_failures_since_the_previous_run,
    flaky_and_history_of_an_item,
    test_routes_refuse_bad_input_with_the_json_error_body,
);

use TestStatus::*;

fn case(id: &str, status: TestStatus) -> TestCase {
    TestCase {
        id: TestId::parse("id", id).unwrap(),
        name: format!("登录 {id}"),
        suite: vec!["api".into()],
        status,
        duration_ms: Some(40),
        message: status.is_failure().then(|| format!("{id}: assert False")),
        full_name: Some(format!("tests.test_api#{id}")),
        flaky: false,
        retries: 0,
    }
}

struct Seeded {
    app: TestApp,
    user: String,
    item_id: i64,
}

async fn seeded(backend: Backend) -> Option<Seeded> {
    let app = TestApp::start(backend, &[]).await?;
    let admin = app.admin_token().await;
    let created = |path: &'static str, body: Value| {
        let req = app
            .client
            .post(app.url(path))
            .bearer_auth(&admin)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    created(
        "/api/v1/parameter-sets",
        json!({"name": "base", "params": {}}),
    )
    .await;
    let item = created(
        "/api/v1/test-items",
        json!({"name": "cds", "job_name": "CDN_CORE"}),
    )
    .await;
    assert!(app.post_build("CDN_CORE", 5).await.status().is_success());
    let user = app.user_token("dev@example.com").await;
    Some(Seeded {
        item_id: item["id"].as_i64().unwrap(),
        app,
        user,
    })
}

impl Seeded {
    /// Stores completed run `id` of the item (holding no lane) and records `cases` for it.
    async fn completed_run(&self, id: i64, cases: &[TestCase]) -> Run {
        let store = &self.app.state.store;
        let item = store.get_test_item(self.item_id).await.unwrap().unwrap();
        let build = store.list_builds(None, None, 1).await.unwrap().items[0].clone();
        let set = store.default_parameter_set().await.unwrap().unwrap();
        let by = Email::parse("by", &format!("dev{id}@example.com")).unwrap();
        let mut run = Run::new(RunId::from_stored(id), &item, &build, &set, &by, t0());
        run.status = RunStatus::Completed;
        run.finished_at = Some(t0() + TimeDelta::minutes(id));
        run.test_cases = Some(TestCasesNote {
            stored: cases.len() as u64,
            in_report: cases.len() as u64,
            source: Some("Allure 2 data/suites.json".into()),
            reason: None,
        });
        let admitted = store.admit_run(&run, false, t0()).await.unwrap();
        assert!(matches!(admitted, Admission::Started), "{admitted:?}");
        store.release_lock_of_run(id).await.unwrap();
        test_results::record(&self.app.state, &run, cases)
            .await
            .unwrap();
        run
    }

    async fn get(&self, path: &str) -> Value {
        let r = self.app.get(path, Some(&self.user)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

async fn a_runs_tests_page_by_status_and_cursor(backend: Backend) {
    let Some(s) = seeded(backend).await else {
        return;
    };
    let cases: Vec<_> = (0..5)
        .map(|i| case(&format!("t{i}"), if i % 2 == 0 { Passed } else { Failed }))
        .collect();
    s.completed_run(101, &cases).await;

    let first = s.get("/api/v1/deploy-test-runs/101/tests?limit=2").await;
    assert_eq!(ids(&first["items"]), ["t0", "t1"]);
    assert_eq!(first["items"][1]["name"], "登录 t1");
    assert_eq!(first["items"][1]["message"], "t1: assert False");
    assert_eq!(first["test_cases"]["stored"], 5);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = s
        .get(&format!(
            "/api/v1/deploy-test-runs/101/tests?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids(&second["items"]), ["t2", "t3"]);
    let failed = s
        .get("/api/v1/deploy-test-runs/101/tests?status=failed")
        .await;
    assert_eq!(ids(&failed["items"]), ["t1", "t3"]);
    assert_eq!(failed["next_cursor"], Value::Null);
}

async fn compare_names_the_new_failures_since_the_previous_run(backend: Backend) {
    let Some(s) = seeded(backend).await else {
        return;
    };
    s.completed_run(
        101,
        &[case("a", Passed), case("b", Failed), case("c", Failed)],
    )
    .await;
    s.completed_run(
        102,
        &[case("a", Failed), case("b", Passed), case("c", Broken)],
    )
    .await;

    let got = s.get("/api/v1/deploy-test-runs/102/compare").await;
    assert_eq!(
        (got["run_id"].as_i64(), got["with_run_id"].as_i64()),
        (Some(102), Some(101))
    );
    assert_eq!(
        got["counts"],
        json!({"new_failures": 1, "fixed": 1, "still_failing": 1, "new_tests": 0, "removed_tests": 0})
    );
    assert_eq!(ids(&got["diff"]["new_failures"]), ["a"]);
    assert_eq!(got["diff"]["new_failures"][0]["before"], "passed");
    assert_eq!(got["diff"]["new_failures"][0]["now"], "failed");
    assert_eq!(ids(&got["diff"]["fixed"]), ["b"]);
    assert_eq!(ids(&got["diff"]["still_failing"]), ["c"]);
    // Backwards, by choice: what 101 changed against 102.
    let back = s.get("/api/v1/deploy-test-runs/101/compare?with=102").await;
    assert_eq!(ids(&back["diff"]["fixed"]), ["a"]);
    let first = s.get("/api/v1/deploy-test-runs/101/compare").await;
    assert_eq!(first["with_run_id"], Value::Null);
    assert_eq!(first["diff"]["new_failures"], json!([]));
}

async fn flaky_and_history_of_an_item(backend: Backend) {
    let Some(s) = seeded(backend).await else {
        return;
    };
    s.completed_run(101, &[case("x", Passed), case("y", Passed)])
        .await;
    s.completed_run(102, &[case("x", Broken), case("y", Passed)])
        .await;
    let item = s.item_id;

    let flaky = s.get(&format!("/api/v1/test-items/{item}/flaky")).await;
    assert_eq!(ids(&flaky["items"]), ["x"]);
    let x = &flaky["items"][0];
    assert_eq!(
        (&x["reason"], &x["passed"], &x["failed"], &x["last_run_id"]),
        (&json!("mixed"), &json!(1), &json!(1), &json!(102))
    );
    assert_eq!(x["name"], "登录 x");

    let page = s
        .get(&format!(
            "/api/v1/test-items/{item}/tests/x/history?limit=1"
        ))
        .await;
    assert_eq!(page["items"][0]["run_id"], 102);
    assert_eq!(page["items"][0]["status"], "broken");
    assert_eq!(page["items"][0]["build_number"], 5);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = s
        .get(&format!(
            "/api/v1/test-items/{item}/tests/x/history?cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"][0]["run_id"], 101);
    assert_eq!(rest["items"][0]["status"], "passed");
    assert_eq!(rest["next_cursor"], Value::Null);
}

async fn test_routes_refuse_bad_input_with_the_json_error_body(backend: Backend) {
    let Some(s) = seeded(backend).await else {
        return;
    };
    s.completed_run(101, &[case("a", Passed)]).await;
    let item = s.item_id;
    let app = &s.app;
    let user = Some(s.user.as_str());
    for path in [
        "/api/v1/deploy-test-runs/101/tests".to_owned(),
        "/api/v1/deploy-test-runs/101/compare".to_owned(),
        format!("/api/v1/test-items/{item}/flaky"),
        format!("/api/v1/test-items/{item}/tests/a/history"),
    ] {
        assert_error(
            app.get(&path, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    for path in [
        "/api/v1/deploy-test-runs/999/tests".to_owned(),
        "/api/v1/deploy-test-runs/999/compare".to_owned(),
        "/api/v1/deploy-test-runs/101/compare?with=999".to_owned(),
        "/api/v1/test-items/999/flaky".to_owned(),
        "/api/v1/test-items/999/tests/a/history".to_owned(),
    ] {
        assert_error(
            app.get(&path, user).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for (path, field) in [
        (
            "/api/v1/deploy-test-runs/101/tests?status=green".to_owned(),
            "status",
        ),
        (
            "/api/v1/deploy-test-runs/101/tests?limit=201".to_owned(),
            "limit",
        ),
        (
            "/api/v1/deploy-test-runs/101/tests?limit=0".to_owned(),
            "limit",
        ),
        (
            "/api/v1/deploy-test-runs/101/tests?cursor=%2F%2F".to_owned(),
            "cursor",
        ),
        // Base64 of "a/b": text, but no test id.
        (
            "/api/v1/deploy-test-runs/101/tests?cursor=YS9i".to_owned(),
            "cursor",
        ),
        (
            "/api/v1/deploy-test-runs/101/compare?with=0".to_owned(),
            "with",
        ),
        (
            "/api/v1/deploy-test-runs/101/compare?with=x".to_owned(),
            "with",
        ),
        ("/api/v1/deploy-test-runs/0/tests".to_owned(), "run_id"),
        (
            format!("/api/v1/test-items/{item}/tests/a%20b/history"),
            "test_id",
        ),
        (
            format!("/api/v1/test-items/{item}/tests/a/history?cursor=YQ"),
            "cursor",
        ),
        ("/api/v1/test-items/x/tests/a/history".to_owned(), "id"),
    ] {
        let body = assert_error(
            app.get(&path, user).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
}
