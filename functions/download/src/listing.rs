//! Parsing the package server's directory listing: nginx `autoindex` HTML and
//! `autoindex_format json`.
//!
//! Names always come from the link target (`href`), HTML-unescaped then percent-decoded,
//! never from the link text: nginx cuts the text of names longer than 50 characters to
//! 47 characters plus `..>`. Only plain names of entries directly inside the listed
//! folder are kept: `../`, query links (`?C=M;O=A`), fragments and absolute links
//! (`/x`, `//host/x`, `http://host/x`) are skipped, so a listing can never point the
//! download elsewhere. Sub-folders (a target ending in `/`) are reported separately.

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDateTime};
use serde::Deserialize;

/// One file of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    /// The decoded file name (no `/`, never `.` or `..`).
    pub name: String,
    /// Modification time, seconds since the Unix epoch (nginx prints UTC unless
    /// `autoindex_localtime on`), when the listing shows one.
    pub mtime: Option<i64>,
    /// Size in bytes when the listing shows the exact size (`autoindex_exact_size on`,
    /// nginx's default, or the JSON format).
    pub size: Option<u64>,
}

/// The parsed listing: files, and the names of sub-folders (for error messages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub files: Vec<ListingEntry>,
    pub directories: Vec<String>,
}

impl Listing {
    /// The file called exactly `name`, if listed.
    pub fn file(&self, name: &str) -> Option<&ListingEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Which syntax the listing body uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFormat {
    Html,
    Json,
}

/// Why a listing could not be read (a human phrase, no internals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListingError(pub String);

/// JSON when the `Content-Type` says so or the first non-space byte is `[` or `{`;
/// HTML otherwise.
pub fn detect_format(content_type: Option<&str>, body: &[u8]) -> ListingFormat {
    if content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json")) {
        return ListingFormat::Json;
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[' | b'{') => ListingFormat::Json,
        _ => ListingFormat::Html,
    }
}

/// Parses a listing body in whichever format it uses.
pub fn parse_listing(content_type: Option<&str>, body: &[u8]) -> Result<Listing, ListingError> {
    match detect_format(content_type, body) {
        ListingFormat::Json => parse_json(body),
        ListingFormat::Html => Ok(parse_html(&String::from_utf8_lossy(body))),
    }
}

#[derive(Deserialize)]
struct JsonEntry {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    mtime: Option<String>,
    size: Option<u64>,
}

/// nginx `autoindex_format json`:
/// `[{"name":"x.tar.gz","type":"file","mtime":"Wed, 25 Nov 2026 18:09:50 GMT","size":123}]`.
/// Names are not escaped in this format. Entries of type `directory` are sub-folders;
/// only `file` entries (or entries without a type) are files.
pub fn parse_json(body: &[u8]) -> Result<Listing, ListingError> {
    let entries: Vec<JsonEntry> = serde_json::from_slice(body).map_err(|e| {
        ListingError(format!(
            "it is not a JSON array of {{\"name\", \"type\", \"mtime\", \"size\"}} entries (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let mut listing = Listing::default();
    for entry in entries {
        let name = entry.name.trim_end_matches('/');
        if !is_plain_name(name) {
            tracing::debug!(name = %entry.name, "listing entry skipped: not a plain name");
            continue;
        }
        match entry.kind.as_deref() {
            Some("directory") => listing.directories.push(name.to_owned()),
            None | Some("file") if !entry.name.ends_with('/') => listing.files.push(ListingEntry {
                name: name.to_owned(),
                mtime: entry.mtime.as_deref().and_then(parse_http_date),
                size: entry.size,
            }),
            None => listing.directories.push(name.to_owned()),
            Some(other) => tracing::debug!(name, kind = other, "listing entry skipped: not a file"),
        }
    }
    Ok(listing)
}

/// nginx autoindex HTML: `<a href="NAME">TEXT</a>` followed by padding, the date
/// (`dd-Mon-yyyy HH:MM`) and the size (bytes, a human size like `12K`, or `-` for folders).
/// Tolerates other servers' markup: any `<a ... href=...>` tag, single or double quotes,
/// entities in the attribute, `./name` targets.
pub fn parse_html(body: &str) -> Listing {
    let lower = body.to_ascii_lowercase();
    let mut listing = Listing::default();
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("<a") {
        let start = pos + found + 2;
        pos = start;
        if !lower[start..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue; // <abbr>, <area>, ...
        }
        let Some(tag_len) = lower[start..].find('>') else {
            break;
        };
        let tag = &body[start..start + tag_len];
        let after_tag = start + tag_len + 1;
        pos = after_tag;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        // The rest of the line after `</a>` carries the date and the size.
        let rest = match lower[after_tag..].find("</a>") {
            Some(close) => {
                let rest_start = after_tag + close + 4;
                pos = rest_start;
                let rest_len = body[rest_start..]
                    .find(['\n', '\r', '<'])
                    .unwrap_or(body.len() - rest_start);
                &body[rest_start..rest_start + rest_len]
            }
            None => "",
        };
        match classify_href(&href) {
            Href::File(name) => {
                let (mtime, size) = parse_row_tail(rest);
                listing.files.push(ListingEntry { name, mtime, size });
            }
            Href::Directory(name) => listing.directories.push(name),
            Href::Skip(why) => tracing::trace!(href = %href, why, "listing link skipped"),
        }
    }
    listing
}

enum Href {
    File(String),
    Directory(String),
    Skip(&'static str),
}

fn classify_href(raw: &str) -> Href {
    let href = decode_html_entities(raw.trim());
    if href.contains(['?', '#']) {
        return Href::Skip("query or fragment");
    }
    if href.starts_with('/') || href.starts_with('\\') || has_scheme(&href) {
        return Href::Skip("absolute link");
    }
    // nginx writes `./name` for names containing ':' (so they do not read as a scheme).
    let href = href.strip_prefix("./").unwrap_or(&href);
    let (encoded, is_dir) = match href.strip_suffix('/') {
        Some(dir) => (dir, true),
        None => (href, false),
    };
    if encoded.contains('/') {
        return Href::Skip("not directly inside the folder");
    }
    let Some(name) = percent_decode(encoded) else {
        return Href::Skip("not UTF-8 once decoded");
    };
    if !is_plain_name(&name) {
        return Href::Skip("not a plain name");
    }
    if is_dir {
        Href::Directory(name)
    } else {
        Href::File(name)
    }
}

/// A name that can only mean an entry of this folder and a file name on disk.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// `scheme:` at the start (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":").
fn has_scheme(href: &str) -> bool {
    let Some(colon) = href.find(':') else {
        return false;
    };
    let scheme = &href[..colon];
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The value of attribute `name` in the inside of a start tag (`<a` and `>` excluded).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'/')
        {
            i += 1;
        }
        let attr = &tag[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            if attr.is_empty() {
                i += 1; // a stray character: step over it
            }
            continue; // attribute without a value
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let value_start = i + 1;
                let len = tag[value_start..]
                    .find(q as char)
                    .unwrap_or(tag.len() - value_start);
                i = value_start + len + 1;
                &tag[value_start..value_start + len]
            }
            _ => {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[value_start..i]
            }
        };
        if attr.eq_ignore_ascii_case(name) {
            return Some(value.to_owned());
        }
    }
    None
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&#NN;`, `&#xNN;`; anything else is kept as is.
pub(crate) fn decode_html_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity.strip_prefix('#').and_then(|num| {
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse::<u32>().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-decoding to UTF-8; `None` when the bytes are not UTF-8. A `%` not followed by
/// two hex digits is kept literally.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The text after `</a>` on an autoindex row: `dd-Mon-yyyy HH:MM   size`
/// (also accepts `yyyy-mm-dd HH:MM[:SS]`, as Apache and others print).
fn parse_row_tail(rest: &str) -> (Option<i64>, Option<u64>) {
    let mut words = rest.split_whitespace();
    let (Some(date), Some(time)) = (words.next(), words.next()) else {
        return (None, None);
    };
    let mtime = parse_listing_date(date, time);
    let size = words.next().and_then(|s| s.parse::<u64>().ok());
    (mtime, size)
}

/// The row's date and time in the forms listings print: nginx's `dd-Mon-yyyy HH:MM[:SS]`,
/// Apache's and others' `yyyy-mm-dd HH:MM[:SS]`, read as UTC.
fn parse_listing_date(date: &str, time: &str) -> Option<i64> {
    const FORMATS: [&str; 4] = [
        "%d-%b-%Y %H:%M",
        "%d-%b-%Y %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ];
    let text = format!("{date} {time}");
    FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
        .and_then(real_mtime)
}

/// HTTP date as nginx writes it in JSON listings: `Wed, 25 Nov 2026 18:09:50 GMT`. The
/// weekday is not checked and the zone is taken as GMT (nginx writes nothing else).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, ..] = words.as_slice() else {
        return None;
    };
    const FORMATS: [&str; 2] = ["%d %b %Y %H:%M:%S", "%d %b %Y %H:%M"];
    let text = format!("{day} {month} {year} {time}");
    FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
        .and_then(real_mtime)
}

/// Seconds since the epoch. Years outside 1..=9999 are no real modification time: the
/// date is ignored.
fn real_mtime(at: NaiveDateTime) -> Option<i64> {
    (1..=9999)
        .contains(&at.year())
        .then(|| at.and_utc().timestamp())
}

/// Version-aware natural order: runs of ASCII digits compare as numbers (any length,
/// leading zeros ignored), everything else byte by byte; a number sorts before text at
/// the same position, and a name that is a prefix of the other sorts first. Names equal
/// under these rules fall back to plain byte order, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(cx), Some(cy)) => {
                let (dx, dy) = (cx.is_ascii_digit(), cy.is_ascii_digit());
                let (tx, rx) = split_run(x, dx);
                let (ty, ry) = split_run(y, dy);
                let ord = match (dx, dy) {
                    (true, true) => cmp_numbers(tx, ty),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => tx.cmp(ty),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
                (x, y) = (rx, ry);
            }
        }
    }
}

fn split_run(s: &[u8], digits: bool) -> (&[u8], &[u8]) {
    let len = s
        .iter()
        .position(|b| b.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(len)
}

fn cmp_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
