//! The result mail end to end: the local server with SMTP configured, the dev peers, and
//! a real SMTP server on 127.0.0.1 (aiosmtpd, `functions/notify/tests/smtp_sink.py`).
//! A completed run delivers one mail whose MIME has the HTML part (counts, report link,
//! `cid:` chart), the inline PNG and the text part; a failed run delivers the failure mail
//! naming the step; outside text with markup and CR/LF arrives escaped, headers intact.
//! (STARTTLS and implicit TLS delivery are proven in `functions/notify/tests/notify/smtp/`.)
//!
//! Here: the SMTP sink, the run helpers and delivery; reports on other origins have their module.

use crate::common;
use common::peers::Peers;
use common::{Backend, TestApp};
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

mod report_origin;
mod test_changes;

const PKG_DIR: &str = "CDN/pass/20250613-master-mail/el7";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CRAT_PYTHON").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

struct Sink {
    folder: tempfile::TempDir,
    port: u16,
    _child: tokio::process::Child,
}

async fn smtp_sink() -> Sink {
    let folder = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notify/tests/smtp_sink.py");
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .args([
            "--port",
            &port.to_string(),
            "--folder",
            folder.path().to_str().unwrap(),
            "--mode",
            "plain",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(
        ready.is_some_and(|l| l.starts_with("ready")),
        "smtp sink started (pip install -r requirements-test.txt)"
    );
    Sink {
        folder,
        port,
        _child: child,
    }
}

impl Sink {
    fn mails(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<_> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        for _ in 0..500 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} mails, got {}", self.mails().len())
    }
}

async fn setup(sink: &Sink) -> (TestApp, Peers, String, i64, i64) {
    let port = sink.port.to_string();
    let app = TestApp::start(
        Backend::Sqlite,
        &[
            ("EMAIL_SEND_SERVER", "127.0.0.1"),
            ("EMAIL_SEND_SERVER_PORT", &port),
            ("EMAIL_FROM", "crat@example.com"),
        ],
    )
    .await
    .unwrap();
    let peers = Peers::start().await;
    peers.add_package(PKG_DIR, "cds-3.1.0.tar.gz");
    let admin = app.admin_token().await;
    for (method, path, body) in [
        (
            "PUT",
            "/api/v1/settings",
            json!({"package_download_base_url": peers.packages.url, "external_test_server_url": peers.test_server.url,
            "poll_interval_seconds": 1, "max_monitor_seconds": 1200, "project_name": "CDN QA", "notify_cc": ["lead@example.com"]}),
        ),
        ("POST", "/api/v1/parameter-sets", json!({"name": "base"})),
        (
            "POST",
            "/api/v1/test-items",
            json!({"name": "cds", "job_name": "CDN_CORE", "notify_emails": ["team@example.com"]}),
        ),
    ] {
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    let build: Value = app
        .post_json(
            "/api/v1/builds",
            &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101", "PACKAGE_PATH": PKG_DIR}),
        )
        .await
        .json()
        .await
        .unwrap();
    let user = app.user_token("dev@example.com").await;
    (app, peers, user, 1, build["id"].as_i64().unwrap())
}

async fn run_to_end(app: &TestApp, user: &str, item: i64, build: i64) -> Value {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/test-items/{item}/deploy-test")))
        .bearer_auth(user)
        .json(&json!({"build_info_id": build}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    for _ in 0..1500 {
        let run: Value = app
            .get(&format!("/api/v1/deploy-test-runs/{id}"), Some(user))
            .await
            .json()
            .await
            .unwrap();
        if run["notification"]["status"].is_string() && run["steps"][3]["status"] != "RUNNING" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {id} did not finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completed_run_delivers_one_html_mail_with_inline_chart() {
    let sink = smtp_sink().await;
    let (app, peers, user, item, build) = setup(&sink).await;
    peers.test_control(json!({"statistic": {"passed": 98, "failed": 1, "broken": 1, "skipped": 0, "unknown": 0}})).await;
    let run = run_to_end(&app, &user, item, build).await;
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["notification"]["status"], "SENT", "{run}");
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let msg = MessageParser::default().parse(&mails[0]).unwrap();
    assert_eq!(
        msg.subject().unwrap(),
        "[CDN QA] cds CDN_CORE #101 — tests failed, 98/100 passed"
    );
    let to: Vec<String> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(str::to_owned))
        .collect();
    assert_eq!(to, ["dev@example.com", "team@example.com"]);
    let cc: Vec<String> = msg
        .cc()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(str::to_owned))
        .collect();
    assert_eq!(cc, ["lead@example.com"]);

    let html = msg.body_html(0).unwrap();
    for fact in [
        "98",
        "100",
        "98.0%",
        "CDN_CORE",
        PKG_DIR,
        run["report_url"].as_str().unwrap(),
    ] {
        assert!(html.contains(fact), "HTML has {fact}");
    }
    let text = msg.body_text(0).unwrap();
    assert!(
        text.contains("98")
            && text.contains("CDN_CORE")
            && text.contains(run["report_url"].as_str().unwrap()),
        "{text}"
    );
    // The chart: an inline PNG whose Content-ID the HTML references.
    let image = msg
        .attachments()
        .find(|a| a.content_type().is_some_and(|c| c.ctype() == "image"))
        .expect("an image part");
    let cid = image.content_id().expect("the image has a Content-ID");
    assert!(
        html.contains(&format!("cid:{cid}")),
        "HTML references cid:{cid}"
    );
    assert!(image.contents().starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(!html.contains("<script"), "no script in the mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_run_delivers_the_failure_mail_escaped() {
    let sink = smtp_sink().await;
    let (app, peers, user, item, build) = setup(&sink).await;
    peers.test_control(json!({"outcome": "failed", "error": "<script>alert(1)</script>\r\nBcc: evil@example.com"})).await;
    let run = run_to_end(&app, &user, item, build).await;
    assert_eq!(run["status"], "FAILED");
    let mails = sink.wait_for(1).await;
    let raw = String::from_utf8_lossy(&mails[0]).to_string();
    let msg = MessageParser::default().parse(&mails[0]).unwrap();
    assert!(
        msg.subject().unwrap().contains("error at MONITOR"),
        "{:?}",
        msg.subject()
    );
    let headers_end = raw.find("\r\n\r\n").unwrap();
    assert!(
        !raw[..headers_end].to_ascii_lowercase().contains("\r\nbcc:"),
        "no injected header"
    );
    let html = msg.body_html(0).unwrap();
    assert!(html.contains("MONITOR"));
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "outside text is escaped"
    );
    assert!(html.contains("&lt;script&gt;"), "and still shown");
    let envelope: Value = serde_json::from_slice(
        &std::fs::read(sink.folder.path().join("1.json")).unwrap_or_else(|_| {
            std::fs::read_dir(sink.folder.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .find(|e| e.path().extension().is_some_and(|x| x == "json"))
                .map(|e| std::fs::read(e.path()).unwrap())
                .unwrap()
        }),
    )
    .unwrap();
    let rcpts: Vec<&str> = envelope["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!rcpts.contains(&"evil@example.com"), "{rcpts:?}");
}

/// Defect 11: one recipient the SMTP server refuses (550) in the item's `notify_emails`
/// does not stop the mail to the others; the refusal is noted on the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refused_recipient_does_not_stop_the_others() {
    let sink = smtp_sink().await;
    let (app, _peers, user, item, build) = setup(&sink).await;
    let admin = app.admin_token().await;
    let r = app
        .client
        .put(app.url(&format!("/api/v1/test-items/{item}")))
        .bearer_auth(&admin)
        .json(&json!({"name": "cds", "job_name": "CDN_CORE",
            "notify_emails": ["team@example.com", "reject550@example.com"]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let run = run_to_end(&app, &user, item, build).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["notification"]["status"], "SENT", "{run}");
    let note = run["notification"]["error"].as_str().unwrap_or_default();
    assert!(
        note.contains("reject550@example.com") && note.contains("550"),
        "{run}"
    );
    let recipients: Vec<&str> = run["notification"]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        recipients,
        ["dev@example.com", "team@example.com", "lead@example.com"]
    );
    // Every good recipient got exactly one copy.
    sink.wait_for(3).await;
    let mut delivered: Vec<String> = Vec::new();
    for e in std::fs::read_dir(sink.folder.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let meta: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            for r in meta["rcpt_tos"].as_array().unwrap() {
                delivered.push(r.as_str().unwrap().to_owned());
            }
        }
    }
    delivered.sort();
    assert_eq!(
        delivered,
        ["dev@example.com", "lead@example.com", "team@example.com"]
    );
}
