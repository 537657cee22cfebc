//! The Allure summary: the three formats parsed from real-shaped samples (see
//! `tests/samples/`), the strict rules for odd counts, and `read_summary` against a real
//! HTTP server on 127.0.0.1 serving a report folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use shared::domain::Origin;
use shared::mail::summary::{
    MAX_BODY_BYTES, Summary, SummaryError, SummarySource, parse_allure2, parse_allure3,
    parse_statistic, read_summary,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALLURE2: &str = include_str!("../samples/allure2-summary.json");
const ALLURE2_NO_TESTS: &str = include_str!("../samples/allure2-summary-no-tests.json");
const ALLURE3: &str = include_str!("../samples/allure3-summary.json");
const STATISTIC: &str = include_str!("../samples/statistic.json");

type Parser = fn(&[u8]) -> Result<Summary, SummaryError>;

/// Each format with a way to wrap a counts object in it, and the field prefix in messages.
const FORMATS: [(&str, Parser, &str); 3] = [
    ("allure2", parse_allure2, "statistic."),
    ("allure3", parse_allure3, "stats."),
    ("statistic", parse_statistic, ""),
];

fn wrap(format: &str, counts: &str) -> String {
    match format {
        "allure2" => {
            format!(r#"{{"reportName":"Allure Report","statistic":{counts},"time":{{}}}}"#)
        }
        "allure3" => format!(r#"{{"name":"Allure Report","stats":{counts},"status":"passed"}}"#),
        _ => counts.to_owned(),
    }
}

fn one_of_each(duration_ms: Option<u64>) -> Summary {
    Summary {
        passed: 1,
        failed: 1,
        broken: 1,
        skipped: 1,
        unknown: 0,
        total: 4,
        duration_ms,
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn allure2_real_sample() {
    assert_eq!(
        parse_allure2(ALLURE2.as_bytes()).unwrap(),
        one_of_each(Some(75))
    );
}

#[test]
fn allure2_with_empty_time() {
    let s = parse_allure2(ALLURE2_NO_TESTS.as_bytes()).unwrap();
    assert_eq!(
        s,
        Summary {
            passed: 0,
            failed: 0,
            broken: 0,
            skipped: 0,
            unknown: 0,
            total: 0,
            duration_ms: None
        }
    );
    let s = parse_allure2(
        br#"{"statistic":{"failed":1,"broken":1,"skipped":1,"passed":1,"unknown":0,"total":4},"time":{}}"#,
    )
    .unwrap();
    assert_eq!(s, one_of_each(None));
}

#[test]
fn allure2_duration_falls_back_to_stop_minus_start() {
    let s =
        parse_allure2(br#"{"statistic":{"passed":2},"time":{"start":1000,"stop":4500}}"#).unwrap();
    assert_eq!(s.duration_ms, Some(3500));
    assert_eq!(s.total, 2);
    // No time at all, a stop before the start, odd values: no duration, still a summary.
    for time in [
        "",
        r#","time":null"#,
        r#","time":{"start":5000,"stop":4000}"#,
        r#","time":{"duration":"75"}"#,
        r#","time":{"duration":-5}"#,
        r#","time":"soon""#,
    ] {
        let body = format!(r#"{{"statistic":{{"passed":2}}{time}}}"#);
        let s = parse_allure2(body.as_bytes()).unwrap();
        assert_eq!(s.duration_ms, None, "{body}");
        assert_eq!(s.passed, 2);
    }
}

#[test]
fn allure3_real_sample_with_omitted_zeros() {
    assert_eq!(
        parse_allure3(ALLURE3.as_bytes()).unwrap(),
        one_of_each(Some(75))
    );
    let s =
        parse_allure3(br#"{"name":"r","stats":{"total":3,"passed":3},"status":"passed"}"#).unwrap();
    assert_eq!(
        s,
        Summary {
            passed: 3,
            failed: 0,
            broken: 0,
            skipped: 0,
            unknown: 0,
            total: 3,
            duration_ms: None
        }
    );
}

#[test]
fn byte_order_mark_is_skipped() {
    let body = format!("\u{feff}{STATISTIC}");
    assert_eq!(parse_statistic(body.as_bytes()).unwrap(), one_of_each(None));
    assert!(matches!(
        parse_statistic("\u{feff}".as_bytes()),
        Err(SummaryError::Empty)
    ));
}

#[test]
fn statistic_sample() {
    assert_eq!(
        parse_statistic(STATISTIC.as_bytes()).unwrap(),
        one_of_each(None)
    );
    let s = parse_statistic(br#"{"total":0}"#).unwrap();
    assert_eq!(s.total, 0);
}

#[test]
fn missing_counts_are_zero_and_total_defaults_to_their_sum() {
    for (format, parse, _) in FORMATS {
        let s = parse(wrap(format, r#"{"failed":2,"skipped":5}"#).as_bytes()).unwrap();
        assert_eq!(
            (s.passed, s.failed, s.broken, s.skipped, s.unknown, s.total),
            (0, 2, 0, 5, 0, 7),
            "{format}"
        );
        // null is the same as absent.
        let s =
            parse(wrap(format, r#"{"failed":2,"passed":null,"total":null}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.failed, s.total), (0, 2, 2), "{format}");
        // Whole floats are whole numbers.
        let s = parse(wrap(format, r#"{"passed":2.0,"total":3.0}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.total), (2, 3), "{format}");
    }
    // An empty main object is a report with no tests.
    assert_eq!(parse_allure2(br#"{"statistic":{}}"#).unwrap().total, 0);
    assert_eq!(parse_allure3(br#"{"stats":{}}"#).unwrap().total, 0);
}

#[test]
fn total_larger_than_the_sum_is_kept() {
    for (format, parse, _) in FORMATS {
        let s = parse(wrap(format, r#"{"passed":1,"total":9}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.total), (1, 9), "{format}");
    }
}

#[test]
fn total_smaller_than_the_sum_is_an_error() {
    for (format, parse, _) in FORMATS {
        let e = parse(wrap(format, r#"{"passed":3,"failed":2,"total":4}"#).as_bytes()).unwrap_err();
        assert!(
            matches!(e, SummaryError::TotalTooSmall { total: 4, sum: 5 }),
            "{format}: {e:?}"
        );
        assert!(e.to_string().contains("smaller than the sum"), "{e}");
    }
}

#[test]
fn empty_body() {
    for (format, parse, _) in FORMATS {
        for body in ["", "  \n\t"] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(matches!(e, SummaryError::Empty), "{format}: {e:?}");
            assert_eq!(e.to_string(), "the summary is empty");
        }
    }
}

#[test]
fn empty_object() {
    let e = parse_allure2(b"{}").unwrap_err();
    assert!(
        matches!(e, SummaryError::MissingObject("statistic")),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "the summary has no `statistic` object");
    let e = parse_allure3(b"{}").unwrap_err();
    assert!(matches!(e, SummaryError::MissingObject("stats")), "{e:?}");
    let e = parse_statistic(b"{}").unwrap_err();
    assert!(matches!(e, SummaryError::NoCounts), "{e:?}");
    // An Allure 3 summary is not an Allure 2 one and the other way round.
    assert!(matches!(
        parse_allure2(ALLURE3.as_bytes()),
        Err(SummaryError::MissingObject("statistic"))
    ));
    assert!(matches!(
        parse_allure3(ALLURE2.as_bytes()),
        Err(SummaryError::MissingObject("stats"))
    ));
    assert!(matches!(
        parse_statistic(br#"{"reportName":"x"}"#),
        Err(SummaryError::NoCounts)
    ));
}

#[test]
fn main_object_of_the_wrong_type() {
    for body in [
        r#"{"statistic":null}"#,
        r#"{"statistic":[]}"#,
        r#"{"statistic":4}"#,
        r#"{"statistic":"4"}"#,
    ] {
        assert!(
            matches!(
                parse_allure2(body.as_bytes()),
                Err(SummaryError::MissingObject(_))
            ),
            "{body}"
        );
        let body = body.replace("statistic", "stats");
        assert!(
            matches!(
                parse_allure3(body.as_bytes()),
                Err(SummaryError::MissingObject(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn not_an_object() {
    for (format, parse, _) in FORMATS {
        for body in ["[]", "[1,2]", "4", "\"summary\"", "null", "true"] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotObject),
                "{format} {body}: {e:?}"
            );
        }
        for body in [
            "<html>Not Found</html>",
            "nope",
            "{'passed': 1}",
            "{\"a\":1}}",
        ] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotJson(_)),
                "{format} {body}: {e:?}"
            );
            assert!(
                e.to_string().starts_with("the summary is not valid JSON"),
                "{e}"
            );
        }
        let e = parse(&[0xff, 0xfe, 0x00]).unwrap_err();
        assert!(matches!(e, SummaryError::NotJson(_)), "{format}: {e:?}");
    }
}

#[test]
fn wrong_types_for_each_field() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for value in [r#""1""#, "true", "[]", "{}", r#""""#] {
                let body = wrap(format, &format!(r#"{{"passed":1,"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                match &e {
                    SummaryError::InvalidField { field: f, .. } => {
                        assert_eq!(f, &format!("{prefix}{field}"), "{body}")
                    }
                    other => panic!("{body}: {other:?}"),
                }
                let text = e.to_string();
                assert!(text.contains(&format!("`{prefix}{field}`")), "{text}");
                assert!(text.contains("must be a whole number"), "{text}");
            }
        }
    }
}

#[test]
fn negative_and_fractional_counts() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for (value, word) in [
                ("-1", "negative"),
                ("-0.5", "negative"),
                ("-9223372036854775809", "negative"),
                ("1.5", "whole number"),
                ("0.001", "whole number"),
            ] {
                let body = wrap(format, &format!(r#"{{"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                let text = e.to_string();
                assert!(
                    matches!(&e, SummaryError::InvalidField { field: f, .. } if *f == format!("{prefix}{field}")),
                    "{body}: {e:?}"
                );
                assert!(text.contains(word), "{body}: {text}");
            }
        }
    }
}

#[test]
fn huge_counts() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for value in [
                "1000000001",
                "1e10",
                "1e300",
                "18446744073709551615",
                "18446744073709551616",
                "123456789012345678901234567890",
            ] {
                let body = wrap(format, &format!(r#"{{"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                assert!(
                    matches!(&e, SummaryError::InvalidField { field: f, .. } if *f == format!("{prefix}{field}")),
                    "{body}: {e:?}"
                );
                assert!(e.to_string().contains("too large"), "{e}");
            }
        }
        // The largest accepted, summed without overflow.
        let max = 1_000_000_000u64;
        let body = wrap(
            format,
            &format!(
                r#"{{"passed":{max},"failed":{max},"broken":{max},"skipped":{max},"unknown":{max}}}"#
            ),
        );
        let s = parse(body.as_bytes()).unwrap();
        assert_eq!(s.total, 5 * max);
    }
}

#[test]
fn body_over_one_mib_is_too_large() {
    // 2 MiB of valid JSON: refused before parsing.
    let mut body = String::from(r#"{"statistic":{"passed":1},"pad":""#);
    body.push_str(&" ".repeat(2 * 1024 * 1024));
    body.push_str("\"}");
    for (_, parse, _) in FORMATS {
        let e = parse(body.as_bytes()).unwrap_err();
        assert!(matches!(e, SummaryError::TooLarge), "{e:?}");
        assert!(e.to_string().contains("too large"));
    }
    // Exactly the limit is fine.
    let mut body = String::from(r#"{"statistic":{"passed":1},"pad":""#);
    body.push_str(&" ".repeat(MAX_BODY_BYTES - body.len() - 2));
    body.push_str("\"}");
    assert_eq!(body.len(), MAX_BODY_BYTES);
    assert_eq!(parse_allure2(body.as_bytes()).unwrap().passed, 1);
}

#[test]
fn truncated_json() {
    for (sample, parse) in [
        (ALLURE2.trim_end(), parse_allure2 as Parser),
        (ALLURE3.trim_end(), parse_allure3),
        (STATISTIC.trim_end(), parse_statistic),
    ] {
        for cut in 1..sample.len() {
            let e = parse(&sample.as_bytes()[..cut]).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotJson(_) | SummaryError::Empty),
                "cut at {cut}: {e:?}"
            );
        }
        assert!(parse(sample.as_bytes()).is_ok());
    }
}

#[test]
fn source_names_for_the_mail() {
    assert_eq!(
        SummarySource::Allure2.to_string(),
        "Allure 2 widgets/summary.json"
    );
    assert_eq!(SummarySource::Allure3.to_string(), "Allure 3 summary.json");
    assert_eq!(
        SummarySource::Statistic.to_string(),
        "Allure widgets/statistic.json"
    );
    let paths: Vec<_> = SummarySource::ALL.iter().map(|s| s.path()).collect();
    assert_eq!(
        paths,
        [
            "widgets/summary.json",
            "summary.json",
            "widgets/statistic.json"
        ]
    );
}

// ---------------------------------------------------------------- a real server

#[derive(Clone)]
enum Fault {
    Status(u16),
    Slow(Duration),
    Redirect(String),
}

struct Shared {
    root: PathBuf,
    faults: Mutex<HashMap<String, Fault>>,
    hits: Mutex<Vec<String>>,
}

/// axum on 127.0.0.1:0 serving a temp folder as the test server's document root (404 for
/// missing files), with per-path faults and a log of the paths asked for.
struct ReportServer {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
}

impl ReportServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared {
            root: dir.path().to_path_buf(),
            faults: Mutex::new(HashMap::new()),
            hits: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            _dir: dir,
            shared,
        }
    }

    /// `http://127.0.0.1:PORT` — the configured test server URL.
    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The allowed origins: this server's alone.
    fn allowed(&self) -> Vec<Origin> {
        vec![Origin::parse("report_origins[0]", &self.origin()).unwrap()]
    }

    fn put(&self, path: &str, body: impl AsRef<[u8]>) {
        let file = self.shared.root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }

    fn fault(&self, path: &str, fault: Fault) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .insert(path.to_owned(), fault);
    }

    fn hits(&self) -> Vec<String> {
        self.shared.hits.lock().unwrap().clone()
    }
}

async fn serve(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    shared.hits.lock().unwrap().push(path.clone());
    let fault = shared.faults.lock().unwrap().get(&path).cloned();
    match fault {
        Some(Fault::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap(), "fault").into_response();
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Redirect(to)) => {
            return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
        }
        None => {}
    }
    if path.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match std::fs::read(shared.root.join(path.trim_start_matches('/'))) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "<html>404 Not Found</html>").into_response(),
    }
}

fn client() -> reqwest::Client {
    shared::tasks::http::http_client(Duration::from_secs(5)).unwrap()
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn allure2_present() {
    let server = ReportServer::start().await;
    server.put("reports/r1/widgets/summary.json", ALLURE2);
    server.put(
        "reports/r1/summary.json",
        ALLURE3.replace("\"passed\":1", "\"passed\":9"),
    );
    let report = format!("{}/reports/r1/", server.origin());
    let (s, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!((s, source), (one_of_each(Some(75)), SummarySource::Allure2));
    assert_eq!(server.hits(), ["/reports/r1/widgets/summary.json"]);
}

#[tokio::test]
async fn only_allure3() {
    let server = ReportServer::start().await;
    server.put("reports/r1/summary.json", ALLURE3);
    server.put("reports/r1/widgets/statistic.json", STATISTIC);
    let report = format!("{}/reports/r1", server.origin());
    let (s, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!((s, source), (one_of_each(Some(75)), SummarySource::Allure3));
    assert_eq!(
        server.hits(),
        [
            "/reports/r1/widgets/summary.json",
            "/reports/r1/summary.json"
        ]
    );
}

#[tokio::test]
async fn only_statistic() {
    let server = ReportServer::start().await;
    server.put("r/widgets/statistic.json", STATISTIC);
    let report = format!("{}/r/", server.origin());
    let (s, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!((s, source), (one_of_each(None), SummarySource::Statistic));
    assert_eq!(server.hits().len(), 3);
}

#[tokio::test]
async fn none_lists_the_three_urls_and_why() {
    let server = ReportServer::start().await;
    server.put("r/index.html", "<html></html>");
    let report = format!("{}/r/", server.origin());
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    let SummaryError::Unavailable { attempts } = &e else {
        panic!("{e:?}")
    };
    let urls: Vec<_> = attempts.iter().map(|a| a.url.as_str()).collect();
    let o = server.origin();
    assert_eq!(
        urls,
        [
            format!("{o}/r/widgets/summary.json"),
            format!("{o}/r/summary.json"),
            format!("{o}/r/widgets/statistic.json"),
        ]
    );
    for a in attempts {
        assert_eq!(a.reason, "HTTP 404 Not Found");
    }
    let text = e.to_string();
    assert!(
        text.starts_with("no Allure summary could be read: "),
        "{text}"
    );
    for url in urls {
        assert!(
            text.contains(&format!("{url}: HTTP 404 Not Found")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn server_error_on_the_first_then_allure3() {
    let server = ReportServer::start().await;
    server.put("r/widgets/summary.json", ALLURE2);
    server.fault("/r/widgets/summary.json", Fault::Status(500));
    server.put("r/summary.json", ALLURE3);
    let report = format!("{}/r", server.origin());
    let (_, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Allure3);

    // And when nothing else answers, the 500 is remembered.
    let server = ReportServer::start().await;
    server.fault("/r/widgets/summary.json", Fault::Status(500));
    server.fault("/r/summary.json", Fault::Status(503));
    let report = format!("{}/r", server.origin());
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("widgets/summary.json: HTTP 500 Internal Server Error"),
        "{text}"
    );
    assert!(
        text.contains("/r/summary.json: HTTP 503 Service Unavailable"),
        "{text}"
    );
    assert!(
        text.contains("widgets/statistic.json: HTTP 404 Not Found"),
        "{text}"
    );
}

#[tokio::test]
async fn unparsable_first_then_the_next_that_parses() {
    let server = ReportServer::start().await;
    server.put(
        "r/widgets/summary.json",
        "<html>a single-page app answers everything</html>",
    );
    server.put("r/summary.json", r#"{"stats":{"passed":"3"}}"#);
    server.put("r/widgets/statistic.json", STATISTIC);
    let report = format!("{}/r/", server.origin());
    let (s, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!((s, source), (one_of_each(None), SummarySource::Statistic));

    server.put("r/widgets/statistic.json", "{}");
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("widgets/summary.json: the summary is not valid JSON"),
        "{text}"
    );
    assert!(
        text.contains("summary.json: the summary field `stats.passed` must be a whole number"),
        "{text}"
    );
    assert!(
        text.contains("statistic.json: the summary has none of the counts"),
        "{text}"
    );
}

#[tokio::test]
async fn timeout_on_the_first_then_allure3() {
    let server = ReportServer::start().await;
    server.put("r/widgets/summary.json", ALLURE2);
    server.fault(
        "/r/widgets/summary.json",
        Fault::Slow(Duration::from_secs(3)),
    );
    server.put("r/summary.json", ALLURE3);
    let report = format!("{}/r/", server.origin());
    let started = Instant::now();
    let (_, source) = read_summary(
        &client(),
        &report,
        &server.allowed(),
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert_eq!(source, SummarySource::Allure3);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    server.fault("/r/summary.json", Fault::Slow(Duration::from_secs(3)));
    let e = read_summary(
        &client(),
        &report,
        &server.allowed(),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    let SummaryError::Unavailable { attempts } = &e else {
        panic!("{e:?}")
    };
    assert!(attempts[0].reason.contains("timed out"), "{e}");
    assert!(attempts[1].reason.contains("timed out"), "{e}");
    assert_eq!(attempts[2].reason, "HTTP 404 Not Found");
}

#[tokio::test]
async fn two_mib_file_is_too_large_and_skipped() {
    let server = ReportServer::start().await;
    let mut big = String::from(r#"{"statistic":{"passed":1},"pad":""#);
    big.push_str(&"x".repeat(2 * 1024 * 1024));
    big.push_str("\"}");
    server.put("r/widgets/summary.json", &big);
    server.put("r/widgets/statistic.json", STATISTIC);
    let report = format!("{}/r/", server.origin());
    let (_, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Statistic);

    server.put("r/widgets/statistic.json", &big);
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    let SummaryError::Unavailable { attempts } = &e else {
        panic!("{e:?}")
    };
    assert!(attempts[0].reason.contains("too large"), "{e}");
    assert!(attempts[2].reason.contains("too large"), "{e}");
}

/// A raw server that answers every request with an endless chunked body (no
/// Content-Length), to show the reader stops at 1 MiB instead of buffering it all.
async fn endless_server() -> (SocketAddr, Arc<Mutex<u64>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(Mutex::new(0u64));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(start).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                // At most 64 MiB, in case the reader never stops.
                for _ in 0..1024 {
                    let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
                    piece.extend_from_slice(&chunk);
                    piece.extend_from_slice(b"\r\n");
                    if socket.write_all(&piece).await.is_err() {
                        return;
                    }
                    *counter.lock().unwrap() += chunk.len() as u64;
                }
            });
        }
    });
    (addr, sent)
}

#[tokio::test]
async fn endless_chunked_body_is_cut_at_one_mib() {
    let (addr, sent) = endless_server().await;
    let origin = format!("http://{addr}");
    let e = read_summary(
        &client(),
        &format!("{origin}/r/"),
        &[Origin::parse("o", &origin).unwrap()],
        T,
    )
    .await
    .unwrap_err();
    let SummaryError::Unavailable { attempts } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(attempts.len(), 3);
    for a in attempts {
        assert!(a.reason.contains("too large"), "{e}");
    }
    // Far from the 3 × 64 MiB the server would have sent.
    let sent = *sent.lock().unwrap();
    assert!(sent < 3 * 16 * 1024 * 1024, "{sent} bytes sent");
}

#[tokio::test]
async fn report_on_another_origin_is_not_fetched() {
    let server = ReportServer::start().await;
    let other = ReportServer::start().await;
    other.put("r/widgets/summary.json", ALLURE2);
    let port = server.addr.port();
    for report in [
        format!("{}/r/", other.origin()),
        format!("http://localhost:{port}/r/"),
        format!("https://127.0.0.1:{port}/r/"),
        format!("http://127.0.0.1.nip.io:{port}/r/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let e = read_summary(&client(), &report, &server.allowed(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SummaryError::OffOrigin { .. }),
            "{report}: {e:?}"
        );
        assert!(e.to_string().contains("is not on an allowed origin"), "{e}");
    }
    for report in [
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
        format!("ftp://127.0.0.1:{port}/r/"),
        String::new(),
    ] {
        let e = read_summary(&client(), &report, &server.allowed(), T)
            .await
            .unwrap_err();
        assert!(
            matches!(e, SummaryError::InvalidReportUrl { .. }),
            "{report}: {e:?}"
        );
    }
    let e = read_summary(&client(), &format!("{}/r/", server.origin()), &[], T)
        .await
        .unwrap_err();
    assert!(matches!(e, SummaryError::OffOrigin { .. }), "{e:?}");
    // Another origin is read once it is allowed, and then only it.
    let both = [server.allowed(), other.allowed()].concat();
    let (_, source) = read_summary(&client(), &format!("{}/r/", other.origin()), &both, T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Allure2);
    assert_eq!(other.hits(), ["/r/widgets/summary.json"]);
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn default_port_is_the_same_origin() {
    // `http://h` and `http://h:80` are one origin: the files are attempted (whatever answers
    // on port 80 here, if anything), not refused up front.
    let r = read_summary(
        &client(),
        "http://127.0.0.1:80/r/",
        &[Origin::parse("o", "http://127.0.0.1").unwrap()],
        Duration::from_secs(2),
    )
    .await;
    assert!(
        !matches!(
            r,
            Err(SummaryError::OffOrigin { .. } | SummaryError::InvalidReportUrl { .. })
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn redirect_to_another_origin_is_refused() {
    let server = ReportServer::start().await;
    let other = ReportServer::start().await;
    other.put("r/widgets/summary.json", ALLURE2);
    server.fault(
        "/r/widgets/summary.json",
        Fault::Redirect(format!("{}/r/widgets/summary.json", other.origin())),
    );
    server.put("r/summary.json", ALLURE3);
    let report = format!("{}/r/", server.origin());
    let (_, source) = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap();
    assert_eq!(source, SummarySource::Allure3);
    assert!(other.hits().is_empty());

    server.fault("/r/summary.json", Fault::Status(404));
    let e = read_summary(&client(), &report, &server.allowed(), T)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
}

#[tokio::test]
async fn connection_refused_is_a_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let origin = format!("http://{addr}");
    let e = read_summary(
        &client(),
        &format!("{origin}/r"),
        &[Origin::parse("o", &origin).unwrap()],
        T,
    )
    .await
    .unwrap_err();
    let SummaryError::Unavailable { attempts } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[0].reason.to_lowercase().contains("connect"),
        "{}",
        attempts[0].reason
    );
}

#[tokio::test]
async fn report_url_with_a_path_prefix_joins_correctly() {
    let server = ReportServer::start().await;
    server.put("reports/abc/summary.json", ALLURE3);
    let o = server.origin();
    for report in [
        format!("{o}/reports/abc/"),
        format!("{o}/reports/abc"),
        format!("{o}/reports/abc/index.html"),
        format!("{o}/reports/abc/index.html#suites"),
        format!("{o}/reports/abc/?tab=overview"),
    ] {
        server.shared.hits.lock().unwrap().clear();
        let (_, source) = read_summary(&client(), &report, &server.allowed(), T)
            .await
            .unwrap();
        assert_eq!(source, SummarySource::Allure3, "{report}");
        assert_eq!(
            server.hits(),
            [
                "/reports/abc/widgets/summary.json",
                "/reports/abc/summary.json"
            ],
            "{report}"
        );
    }
}
