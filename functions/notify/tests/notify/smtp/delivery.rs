//! Delivery over plain SMTP, STARTTLS and implicit TLS, and several mails with AUTH.

use super::*;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;
use shared::config::SmtpSecurity;
use shared::mail::compose::failure_mail;
use shared::mail::transport::{MailError, MailTransport};

/// Sends the success mail over `mode` and checks what the server saved.
async fn deliver_over(mode: Mode) {
    let Some(python) = python() else { return };
    let sink = start_sink(&python, mode, None);
    let mailer = MailTransport::smtp(
        &config(sink.port, security(mode), "", None),
        Some(&certs().ca_pem),
    )
    .unwrap();
    let (message, subject) = success(&["dev@example.com"]);
    let receipt = send(&mailer, &message).await.unwrap();
    assert!(receipt.starts_with("250 "), "{receipt}");
    assert!(receipt.contains("accepted"), "{receipt}");

    let (raw, meta) = saved(&sink, 1);
    assert_eq!(meta["tls"], mode != Mode::Plain, "{mode:?}: {meta}");
    assert_eq!(meta["mail_from"], "crat@example.com");
    assert_eq!(
        meta["rcpt_tos"],
        json!(["dev@example.com", "qa@example.com"])
    );
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.subject().unwrap(), subject);
    assert_eq!(
        subject,
        "[CRAT] cds CDN_CORE #101 — tests failed, 8/10 passed"
    );
    let png = m
        .parts
        .iter()
        .find(|p| p.content_type().is_some_and(|c| c.ctype() == "image"))
        .unwrap();
    assert_eq!(png.contents(), tiny_png().as_slice());
    assert!(m.body_html(0).unwrap().contains("cid:chart@crat"));
    assert!(m.body_text(0).unwrap().contains("8 of 10 passed"));
}

#[tokio::test]
async fn delivers_over_plain_smtp() {
    deliver_over(Mode::Plain).await;
}

#[tokio::test]
async fn delivers_over_starttls() {
    deliver_over(Mode::StartTls).await;
}

#[tokio::test]
async fn delivers_over_implicit_tls() {
    deliver_over(Mode::Smtps).await;
}

#[tokio::test]
async fn one_mailer_sends_several_mails_with_auth_over_starttls() {
    let Some(python) = python() else { return };
    let sink = start_sink(&python, Mode::StartTls, Some("crat:s3cret pass"));
    let ca = Some(certs().ca_pem.as_slice());
    let mailer = MailTransport::smtp(
        &config(
            sink.port,
            SmtpSecurity::StartTls,
            "crat",
            Some("s3cret pass"),
        ),
        ca,
    )
    .unwrap();
    let (first, _) = success(&["dev@example.com"]);
    let r = run("FAILED");
    let failure = failure_mail(&ctx(&r, &["lead@example.com"])).unwrap();
    send(&mailer, &first).await.unwrap();
    send(&mailer, &failure).await.unwrap();
    let (_, meta1) = saved(&sink, 1);
    let (raw2, meta2) = saved(&sink, 2);
    assert_eq!(meta1["auth_login"], "crat");
    assert_eq!(meta2["auth_login"], "crat");
    assert_eq!(meta2["tls"], true);
    let m = MessageParser::default().parse(&raw2).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — error at DOWNLOAD"
    );
    assert!(m.body_text(0).unwrap().contains("package not found"));

    // A wrong password: 535, permanent.
    let wrong = MailTransport::smtp(
        &config(sink.port, SmtpSecurity::StartTls, "crat", Some("nope")),
        ca,
    )
    .unwrap();
    let e = send(&wrong, &first).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 535, .. }), "{e:?}");
    assert!(!e.is_transient(), "{e}");
    // No credentials where the server requires them: 530, permanent.
    let anonymous =
        MailTransport::smtp(&config(sink.port, SmtpSecurity::StartTls, "", None), ca).unwrap();
    let e = send(&anonymous, &first).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 530, .. }), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(saved_count(&sink), 2);
}
