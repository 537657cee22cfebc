//! Outside text: markup and CR/LF escaped and kept out of headers, non-ASCII subjects, long
//! subjects cut.

use super::*;
use mail_parser::MessageParser;
use serde_json::json;
use shared::mail::compose::{SUBJECT_MAX_CHARS, failure_mail, subject_for, success_mail};

/// Every outside value carries HTML and header injection; none of it survives.
#[test]
fn injection_is_escaped_and_never_reaches_a_header() {
    let r = run(json!({
        "test_item_name": format!("cds\"onmouseover=\"x{EVIL}"),
        "build": {"job_name": format!("CDN{EVIL}"), "build_number": 101, "package_path": "CDN/<img src=x onerror=alert(1)>/el7"},
        "triggered_by": "dev@example.com<script>",
        "status": "FAILED",
        "error_message": format!("boom {EVIL}"),
        "steps": [
            step("DOWNLOAD", "FAILED", Some(&format!("step {EVIL}")), json!({"error_name": EVIL, "file_name": EVIL})),
            step("TRIGGER", "SKIPPED", None, json!({})),
            step("MONITOR", "SKIPPED", Some(EVIL), json!({"last_error": EVIL})),
            step("NOTIFY", "RUNNING", None, json!({})),
        ],
    }));
    let s = summary(1, 0, 0, 0, 0);
    for (kind, summary) in [("success", Some(&s)), ("failure", None)] {
        let mut c = ctx(&r, summary);
        c.project_name = "CRAT\r\nBcc: evil@example.com";
        c.report_link = Some("javascript:alert(1)".into());
        c.run_link = Some(format!(
            "https://crat.example.com/runs/7\"><script>alert(1)</script>{EVIL}"
        ));
        c.summary_note = Some(EVIL.into());
        let msg = if kind == "success" {
            success_mail(&c)
        } else {
            failure_mail(&c)
        }
        .unwrap();
        let raw = msg.formatted();
        let headers = raw_headers(&raw);
        // No Bcc header, no header line that is not a header or a folded continuation.
        for line in headers.split("\r\n") {
            assert!(
                !line.to_ascii_lowercase().starts_with("bcc"),
                "{kind}: {line}"
            );
            assert!(
                line.starts_with([' ', '\t']) || line.contains(':'),
                "{kind}: stray line {line:?}"
            );
        }
        assert!(
            !headers.replace("\r\n", "").contains(['\r', '\n']),
            "{kind}: bare CR or LF"
        );
        assert_eq!(
            headers.matches("\r\nSubject:").count() + usize::from(headers.starts_with("Subject:")),
            1
        );
        let m = MessageParser::default().parse(&raw).unwrap();
        assert!(m.bcc().is_none(), "{kind}");
        let subject = m.subject().unwrap();
        assert!(!subject.contains(['\r', '\n']), "{kind}: {subject:?}");
        assert!(subject.chars().count() <= SUBJECT_MAX_CHARS);
        let envelope: Vec<String> = msg
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            envelope,
            ["dev@example.com", "lead@example.com", "qa@example.com"],
            "{kind}"
        );

        for ctype in ["text/html", "text/plain"] {
            let body = text_of(&m, ctype);
            if ctype == "text/plain" {
                // Multi-line error texts are indented; one-line values stay on their line.
                assert!(
                    !body.lines().any(|l| l.starts_with("Bcc:")),
                    "{kind} {ctype}: {body}"
                );
            }
            if ctype == "text/html" {
                let lower = body.to_ascii_lowercase();
                assert!(!lower.contains("<script"), "{kind}: {body}");
                assert!(!lower.contains("<img src=x"), "{kind}");
                assert!(!lower.contains("onmouseover=\""), "{kind}");
                assert!(!lower.contains("href=\"javascript:"), "{kind}");
                assert!(
                    body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{kind}"
                );
                // The bad run link is still an http(s) URL: it goes into href percent-encoded.
                assert!(
                    body.contains("href=\"https://crat.example.com/runs/7%22%3E%3Cscript%3E"),
                    "{kind}: {body}"
                );
                // The javascript: report link is shown as text only.
                assert!(body.contains("javascript:alert(1)"), "{kind}");
            }
        }
    }
}

#[test]
fn non_ascii_survives_the_subject_encoding() {
    let r = run(json!({
        "test_item_name": "cds-测试",
        "build": {"job_name": "Ünïcode/Jöb", "build_number": 5, "package_path": "Ü/p"},
    }));
    let s = summary(3, 1, 0, 0, 0);
    let mut c = ctx(&r, Some(&s));
    c.project_name = "CRÄT";
    let raw = success_mail(&c).unwrap().formatted();
    let headers = raw_headers(&raw);
    assert!(headers.is_ascii(), "headers must be encoded: {headers}");
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRÄT] cds-测试 Ünïcode/Jöb #5 — tests failed, 3/4 passed"
    );
    assert_eq!(
        m.from().unwrap().first().unwrap().name.as_deref(),
        Some("CRÄT")
    );
    let html = text_of(&m, "text/html");
    assert!(html.contains("cds-测试") && html.contains("Ünïcode/Jöb"));
    assert!(text_of(&m, "text/plain").contains("cds-测试"));
}

#[test]
fn long_subjects_are_cut_but_keep_the_outcome() {
    let r = run(json!({
        "build": {"job_name": "J".repeat(500), "build_number": 101, "package_path": "p"},
        "status": "FAILED",
        "steps": [step("DOWNLOAD", "FAILED", Some("x"), json!({}))],
    }));
    let c = ctx(&r, None);
    let subject = subject_for(&c);
    assert!(
        subject.chars().count() <= SUBJECT_MAX_CHARS,
        "{}",
        subject.chars().count()
    );
    assert!(subject.starts_with("[CRAT] cds JJJ"));
    assert!(subject.ends_with("… — error at DOWNLOAD"), "{subject}");
    let raw = failure_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.subject().unwrap(), subject);
}
