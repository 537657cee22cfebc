//! `read_summary` against a real HTTP server on 127.0.0.1 serving a report folder: which
//! format is found, faults on the way, sizes; reports on other origins have their module.

use super::*;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use shared::domain::Origin;
use shared::mail::summary::{SummaryError, SummarySource, read_summary};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod origins;

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
