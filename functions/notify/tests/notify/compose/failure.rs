//! The failure mail: the step, the errors, the test server's error, a sweeper timeout.

use super::*;
use mail_parser::MessageParser;
use serde_json::json;
use shared::mail::compose::failure_mail;
use shared::tasks::ErrorName;

#[test]
fn failure_mail_names_the_step_and_the_errors() {
    let r = run(json!({
        "status": "FAILED",
        "error_message": "the test server answered 500: deploy queue full",
        "steps": [
            step("DOWNLOAD", "SUCCEEDED", None, json!({"file_name": "cds-1.2.3.tar.gz"})),
            step("TRIGGER", "FAILED", Some("the test server answered 500: deploy queue full"), json!({"error_name": ErrorName::TestServerError.as_str()})),
            step("MONITOR", "SKIPPED", None, json!({})),
            step("NOTIFY", "RUNNING", None, json!({})),
        ],
    }));
    let c = ctx(&r, None);
    let raw = failure_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(tree(&m, 0), "multipart/alternative(text/plain,text/html)");
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — error at TRIGGER"
    );
    let html = text_of(&m, "text/html");
    let visible = strip_tags(&html);
    for fact in [
        "error at TRIGGER",
        "Failing step TRIGGER",
        &format!("Error type {}", ErrorName::TestServerError),
        "the test server answered 500: deploy queue full",
        "Job CDN_CORE",
        "Build #101",
        "Package path CDN/pass/20260302-master-abc/el7",
        "Triggered by dev@example.com",
        "Started 2026-03-02 10:00:00 UTC",
        "Finished 2026-03-02 10:01:15 UTC",
    ] {
        assert!(visible.contains(fact), "{fact:?} not in {visible}");
    }
    assert!(html.contains("href=\"https://crat.example.com/runs/7\""));
    assert!(!html.contains("cid:"));
    // The mail is the NOTIFY step: it does not list itself as running.
    assert!(!visible.contains("NOTIFY"), "{visible}");
    let text = text_of(&m, "text/plain");
    assert_eq!(text_value(&text, "Failing step"), "TRIGGER");
    assert_eq!(
        text_value(&text, "Error type"),
        ErrorName::TestServerError.as_str()
    );
    assert!(
        text.contains("Error:\n    the test server answered 500: deploy queue full"),
        "{text}"
    );
    assert_eq!(text_value(&text, "Triggered by"), "dev@example.com");
    assert_eq!(
        text_value(&text, "Run page"),
        "https://crat.example.com/runs/7"
    );
}

#[test]
fn failure_mail_shows_the_test_servers_error() {
    let r = run(json!({
        "status": "FAILED",
        "error_message": "the test server reports the run failed: deploy: ssh timeout to 10.0.0.8",
        "steps": [
            step("DOWNLOAD", "SUCCEEDED", None, json!({})),
            step("TRIGGER", "SUCCEEDED", None, json!({})),
            step("MONITOR", "FAILED", Some("the test server reports the run failed: deploy: ssh timeout to 10.0.0.8"),
                 json!({"phase": "failed", "last_error": "GET /api/tasks/task-9: 502 Bad Gateway", "polls": 12, "error_name": ErrorName::TestFailed.as_str()})),
            step("NOTIFY", "RUNNING", None, json!({})),
        ],
    }));
    let raw = failure_mail(&ctx(&r, None)).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — error at MONITOR"
    );
    let visible = strip_tags(&text_of(&m, "text/html"));
    for fact in [
        "deploy: ssh timeout to 10.0.0.8",
        "Last problem GET /api/tasks/task-9: 502 Bad Gateway",
        "Last phase failed",
        "Polls 12",
    ] {
        assert!(visible.contains(fact), "{fact:?} not in {visible}");
    }
    let text = text_of(&m, "text/plain");
    assert_eq!(
        text_value(&text, "Last problem"),
        "GET /api/tasks/task-9: 502 Bad Gateway"
    );
}

#[test]
fn sweeper_timeout_without_a_failed_step() {
    let r = run(json!({
        "status": "FAILED",
        "error_message": "Test timeout - automatically failed by cleanup",
        "steps": [
            step("DOWNLOAD", "SUCCEEDED", None, json!({})),
            step("TRIGGER", "SUCCEEDED", None, json!({})),
            step("MONITOR", "RUNNING", None, json!({"phase": "running:test"})),
            step("NOTIFY", "PENDING", None, json!({})),
        ],
    }));
    let raw = failure_mail(&ctx(&r, None)).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.subject().unwrap(), "[CRAT] cds CDN_CORE #101 — error");
    let visible = strip_tags(&text_of(&m, "text/html"));
    assert!(
        visible.contains("Test timeout - automatically failed by cleanup"),
        "{visible}"
    );
    assert!(visible.contains("Failing step — (run FAILED)"), "{visible}");
    assert!(visible.contains("Last phase running:test"), "{visible}");
}

#[test]
fn a_failure_while_the_test_server_deployed_says_the_deploy_failed() {
    let r = run(json!({
        "status": "FAILED",
        "error_message": "the test server reports the run failed: ansible: host unreachable",
        "steps": [
            step("DOWNLOAD", "SUCCEEDED", None, json!({})),
            step("TRIGGER", "SUCCEEDED", None, json!({})),
            step("MONITOR", "FAILED", Some("ansible: host unreachable"),
                 json!({"phase": "running:deploy", "polls": 3, "error_name": ErrorName::TestFailed.as_str()})),
            step("NOTIFY", "RUNNING", None, json!({})),
        ],
    }));
    let raw = failure_mail(&ctx(&r, None)).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — deploy failed on the test server"
    );
    let visible = strip_tags(&text_of(&m, "text/html"));
    assert!(
        visible.contains("Deploy failed on the test server: ansible: host unreachable"),
        "{visible}"
    );
    assert!(!visible.contains("Crat.TestFailed at"), "{visible}");
    let text = text_of(&m, "text/plain");
    assert!(
        text.contains("deploy failed on the test server")
            && text.contains("ansible: host unreachable"),
        "{text}"
    );
    assert!(!text.contains("NOTIFY"), "{text}");
}
