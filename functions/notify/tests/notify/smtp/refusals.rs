//! Refused recipients: 4xx transient, 5xx permanent, the others still get their copy, a
//! whole-mail refusal is not retried per recipient.

use super::*;
use lettre::Message;
use shared::config::SmtpSecurity;
use shared::mail::transport::{MailError, MailTransport, NotSent, is_recipient_refusal};
use std::time::Duration;

#[tokio::test]
async fn refused_recipients_are_transient_for_4xx_and_permanent_for_5xx() {
    let Some(python) = python() else { return };
    let sink = start_sink(&python, Mode::Plain, None);
    let mailer =
        MailTransport::smtp(&config(sink.port, SmtpSecurity::Plain, "", None), None).unwrap();
    let (rejected, _) = success(&["reject550@example.com"]);
    let e = send(&mailer, &rejected).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 550, .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("mailbox unavailable"), "{e}");
    let (deferred, _) = success(&["defer451@example.com"]);
    let e = send(&mailer, &deferred).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 451, .. }), "{e:?}");
    assert!(e.is_transient());
    // The mailer still works afterwards.
    let (ok, _) = success(&["dev@example.com"]);
    send(&mailer, &ok).await.unwrap();
    assert_eq!(saved_count(&sink), 1);
}

/// Messages the sink refused at DATA (`--refuse-data`).
fn refused_at_data(sink: &Sink) -> usize {
    std::fs::read_dir(sink.folder.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".data")
        })
        .count()
}

async fn deliver(
    mailer: &MailTransport,
    message: &Message,
) -> Result<shared::mail::transport::Delivery, MailError> {
    tokio::time::timeout(Duration::from_secs(90), mailer.deliver(message))
        .await
        .expect("deliver did not finish within 90 s")
}

/// Defect 11: one refused recipient does not stop the others; the refused one is named
/// with the server's reply.
#[tokio::test]
async fn a_refused_recipient_is_left_out_and_the_others_get_one_copy_each() {
    let Some(python) = python() else { return };
    let sink = start_sink(&python, Mode::Plain, None);
    let mailer =
        MailTransport::smtp(&config(sink.port, SmtpSecurity::Plain, "", None), None).unwrap();
    let (m, _) = success(&["reject550@example.com", "a@example.com", "b@example.com"]);
    let d = deliver(&mailer, &m).await.unwrap();
    assert_eq!(d.refused.len(), 1, "{d:?}");
    let NotSent { address, reason } = &d.refused[0];
    assert_eq!(address, "reject550@example.com");
    assert!(reason.contains("550"), "{reason}");
    // The cc (qa@example.com) is a recipient too.
    assert!(d.receipt.starts_with("3 of 4 recipients"), "{}", d.receipt);
    assert_eq!(saved_count(&sink), 3);
}

/// Review: a refusal of the whole mail (554 at DATA) is not retried once per recipient:
/// one attempt, and the server's reply is the error.
#[tokio::test]
async fn a_whole_mail_refusal_is_not_retried_per_recipient() {
    let Some(python) = python() else { return };
    let sink = start_sink_with(&python, Mode::Plain, None, &["--refuse-data"]);
    let mailer =
        MailTransport::smtp(&config(sink.port, SmtpSecurity::Plain, "", None), None).unwrap();
    let (m, _) = success(&["a@example.com", "b@example.com", "c@example.com"]);
    let e = deliver(&mailer, &m).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 554, .. }), "{e:?}");
    assert_eq!(refused_at_data(&sink), 1, "one DATA, not one per recipient");
    // After a refused recipient the copies stop at the first whole-mail refusal.
    let (m, _) = success(&["reject550@example.com", "a@example.com", "b@example.com"]);
    let e = deliver(&mailer, &m).await.unwrap_err();
    assert!(matches!(e, MailError::Rejected { code: 554, .. }), "{e:?}");
    assert_eq!(
        refused_at_data(&sink),
        2,
        "a's copy only; b's and qa's are not tried"
    );
    assert_eq!(saved_count(&sink), 0);
}

#[test]
fn only_rcpt_stage_replies_are_recipient_refusals() {
    for code in [450, 451, 452, 550, 551, 553] {
        assert!(is_recipient_refusal(code), "{code}");
    }
    for code in [421, 530, 535, 552, 554, 500, 501, 503] {
        assert!(!is_recipient_refusal(code), "{code}");
    }
}
