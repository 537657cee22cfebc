//! Delivery of the result mails: SMTP (lettre, implicit TLS / STARTTLS / plain, optional
//! AUTH, an optional extra trusted CA) or the outbox folder (`.eml` files, listed in the
//! UI through [`list_outbox`]).
//!
//! Errors say whether a retry can help ([`MailError::is_transient`]): connection
//! problems, timeouts and 4xx replies are transient; 5xx replies, TLS failures
//! (untrusted certificate, wrong name, not TLS) and configuration mistakes are permanent.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{SmtpConfig, SmtpSecurity};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{self, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::outbox::write_eml;
pub use super::outbox::{
    MailPreview, OutboxEntry, is_outbox_file_name, list_outbox, preview, read_outbox_mail,
};

/// Connect and per-command timeout.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where result mails go.
pub enum MailTransport {
    /// An SMTP server (pooled connections; must be created inside a Tokio runtime).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// A folder of `.eml` files (the embedded mode without a mail server).
    Outbox(PathBuf),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("MailTransport::Smtp"),
            Self::Outbox(dir) => write!(f, "MailTransport::Outbox({})", dir.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A configuration mistake (CA certificate, server name, no Tokio runtime). Permanent.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The server could not be reached, the connection broke, or it timed out. Transient.
    #[error("cannot reach the mail server: {0}")]
    Connection(String),
    /// The TLS handshake failed: untrusted certificate, wrong host name, not a TLS port. Permanent.
    #[error("TLS with the mail server failed: {0}")]
    Tls(String),
    /// The server refused a command or the message: 4xx transient, 5xx permanent
    /// (e.g. 535 authentication failed, 550 no such mailbox).
    #[error("the mail server answered {code}: {message}")]
    Rejected { code: u16, message: String },
    /// The dialogue cannot work: no common AUTH mechanism, STARTTLS not offered. Permanent.
    #[error("SMTP: {0}")]
    Protocol(String),
    /// Writing the `.eml` file failed. Transient.
    #[error("outbox {}: {source}", path.display())]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MailError {
    /// Whether sending again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connection(_) | Self::Outbox { .. } => true,
            Self::Rejected { code, .. } => (400..500).contains(code),
            Self::Config(_) | Self::Tls(_) | Self::Protocol(_) => false,
        }
    }

    fn from_smtp(e: smtp::Error) -> Self {
        let text = e.to_string();
        if let Some(code) = e.status() {
            let code = u16::from(code);
            // lettre's text is "permanent error (550): <reply>"; keep the reply.
            let message = text
                .split_once("): ")
                .map_or(text.as_str(), |(_, m)| m)
                .trim()
                .to_owned();
            return Self::Rejected { code, message };
        }
        if e.is_tls() || is_tls_failure(&e) {
            return Self::Tls(text);
        }
        if e.is_client() || e.is_transport_shutdown() {
            return Self::Protocol(text);
        }
        // Connection, network, timeout, and a reply cut short.
        Self::Connection(text)
    }
}

/// rustls reports handshake failures (bad certificate, garbage instead of TLS) as an
/// `io::Error` of kind `InvalidData`, which lettre wraps as a connection error.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            return true;
        }
        source = err.source();
    }
    false
}

impl MailTransport {
    /// An SMTP mailer from the configuration: `security` decides implicit TLS, STARTTLS
    /// (required, never opportunistic) or plain; an empty `username` means no AUTH.
    /// `extra_root_pem`: PEM of one or more extra CA certificates to trust besides the
    /// platform's (a private mail server, tests). Connect and command timeout 30 s.
    /// Must be called inside a Tokio runtime (the connection pool runs on it).
    pub fn smtp(cfg: &SmtpConfig, extra_root_pem: Option<&[u8]>) -> Result<Self, MailError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError::Config(
                "the SMTP mailer must be created inside a Tokio runtime".into(),
            ));
        }
        let server = cfg.server.trim();
        if server.is_empty() {
            return Err(MailError::Config("EMAIL_SEND_SERVER is empty".into()));
        }
        if cfg.port == 0 {
            return Err(MailError::Config("EMAIL_SEND_SERVER_PORT is 0".into()));
        }
        let tls_parameters = || -> Result<TlsParameters, MailError> {
            let mut builder = TlsParameters::builder(server.to_owned());
            if let Some(pem) = extra_root_pem {
                if !contains(pem, b"-----BEGIN CERTIFICATE-----") {
                    return Err(MailError::Config(
                        "the extra CA file holds no PEM certificate".into(),
                    ));
                }
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    MailError::Config(format!("the extra CA file is not valid PEM: {e}"))
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| MailError::Config(format!("TLS set-up for {server}: {e}")))
        };
        let tls = match cfg.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(
                PoolConfig::new()
                    .max_size(4)
                    .idle_timeout(Duration::from_secs(30)),
            );
        let username = cfg.username.trim();
        if !username.is_empty() {
            let password = cfg
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.to_owned(), password));
        }
        Ok(Self::Smtp(builder.build()))
    }

    /// A mailer that writes each message as `<dir>/<timestamp>-<message id>.eml`.
    pub fn outbox(dir: PathBuf) -> Self {
        Self::Outbox(dir)
    }

    /// Sends the message; returns a short receipt: the SMTP reply (`250 OK ...`) or the
    /// `.eml` file name.
    pub async fn send(&self, message: &Message) -> Result<String, MailError> {
        match self {
            Self::Smtp(transport) => {
                let raw = message.formatted();
                let budget = std::time::Duration::from_secs(u64::from(
                    crate::domain::timing::SMTP_SEND_BUDGET_SECONDS,
                ));
                let response =
                    tokio::time::timeout(budget, transport.send_raw(message.envelope(), &raw))
                        .await
                        .map_err(|_| {
                            MailError::Connection(format!(
                                "the delivery took longer than {} s",
                                budget.as_secs()
                            ))
                        })?
                        .map_err(MailError::from_smtp)?;
                let line = response.first_line().unwrap_or("").trim();
                let receipt = format!("{} {line}", response.code());
                Ok(receipt
                    .chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_owned())
            }
            Self::Outbox(dir) => {
                let dir = dir.clone();
                let raw = message.formatted();
                let id = message
                    .headers()
                    .get_raw("Message-ID")
                    .map(str::to_owned)
                    .unwrap_or_default();
                tokio::task::spawn_blocking(move || write_eml(&dir, &id, &raw))
                    .await
                    .map_err(|e| MailError::Outbox {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e.to_string()),
                    })?
            }
        }
    }
}

/// A recipient the mail did not go to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent {
    pub address: String,
    pub reason: String,
}

impl std::fmt::Display for NotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.address, self.reason)
    }
}

/// What [`MailTransport::deliver`] did: the receipt, and the recipients the server refused
/// (everyone else got the mail).
#[derive(Debug)]
pub struct Delivery {
    pub receipt: String,
    /// Each recipient the server refused, with the server's reply.
    pub refused: Vec<NotSent>,
}

/// At most this many one-recipient copies are tried after a refused recipient.
pub const MAX_SEPARATE_COPIES: usize = 50;

/// Whether a reply is one a server gives a single recipient at RCPT TO (mailbox busy or
/// unavailable, local error, too many recipients, no such user, bad mailbox name): then
/// the other recipients may still be fine. Every other reply (530/535 AUTH, a refused
/// MAIL FROM or message at DATA such as 552/554, 421 closing) concerns the whole mail.
pub fn is_recipient_refusal(code: u16) -> bool {
    matches!(code, 450 | 451 | 452 | 550 | 551 | 553)
}

impl MailTransport {
    /// Sends the message to every recipient of its envelope; when the SMTP server refuses
    /// a recipient (one RCPT refused stops lettre's transaction; see
    /// [`is_recipient_refusal`]) and there are several recipients, sends it once to each
    /// recipient on its own (at most [`MAX_SEPARATE_COPIES`]), so one bad address does not
    /// stop the mail to the others. Each recipient gets at most one copy. A reply that
    /// concerns the whole mail stops at once. Fails when nobody got the mail (with a
    /// transient error if any refusal was transient).
    pub async fn deliver(&self, message: &Message) -> Result<Delivery, MailError> {
        let first = match self.send(message).await {
            Ok(receipt) => {
                return Ok(Delivery {
                    receipt,
                    refused: Vec::new(),
                });
            }
            Err(e) => e,
        };
        let envelope = message.envelope();
        let recipient_level =
            matches!(first, MailError::Rejected { code, .. } if is_recipient_refusal(code));
        let (Self::Smtp(transport), true, true) = (self, recipient_level, envelope.to().len() > 1)
        else {
            return Err(first);
        };
        let raw = message.formatted();
        let mut receipts = Vec::new();
        let mut refused = Vec::new();
        let mut transient: Option<MailError> = None;
        let mut permanent: Option<MailError> = None;
        for (i, to) in envelope.to().iter().enumerate() {
            if i == MAX_SEPARATE_COPIES {
                let reason = format!(
                    "not tried: at most {MAX_SEPARATE_COPIES} recipients get a copy of their own"
                );
                for rest in &envelope.to()[i..] {
                    refused.push(NotSent {
                        address: rest.to_string(),
                        reason: reason.clone(),
                    });
                }
                break;
            }
            let one = lettre::address::Envelope::new(envelope.from().cloned(), vec![to.clone()])
                .map_err(|e| MailError::Config(e.to_string()))?;
            match transport.send_raw(&one, &raw).await {
                Ok(response) => receipts.push(format!(
                    "{} {}",
                    response.code(),
                    response.first_line().unwrap_or("").trim()
                )),
                Err(e) => {
                    let e = MailError::from_smtp(e);
                    let per_recipient =
                        matches!(e, MailError::Rejected { code, .. } if is_recipient_refusal(code));
                    if !per_recipient {
                        // Not about this recipient: the others would fail the same way.
                        tracing::warn!(recipient = %to, error = %e, "the mail server refused the mail; not trying further recipients");
                        if receipts.is_empty() {
                            return Err(e);
                        }
                        for rest in &envelope.to()[i..] {
                            refused.push(NotSent {
                                address: rest.to_string(),
                                reason: e.to_string(),
                            });
                        }
                        break;
                    }
                    tracing::warn!(recipient = %to, error = %e, "recipient refused; the others still get the mail");
                    refused.push(NotSent {
                        address: to.to_string(),
                        reason: e.to_string(),
                    });
                    if e.is_transient() {
                        transient.get_or_insert(e);
                    } else {
                        permanent.get_or_insert(e);
                    }
                }
            }
        }
        if receipts.is_empty() {
            return Err(transient.or(permanent).unwrap_or(first));
        }
        let receipt: String = format!(
            "{} of {} recipients: {}",
            receipts.len(),
            envelope.to().len(),
            receipts[0]
        )
        .chars()
        .take(200)
        .collect();
        Ok(Delivery { receipt, refused })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(MailError::Connection("refused".into()).is_transient());
        assert!(
            MailError::Rejected {
                code: 451,
                message: "later".into()
            }
            .is_transient()
        );
        assert!(
            !MailError::Rejected {
                code: 550,
                message: "no".into()
            }
            .is_transient()
        );
        assert!(!MailError::Tls("bad cert".into()).is_transient());
        assert!(!MailError::Config("x".into()).is_transient());
    }
}
