//! The outbox adapter's files: each mail an `.eml` file in `<data>/outbox`, written so a
//! reader never sees half a message, and listed (newest first, Subject and To decoded by
//! mail-parser) for `GET /api/v1/outbox`.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::transport::MailError;

/// Only this much of an `.eml` file is read to find its headers.
const HEADER_READ_LIMIT: u64 = 64 * 1024;

static OUTBOX_SEQ: AtomicU64 = AtomicU64::new(0);

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
pub(super) fn write_eml(dir: &Path, id: &str, raw: &[u8]) -> Result<String, MailError> {
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

/// The largest outbox mail read whole (for a preview or a download).
pub const MAX_OUTBOX_MAIL_BYTES: u64 = 10 * 1024 * 1024;

/// Whether `name` is an outbox file name as [`list_outbox`] lists them: `.eml`, no path
/// separators or leading dot, at most 255 bytes of `[A-Za-z0-9._@-]`.
pub fn is_outbox_file_name(name: &str) -> bool {
    name.len() <= 255
        && name.ends_with(".eml")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// The whole `.eml` file `name` of the outbox in `dir`; `None` when there is none (or the
/// name is not one the outbox writes). Larger than [`MAX_OUTBOX_MAIL_BYTES`]: `InvalidData`.
pub fn read_outbox_mail(dir: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    if !is_outbox_file_name(name) {
        return Ok(None);
    }
    let file = match std::fs::File::open(dir.join(name)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.take(MAX_OUTBOX_MAIL_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_OUTBOX_MAIL_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the mail is larger than the preview limit",
        ));
    }
    Ok(Some(buf))
}

/// A mail as the site previews it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailPreview {
    pub subject: String,
    pub to: String,
    /// The HTML part with its inline images (`cid:`) as `data:` URIs, to show in a
    /// sandboxed frame; `null` for a mail without one.
    pub html: Option<String>,
    /// The plain-text part.
    pub text: Option<String>,
}

/// The preview of message `raw`: its HTML with every `cid:` reference to an inline part
/// replaced by that part as a `data:` URI (so the frame needs nothing from anywhere).
pub fn preview(raw: &[u8]) -> MailPreview {
    use base64::Engine as _;
    use mail_parser::MimeHeaders as _;
    let (subject, to) = subject_and_to(raw);
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else {
        return MailPreview {
            subject,
            to,
            html: None,
            text: None,
        };
    };
    let html = m.body_html(0).map(|html| {
        let mut html = html.into_owned();
        for part in m.attachments().chain(m.parts.iter()) {
            let Some(id) = part.content_id() else {
                continue;
            };
            let kind = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{sub}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            let data = base64::engine::general_purpose::STANDARD.encode(part.contents());
            let reference = format!("cid:{}", id.trim_start_matches('<').trim_end_matches('>'));
            html = html.replace(&reference, &format!("data:{kind};base64,{data}"));
        }
        html
    });
    let text = m.body_text(0).map(|t| t.into_owned());
    MailPreview {
        subject,
        to,
        html,
        text,
    }
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
}
