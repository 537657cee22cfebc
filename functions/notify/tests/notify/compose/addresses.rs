//! Addresses and links: bad addresses and no recipients, unusable addresses skipped, links
//! without http.

use super::*;
use mail_parser::MessageParser;
use serde_json::json;
use shared::domain::Email;
use shared::mail::compose::{ComposeError, failure_mail, success_mail};

#[test]
fn bad_addresses_and_no_recipients_are_errors() {
    let r = run(json!({}));
    let mut c = ctx(&r, None);
    c.from = "not an address\r\nBcc: evil@example.com";
    let e = success_mail(&c).unwrap_err();
    assert!(
        matches!(e, ComposeError::Address { field: "from", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("invalid from address"), "{e}");
    assert!(!e.to_string().contains('\n'));

    let mut c = ctx(&r, None);
    c.from = "CRAT Bot <crat@example.com>";
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.from().unwrap().first().unwrap().name.as_deref(),
        Some("CRAT Bot")
    );

    let mut c = ctx(&r, None);
    c.to.clear();
    c.cc.clear();
    assert!(matches!(
        failure_mail(&c).unwrap_err(),
        ComposeError::NoRecipients
    ));
    // Cc only is fine.
    let mut c = ctx(&r, None);
    c.to.clear();
    assert!(success_mail(&c).is_ok());
}

#[test]
fn links_without_http_are_text_and_missing_links_are_dashes() {
    let r = run(json!({}));
    let s = summary(1, 0, 0, 0, 0);
    let mut c = ctx(&r, Some(&s));
    c.report_link = Some("/reports/9/".into());
    c.run_link = None;
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    let html = text_of(&m, "text/html");
    assert!(!html.contains("href=\"/reports"));
    assert!(strip_tags(&html).contains("Report /reports/9/"));
    assert!(strip_tags(&html).contains("Run page —"));
    let text = text_of(&m, "text/plain");
    assert_eq!(text_value(&text, "Run page"), "—");
}

/// Defect 11: an address the mailer cannot use (stored before input was checked as
/// strictly, e.g. `a..b@example.com`) is skipped with a reason; the others stay.
#[test]
fn unusable_addresses_are_skipped_not_fatal() {
    let list: Vec<Email> = ["dev@example.com", "a..b@example.com", "qa@example.com"]
        .iter()
        .map(|a| serde_json::from_value(serde_json::json!(a)).unwrap())
        .collect();
    let (ok, bad) = shared::mail::compose::mailable("to", list);
    let ok: Vec<&str> = ok.iter().map(Email::as_str).collect();
    assert_eq!(ok, ["dev@example.com", "qa@example.com"]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].address, "a..b@example.com");
    assert!(bad[0].reason.starts_with("not a usable address"), "{bad:?}");
}
