//! A closed port, TLS problems and configuration mistakes: errors of the right kind, never
//! panics.

use super::*;
use shared::config::SmtpSecurity;
use shared::mail::transport::{MailError, MailTransport};

#[tokio::test]
async fn a_closed_port_is_a_transient_error() {
    let port = free_port(); // bound then released: nothing listens there
    let (message, _) = success(&["dev@example.com"]);
    for sec in [
        SmtpSecurity::Plain,
        SmtpSecurity::StartTls,
        SmtpSecurity::Tls,
    ] {
        let mailer =
            MailTransport::smtp(&config(port, sec, "", None), Some(&certs().ca_pem)).unwrap();
        let e = send(&mailer, &message).await.unwrap_err();
        assert!(matches!(e, MailError::Connection(_)), "{sec:?}: {e:?}");
        assert!(e.is_transient(), "{sec:?}: {e}");
    }
}

#[tokio::test]
async fn tls_problems_are_permanent() {
    let Some(python) = python() else { return };
    let (message, _) = success(&["dev@example.com"]);

    // A certificate from a CA we do not trust.
    let smtps = start_sink(&python, Mode::Smtps, None);
    let mailer = MailTransport::smtp(
        &config(smtps.port, SmtpSecurity::Tls, "", None),
        Some(&certs().other_ca_pem),
    )
    .unwrap();
    let e = send(&mailer, &message).await.unwrap_err();
    assert!(matches!(e, MailError::Tls(_)), "{e:?}");
    assert!(!e.is_transient());
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // STARTTLS required, but the server does not offer it.
    let plain = start_sink(&python, Mode::Plain, None);
    let mailer = MailTransport::smtp(
        &config(plain.port, SmtpSecurity::StartTls, "", None),
        Some(&certs().ca_pem),
    )
    .unwrap();
    let e = send(&mailer, &message).await.unwrap_err();
    assert!(matches!(e, MailError::Protocol(_)), "{e:?}");
    assert!(!e.is_transient());

    // Implicit TLS against a plain server.
    let mailer = MailTransport::smtp(
        &config(plain.port, SmtpSecurity::Tls, "", None),
        Some(&certs().ca_pem),
    )
    .unwrap();
    let e = send(&mailer, &message).await.unwrap_err();
    assert!(matches!(e, MailError::Tls(_)), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(saved_count(&smtps) + saved_count(&plain), 0);
}

#[test]
fn configuration_mistakes_are_errors_not_panics() {
    // Outside a Tokio runtime (the connection pool needs one).
    let e = MailTransport::smtp(&config(25, SmtpSecurity::Plain, "", None), None).unwrap_err();
    assert!(matches!(e, MailError::Config(_)), "{e:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = MailTransport::smtp(
            &config(465, SmtpSecurity::Tls, "", None),
            Some(b"not a certificate"),
        )
        .unwrap_err();
        assert!(
            matches!(e, MailError::Config(_)) && !e.is_transient(),
            "{e:?}"
        );
        let mut cfg = config(465, SmtpSecurity::Tls, "", None);
        cfg.server = " ".into();
        assert!(matches!(
            MailTransport::smtp(&cfg, None).unwrap_err(),
            MailError::Config(_)
        ));
    });
}
