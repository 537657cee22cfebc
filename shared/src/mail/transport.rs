//! Delivery of the result mails: SMTP (lettre, implicit TLS / STARTTLS / plain, optional
//! AUTH, an optional extra trusted CA) or the outbox folder (`.eml` files, listed in the
//! UI through [`list_outbox`]).
//!
//! Errors say whether a retry can help ([`MailError::is_transient`]): connection
//! problems, timeouts and 4xx replies are transient; 5xx replies, TLS failures
//! (untrusted certificate, wrong name, not TLS) and configuration mistakes are permanent.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{SmtpConfig, SmtpSecurity};
use chrono::{DateTime, Utc};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{self, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

/// Connect and per-command timeout.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Only this much of an `.eml` file is read to find its headers.
const HEADER_READ_LIMIT: u64 = 64 * 1024;

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

static OUTBOX_SEQ: AtomicU64 = AtomicU64::new(0);

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

/// The Message-ID as a file-name part: `[A-Za-z0-9._@-]`, others `_`, at most 100 chars.
fn sanitize_id(id: &str) -> String {
    let s: String = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() { "message".into() } else { s }
}

/// Writes `raw` to a temporary file, flushes it, then links it under its final name
/// (never replacing an existing file), so readers never see half a message.
fn write_eml(dir: &Path, id: &str, raw: &[u8]) -> Result<String, MailError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MailError::Outbox { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let base = format!("{stamp}-{}", sanitize_id(id));
    let tmp = dir.join(format!(
        ".{base}.{}.{}.tmp",
        std::process::id(),
        OUTBOX_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(raw).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        for n in 0..1000 {
            let name = if n == 0 {
                format!("{base}.eml")
            } else {
                format!("{base}-{n}.eml")
            };
            let target = dir.join(&name);
            match std::fs::hard_link(&tmp, &target) {
                Ok(()) => return Ok(name),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // No hard links on this file system: a rename, after checking the name is free.
                Err(_) if !target.exists() => {
                    std::fs::rename(&tmp, &target).map_err(io(&target))?;
                    return Ok(name);
                }
                Err(e) => return Err(io(&target)(e)),
            }
        }
        Err(io(dir)(std::io::Error::other("no free file name")))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// One `.eml` file of the outbox, for `GET /api/v1/outbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub file: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// The decoded Subject header ("" when absent).
    pub subject: String,
    /// The decoded To header ("" when absent).
    pub to: String,
}

/// The outbox's `.eml` files, newest first, at most `limit`. A missing folder is empty.
pub fn list_outbox(dir: &Path, limit: usize) -> std::io::Result<Vec<OutboxEntry>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".eml") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue }; // removed meanwhile
        if !meta.is_file() {
            continue;
        }
        let modified: DateTime<Utc> = meta
            .modified()
            .map(DateTime::from)
            .unwrap_or(DateTime::UNIX_EPOCH);
        files.push((name, meta.len(), modified));
    }
    files.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.0.cmp(&a.0)));
    files.truncate(limit);
    let mut out = Vec::with_capacity(files.len());
    for (file, size, modified) in files {
        let (subject, to) = match read_subject_and_to(&dir.join(&file)) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.push(OutboxEntry {
            subject,
            to,
            file,
            size,
            modified,
        });
    }
    Ok(out)
}

/// The decoded (RFC 2047, by mail-parser) Subject and To of a message file's headers.
fn read_subject_and_to(path: &Path) -> std::io::Result<(String, String)> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(HEADER_READ_LIMIT)
        .read_to_end(&mut buf)?;
    Ok(subject_and_to(&buf))
}

/// Subject and To (`Name <address>, ...`) of a message's headers; `""` for each absent one.
fn subject_and_to(headers: &[u8]) -> (String, String) {
    let Some(m) = mail_parser::MessageParser::new().parse_headers(headers) else {
        return Default::default();
    };
    let subject = m.subject().unwrap_or_default().to_owned();
    let to = m.to().map_or_else(String::new, |list| {
        list.iter()
            .map(|a| match (a.name(), a.address()) {
                (Some(name), Some(address)) => format!("{name} <{address}>"),
                (name, address) => name.or(address).unwrap_or_default().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    (subject, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Subject header `value`, decoded as the outbox listing decodes it.
    fn decoded(value: &str) -> String {
        subject_and_to(format!("Subject: {value}\r\nTo: a@example.com\r\n\r\nbody").as_bytes()).0
    }

    #[test]
    fn encoded_words_decode() {
        assert_eq!(decoded("plain text"), "plain text");
        assert_eq!(
            decoded("=?utf-8?b?W0NSQVRdIGNkcyDigJQgOTgvMTAwIHBhc3NlZA==?="),
            "[CRAT] cds — 98/100 passed"
        );
        // Two adjacent words across a folded line: the whitespace between them goes. (Each
        // word holds whole characters, RFC 2047 §5, as lettre writes them.)
        assert_eq!(decoded("=?utf-8?b?4oCU?=\r\n =?utf-8?b?b2s=?= x"), "—ok x");
        assert_eq!(
            decoded("a =?UTF-8?Q?caf=C3=A9_au_lait?= b"),
            "a café au lait b"
        );
        assert_eq!(decoded("=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(decoded("x =? y ?= z"), "x =? y ?= z");
        let (_, to) =
            subject_and_to(b"To: =?utf-8?q?J=C3=B6rg?= <j@example.com>, b@example.com\r\n\r\n");
        assert_eq!(to, "Jörg <j@example.com>, b@example.com");
        assert_eq!(
            subject_and_to(b"X-Other: 1\r\n\r\n"),
            (String::new(), String::new())
        );
    }

    #[test]
    fn ids_become_safe_file_names() {
        assert_eq!(
            sanitize_id("<crat.run-1.result.5.0@example.com>"),
            "crat.run-1.result.5.0@example.com"
        );
        assert_eq!(sanitize_id("<../../etc/passwd>"), "_.._etc_passwd");
        assert_eq!(sanitize_id(""), "message");
    }

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
