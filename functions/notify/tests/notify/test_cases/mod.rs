//! `shared::mail::test_cases::read_test_cases` against a loopback HTTP server: real Allure 2
//! and 3 reports made in the test run (`real_reports`), synthesized reports of 20,000 and
//! 50,000 cases (`bounded`), and here the faults: which file answers, what a broken one
//! gives, detail files that fail or must not be asked for, the fetch limits, the budget.

mod bounded;
mod real_reports;
pub mod synth;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::domain::Origin;
use shared::domain::test_case::TestStatus;
use shared::mail::test_cases::{
    DETAIL_CONCURRENCY, MAX_DETAIL_FETCHES, TestCasesError, read_test_cases, read_test_cases_until,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
enum Fault {
    Status(u16),
    Html,
}

#[derive(Default)]
struct Served {
    /// Files by path inside the report folder (`/r/...` on the server).
    files: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Else files from this folder.
    root: Option<PathBuf>,
    faults: Mutex<HashMap<String, Fault>>,
    hits: Mutex<Vec<String>>,
    /// A pause before each detail file is answered (to see how many are asked at once).
    detail_delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// axum on 127.0.0.1:0 serving one report folder under `/r/`, logging the paths asked for.
struct ReportServer {
    addr: SocketAddr,
    served: Arc<Served>,
}

impl ReportServer {
    async fn start(root: Option<PathBuf>) -> Self {
        let served = Arc::new(Served {
            root,
            ..Served::default()
        });
        let app = Router::new().fallback(serve).with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, served }
    }

    async fn with_files(files: Vec<(String, Vec<u8>)>) -> Self {
        let server = Self::start(None).await;
        for (path, body) in files {
            server.put(&path, body);
        }
        server
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn report_url(&self) -> String {
        format!("{}/r/index.html", self.origin())
    }

    fn allowed(&self) -> Vec<Origin> {
        vec![Origin::parse("report_origins[0]", &self.origin()).unwrap()]
    }

    fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        let mut files = self.served.files.lock().unwrap();
        files.insert(path.to_owned(), Arc::new(body.into()));
    }

    fn fault(&self, path: &str, fault: Fault) {
        let mut faults = self.served.faults.lock().unwrap();
        faults.insert(path.to_owned(), fault);
    }

    fn hits(&self) -> Vec<String> {
        self.served.hits.lock().unwrap().clone()
    }

    fn detail_hits(&self) -> usize {
        let hits = self.served.hits.lock().unwrap();
        hits.iter()
            .filter(|p| p.contains("/data/test-cases/") || p.contains("/data/test-results/"))
            .count()
    }
}

async fn serve(State(served): State<Arc<Served>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    served.hits.lock().unwrap().push(path.clone());
    let Some(inside) = path.strip_prefix("/r/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fault = served.faults.lock().unwrap().get(inside).cloned();
    match fault {
        Some(Fault::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap(), "fault").into_response();
        }
        Some(Fault::Html) => {
            return (
                [(header::CONTENT_TYPE, "text/html")],
                "<html>Sign in</html>",
            )
                .into_response();
        }
        None => {}
    }
    let is_detail =
        inside.starts_with("data/test-cases/") || inside.starts_with("data/test-results/");
    let now = served.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    served.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = *served.detail_delay.lock().unwrap();
    if is_detail && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    served.in_flight.fetch_sub(1, Ordering::SeqCst);
    let body = served.files.lock().unwrap().get(inside).cloned();
    let body = match body {
        Some(body) => Some(body.to_vec()),
        None if !inside.contains("..") => served
            .root
            .as_ref()
            .and_then(|root| std::fs::read(root.join(inside)).ok()),
        None => None,
    };
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => (StatusCode::NOT_FOUND, "<html>404 Not Found</html>").into_response(),
    }
}

fn client() -> reqwest::Client {
    shared::tasks::http::http_client(Duration::from_secs(5)).unwrap()
}

const T: Duration = Duration::from_secs(5);

fn leaf(name: &str, uid: &str, status: &str) -> serde_json::Value {
    json!({"name": name, "uid": uid, "status": status, "time": {"duration": 3}, "parameters": []})
}

fn suites(children: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"uid": "r", "name": "suites", "children": children})).unwrap()
}

#[tokio::test]
async fn nothing_there_lists_both_urls_and_why_without_the_password() {
    let server = ReportServer::start(None).await;
    let url = format!("http://ci:s3cret@{}/r/", server.addr);
    let e = read_test_cases(&client(), &url, &server.allowed(), T)
        .await
        .unwrap_err();
    let text = e.to_string();
    let o = server.origin().replace("http://", "http://ci@");
    assert!(
        text.starts_with(&format!(
            "no test cases could be read from the report at {o}/r/: "
        )),
        "{text}"
    );
    // Each file once, relative to the folder (an excerpt of the message keeps both reasons).
    assert!(
        text.ends_with(
            ": widgets/tree.json: HTTP 404 Not Found; data/suites.json: HTTP 404 Not Found"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(
        server.hits(),
        ["/r/widgets/tree.json", "/r/data/suites.json"]
    );
}

#[tokio::test]
async fn off_origin_fetches_nothing() {
    let server = ReportServer::start(None).await;
    let other = vec![Origin::parse("report_origins[0]", "http://127.0.0.1:9").unwrap()];
    let e = read_test_cases(&client(), &server.report_url(), &other, T)
        .await
        .unwrap_err();
    assert!(matches!(e, TestCasesError::NotFetched(_)), "{e:?}");
    assert!(e.to_string().contains("not on an allowed origin"), "{e}");
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn an_html_tree_falls_back_to_allure2_and_a_failing_detail_only_loses_its_message() {
    let server = ReportServer::start(None).await;
    server.put("widgets/tree.json", "placeholder");
    server.fault("widgets/tree.json", Fault::Html);
    server.put(
        "data/suites.json",
        suites(json!([
            leaf("ok", "a1", "passed"),
            leaf("missing detail", "a2", "failed"),
            leaf("escaping uid", "../../secret", "broken"),
            leaf("html detail", "a4", "broken"),
            leaf("good detail", "a5", "failed"),
            leaf("erring detail", "a6", "failed"),
        ])),
    );
    server.fault("data/test-cases/a4.json", Fault::Html);
    server.fault("data/test-cases/a6.json", Fault::Status(503));
    server.put(
        "data/test-cases/a5.json",
        r#"{"fullName": "tests.m#good", "statusMessage": "AssertionError: no\nmore"}"#,
    );
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(read.source, "Allure 2 data/suites.json");
    assert_eq!((read.in_report, read.over_cap), (6, false));
    let got: Vec<_> = read
        .cases
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.status,
                c.message.as_deref(),
                c.full_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ok", TestStatus::Passed, None, None),
            ("missing detail", TestStatus::Failed, None, None),
            ("escaping uid", TestStatus::Broken, None, None),
            ("html detail", TestStatus::Broken, None, None),
            (
                "good detail",
                TestStatus::Failed,
                Some("AssertionError: no"),
                Some("tests.m#good")
            ),
            ("erring detail", TestStatus::Failed, None, None),
        ]
    );
    let hits = server.hits();
    assert!(
        hits.iter()
            .all(|h| !h.contains("..") && !h.contains("secret")),
        "{hits:?}"
    );
    assert_eq!(
        server.detail_hits(),
        4,
        "passed cases and unsafe uids are not asked for: {hits:?}"
    );
}

#[tokio::test]
async fn allure3_is_tried_first_and_its_details_are_the_result_files() {
    let files = synth::allure3_report(30, 3);
    let server = ReportServer::with_files(files).await;
    server.put(
        "data/suites.json",
        suites(json!([leaf("never read", "x", "passed")])),
    );
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(read.source, "Allure 3 widgets/tree.json");
    assert_eq!(read.cases.len(), 30);
    let failed: Vec<_> = read
        .cases
        .iter()
        .filter(|c| c.status.is_failure())
        .collect();
    assert_eq!(failed.len(), 3);
    for case in failed {
        assert!(
            case.full_name
                .as_deref()
                .unwrap()
                .starts_with("tests.test_module#")
        );
        assert!(
            case.message
                .as_deref()
                .unwrap()
                .starts_with("AssertionError: case")
        );
    }
    assert!(!server.hits().iter().any(|h| h.ends_with("suites.json")));
}

#[tokio::test]
async fn details_are_fetched_at_most_500_and_8_at_a_time() {
    let server = ReportServer::with_files(synth::allure2_report(1_000, 600)).await;
    *server.served.detail_delay.lock().unwrap() = Duration::from_millis(5);
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(server.detail_hits(), MAX_DETAIL_FETCHES);
    let max = server.served.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=DETAIL_CONCURRENCY).contains(&max), "{max} at once");
    let with_message = read.cases.iter().filter(|c| c.message.is_some()).count();
    assert_eq!(with_message, MAX_DETAIL_FETCHES);
    let failed = read.cases.iter().filter(|c| c.status.is_failure()).count();
    assert_eq!(failed, 600, "a case without its detail is still there");
}

#[tokio::test]
async fn details_stop_at_the_end_of_the_budget_and_the_cases_stay() {
    let server = ReportServer::with_files(synth::allure2_report(200, 200)).await;
    *server.served.detail_delay.lock().unwrap() = Duration::from_millis(100);
    let started = tokio::time::Instant::now();
    let budget_ends = started + Duration::from_millis(350);
    let read = read_test_cases_until(
        &client(),
        &server.report_url(),
        &server.allowed(),
        T,
        budget_ends,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(read.cases.len(), 200);
    let with_message = read.cases.iter().filter(|c| c.message.is_some()).count();
    assert!(
        with_message < 200,
        "{with_message} details in a 350 ms budget"
    );
}

#[tokio::test]
async fn bodies_over_their_caps_are_refused_and_said() {
    use shared::mail::test_cases::{MAX_DETAIL_BYTES, MAX_LISTING_BYTES};
    let server = ReportServer::start(None).await;
    server.put("widgets/tree.json", vec![b' '; MAX_LISTING_BYTES + 1]);
    server.put(
        "data/suites.json",
        suites(json!([leaf("big detail", "b1", "failed")])),
    );
    let mut detail = br#"{"fullName": "m#big", "statusMessage": "boom", "statusTrace": ""#.to_vec();
    detail.resize(MAX_DETAIL_BYTES, b'x');
    detail.extend_from_slice(br#""}"#);
    server.put("data/test-cases/b1.json", detail);
    let read = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(read.source, "Allure 2 data/suites.json");
    assert_eq!(read.cases[0].message, None, "the detail is over 4 MiB");
    assert_eq!(server.detail_hits(), 1);

    server.put("data/suites.json", vec![b' '; MAX_LISTING_BYTES + 1]);
    let e = read_test_cases(&client(), &server.report_url(), &server.allowed(), T)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("widgets/tree.json: too large: more than 64 MiB"),
        "{text}"
    );
    assert!(
        text.contains("data/suites.json: too large: more than 64 MiB"),
        "{text}"
    );
}
