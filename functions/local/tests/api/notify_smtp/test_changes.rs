//! Test cases end to end: two runs of one item whose reports (Allure 2 files on a static
//! host of their own) say that the second build broke `test_a`, fixed `test_b` and kept
//! `test_c` failing. The run records its cases, the compare route and the second mail say
//! exactly that, and the first run (nothing to compare with) mails no such section.

use super::*;
use axum::extract::Path as UrlPath;

/// One report's cases: (name, status, message).
type Cases = &'static [(&'static str, &'static str, Option<&'static str>)];

const FIRST: Cases = &[
    ("test_a", "passed", None),
    ("test_b", "failed", Some("AssertionError: b is wrong")),
    ("test_c", "failed", Some("AssertionError: c is wrong")),
    ("test_d", "passed", None),
];
const SECOND: Cases = &[
    (
        "test_a",
        "failed",
        Some("AssertionError: a broke\nat line 3"),
    ),
    ("test_b", "passed", None),
    ("test_c", "broken", Some("RuntimeError: c still broken")),
    ("test_d", "passed", None),
    ("test_e", "passed", None),
];

fn cases_of(set: &str) -> Cases {
    if set == "first" { FIRST } else { SECOND }
}

/// The files Allure 2 writes for `cases`: the tree (one suite, leaves with report-local
/// uids that differ between reports, as Allure's do), a detail file per case and the summary.
fn allure2_file(set: &str, file: &str) -> Option<String> {
    let cases = cases_of(set);
    let uid = |i: usize| format!("{set}-{i:04}");
    match file {
        "data/suites.json" => {
            let leaves: Vec<Value> = cases
                .iter()
                .enumerate()
                .map(|(i, (name, status, _))| {
                    json!({"name": name, "uid": uid(i), "parentUid": "suite-1", "status": status,
                        "time": {"start": 1_795_630_200_000_i64, "stop": 1_795_630_200_010_i64, "duration": 10},
                        "flaky": false, "newFailed": false, "newBroken": false, "newPassed": false,
                        "retriesCount": 0, "retriesStatusChange": false, "parameters": [], "tags": []})
                })
                .collect();
            Some(
                json!({"uid": "root", "name": "suites", "children": [
                    {"name": "tests.test_cds", "uid": "suite-1", "children": leaves}
                ]})
                .to_string(),
            )
        }
        "widgets/summary.json" => {
            let n = |s: &str| cases.iter().filter(|c| c.1 == s).count();
            Some(
                json!({"reportName": "Allure Report", "testRuns": [], "statistic": {
                "failed": n("failed"), "broken": n("broken"), "skipped": n("skipped"),
                "passed": n("passed"), "unknown": 0, "total": cases.len()}, "time": {}})
                .to_string(),
            )
        }
        _ => {
            let id = file
                .strip_prefix("data/test-cases/")?
                .strip_suffix(".json")?;
            let i = (0..cases.len()).find(|&i| uid(i) == id)?;
            let (name, status, message) = cases[i];
            Some(
                json!({"uid": id, "name": name, "fullName": format!("tests.test_cds#{name}"),
                "historyId": format!("hist-{name}"), "status": status, "statusMessage": message,
                "time": {"duration": 10}})
                .to_string(),
            )
        }
    }
}

async fn report_host() -> String {
    let app = axum::Router::new().route(
        "/r/{set}/{task}/{*file}",
        axum::routing::get(
            |UrlPath((set, _task, file)): UrlPath<(String, String, String)>| async move {
                match allure2_file(&set, &file) {
                    Some(body) => (StatusCode::OK, [("content-type", "application/json")], body),
                    None => (
                        StatusCode::NOT_FOUND,
                        [("content-type", "text/plain")],
                        "not found".to_owned(),
                    ),
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_second_run_says_what_broke_what_was_fixed_and_what_still_fails() {
    let sink = smtp_sink().await;
    let (app, peers, user, item, first_build) = setup(&sink).await;
    let reports = report_host().await;
    let admin = app.admin_token().await;
    let r = app
        .client
        .put(app.url("/api/v1/settings"))
        .bearer_auth(&admin)
        .json(&json!({"report_origins": [reports]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    peers
        .test_control(json!({"report_base_url": format!("{reports}/r/first/")}))
        .await;
    let first = run_to_end(&app, &user, item, first_build).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    assert_eq!(first["test_cases"]["stored"], 4, "{first}");
    assert_eq!(first["test_cases"]["reason"], Value::Null, "{first}");

    let second_build: Value = app
        .post_json(
            "/api/v1/builds",
            &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "102", "PACKAGE_PATH": PKG_DIR}),
        )
        .await
        .json()
        .await
        .unwrap();
    peers
        .test_control(json!({"report_base_url": format!("{reports}/r/second/")}))
        .await;
    let second = run_to_end(&app, &user, item, second_build["id"].as_i64().unwrap()).await;
    assert_eq!(second["status"], "COMPLETED", "{second}");
    assert_eq!(second["test_cases"]["stored"], 5, "{second}");

    // The compare route, against the previous run by default.
    let id = second["id"].as_i64().unwrap();
    let compare: Value = app
        .get(
            &format!("/api/v1/deploy-test-runs/{id}/compare"),
            Some(&user),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(compare["with_run_id"], first["id"], "{compare}");
    assert_eq!(
        names(&compare["diff"]["new_failures"]),
        ["test_a"],
        "{compare}"
    );
    assert_eq!(names(&compare["diff"]["fixed"]), ["test_b"], "{compare}");
    assert_eq!(
        names(&compare["diff"]["still_failing"]),
        ["test_c"],
        "{compare}"
    );
    assert_eq!(
        names(&compare["diff"]["new_tests"]),
        ["test_e"],
        "{compare}"
    );
    assert_eq!(
        compare["diff"]["new_failures"][0]["message"],
        "AssertionError: a broke"
    );
    assert_eq!(compare["counts"]["new_failures"], 1, "{compare}");

    // The run's failed and broken cases, by status.
    let failed: Value = app
        .get(
            &format!("/api/v1/deploy-test-runs/{id}/tests?status=failed"),
            Some(&user),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&failed["items"]), ["test_a"], "{failed}");

    // The mails: the first has nothing to compare with; the second says what changed.
    let mails = sink.wait_for(2).await;
    let first_mail = MessageParser::default().parse(&mails[0]).unwrap();
    assert!(!first_mail.body_text(0).unwrap().contains("since run #"));
    let mail = MessageParser::default().parse(&mails[1]).unwrap();
    // Mail lines end in CRLF on the wire.
    let text = mail.body_text(0).unwrap().replace("\r\n", "\n");
    let since = format!("New failures since run #{}", first["id"]);
    assert!(text.contains(&since), "{text}");
    assert!(
        text.contains("  - test_a\n      AssertionError: a broke\n"),
        "{text}"
    );
    assert!(
        !text.contains("- test_c"),
        "still failing is counted, not listed: {text}"
    );
    let line = |label: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{label}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label}: in {text}"))
            .to_owned()
    };
    assert_eq!(line("Fixed"), "1");
    assert_eq!(line("Still failing"), "1");
    let html = mail.body_html(0).unwrap();
    assert!(html.contains(&since), "{html}");
}
