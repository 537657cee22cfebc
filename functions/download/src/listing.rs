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

fn parse_listing_date(date: &str, time: &str) -> Option<i64> {
    let parts: Vec<&str> = date.split('-').collect();
    let (year, month, day) = match parts.as_slice() {
        [d, mon, y] if mon.len() == 3 => (y.parse().ok()?, month_number(mon)?, d.parse().ok()?),
        [y, m, d] => (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?),
        _ => return None,
    };
    let seconds = parse_clock(time)?;
    unix_time(year, month, day, seconds)
}

/// HTTP date as nginx writes it in JSON listings: `Wed, 25 Nov 2026 18:09:50 GMT`.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, ..] = words.as_slice() else {
        return None;
    };
    unix_time(
        year.parse().ok()?,
        month_number(month)?,
        day.parse().ok()?,
        parse_clock(time)?,
    )
}

fn parse_clock(time: &str) -> Option<i64> {
    let mut parts = time.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    ((0..24).contains(&h) && (0..60).contains(&m) && (0..=60).contains(&s))
        .then_some(h * 3600 + m * 60 + s)
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Seconds since the epoch for a UTC civil date and a time of day in seconds.
/// Years outside 1..=9999 are no real modification time (and a huge one would overflow
/// the arithmetic): the date is ignored.
fn unix_time(year: i64, month: u32, day: u32, seconds_of_day: i64) -> Option<i64> {
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + seconds_of_day)
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
mod tests {
    use super::*;

    const NGINX_HTML: &str = "<html>\r\n<head><title>Index of /CDN/pass/20250613-master-abc/el7/</title></head>\r\n<body>\r\n<h1>Index of /CDN/pass/20250613-master-abc/el7/</h1><hr><pre><a href=\"../\">../</a>\r\n<a href=\"debug/\">debug/</a>                                             13-Jun-2025 10:00                   -\r\n<a href=\"cds-1.2.3-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz\">cds-1.2.3-build-20250613-master-abcdef0123456..&gt;</a> 13-Jun-2025 10:01            12345678\r\n<a href=\"cds-1.2.3.tar.gz.sha256\">cds-1.2.3.tar.gz.sha256</a>                            25-Nov-2026 18:09                  65\r\n<a href=\"a%20b%26c.tgz\">a b&amp;c.tgz</a>                                         01-Jan-1970 00:00                   0\r\n<a href=\"./x:y.tar.gz\">x:y.tar.gz</a>                                         01-Jan-2000 00:00                 12K\r\n</pre><hr></body>\r\n</html>\r\n";

    fn names(l: &Listing) -> Vec<&str> {
        l.files.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn nginx_html_names_come_from_href() {
        let l = parse_html(NGINX_HTML);
        assert_eq!(
            names(&l),
            [
                "cds-1.2.3-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz",
                "cds-1.2.3.tar.gz.sha256",
                "a b&c.tgz",
                "x:y.tar.gz"
            ]
        );
        assert_eq!(l.directories, ["debug"]);
        let long = &l.files[0];
        assert_eq!(long.size, Some(12_345_678));
        assert_eq!(long.mtime, Some(1_749_808_860)); // 2025-06-13T10:01:00Z
        assert_eq!(l.files[1].mtime, Some(1_795_630_140)); // 2026-11-25T18:09:00Z
        assert_eq!(l.files[2].mtime, Some(0));
        assert_eq!(l.files[2].size, Some(0));
        assert_eq!(l.files[3].size, None, "human sizes are not exact");
        assert_eq!(l.files[3].mtime, Some(946_684_800));
    }

    #[test]
    fn html_skips_parent_query_absolute_and_nested_links() {
        let html = r##"<a href="../">../</a>
<a href="?C=M;O=A">Last modified</a>
<a href="/etc/passwd">x</a>
<a href="//evil.example/cds-9.tar.gz">x</a>
<a href="http://evil.example/cds-9.tar.gz">cds-9.tar.gz</a>
<a href="HTTPS://evil.example/cds-9.tar.gz">cds-9.tar.gz</a>
<a href="sub/cds-9.tar.gz">x</a>
<a href="sub%2Fcds-9.tar.gz">x</a>
<a href="..">x</a>
<a href="%2E%2E">x</a>
<a href="#top">x</a>
<abbr href="cds-8.tar.gz">no</abbr>
<a name="anchor">no href</a>
<A HREF='cds-1.tar.gz' class=x>cds-1</A>
<a class="f" href=cds-2.tgz>cds-2</a>
<a data-href="no.tar.gz" href="cds-3.tar.gz">x</a>
<a href="cds-&amp;-4.tar.gz">x</a>"##;
        let l = parse_html(html);
        assert_eq!(
            names(&l),
            [
                "cds-1.tar.gz",
                "cds-2.tgz",
                "cds-3.tar.gz",
                "cds-&-4.tar.gz"
            ]
        );
        assert!(l.directories.is_empty());
    }

    #[test]
    fn html_with_no_links_is_an_empty_listing() {
        assert_eq!(
            parse_html("<html><body>nothing</body></html>"),
            Listing::default()
        );
        assert_eq!(parse_html(""), Listing::default());
        // Unterminated markup does not panic.
        assert!(parse_html("<a href=\"x.tar.gz").files.is_empty());
        assert_eq!(names(&parse_html("<a href=\"x.tar.gz\">x")), ["x.tar.gz"]);
    }

    #[test]
    fn nginx_json() {
        let body = br#"[
{ "name":"el7", "type":"directory", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT" },
{ "name":"cds-1.0 final.tar.gz", "type":"file", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT", "size":123 },
{ "name":"link", "type":"other", "mtime":"Wed, 25 Nov 2026 18:09:50 GMT" },
{ "name":"../x", "type":"file" },
{ "name":"plain.tgz" }
]"#;
        let l = parse_listing(None, body).unwrap();
        assert_eq!(names(&l), ["cds-1.0 final.tar.gz", "plain.tgz"]);
        assert_eq!(l.files[0].size, Some(123));
        assert_eq!(l.files[0].mtime, Some(1_795_630_190));
        assert_eq!(
            l.files[1],
            ListingEntry {
                name: "plain.tgz".into(),
                mtime: None,
                size: None
            }
        );
        assert_eq!(l.directories, ["el7"]);
    }

    #[test]
    fn format_detection() {
        assert_eq!(
            detect_format(Some("application/json"), b"<html>"),
            ListingFormat::Json
        );
        assert_eq!(
            detect_format(Some("text/html"), b"  \r\n[]"),
            ListingFormat::Json
        );
        assert_eq!(detect_format(None, b"\n{\"a\":1}"), ListingFormat::Json);
        assert_eq!(
            detect_format(Some("text/html; charset=utf-8"), b"<html>"),
            ListingFormat::Html
        );
        assert_eq!(detect_format(None, b""), ListingFormat::Html);
        assert!(parse_listing(Some("application/json"), b"<html>").is_err());
        assert!(parse_listing(None, b"{\"name\": \"x\"}").is_err());
    }

    #[test]
    fn decoding_helpers() {
        assert_eq!(
            percent_decode("a%20b%2fc%zz%4"),
            Some("a b/c%zz%4".to_owned())
        );
        assert_eq!(percent_decode("%C3%A9"), Some("é".to_owned()));
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(
            decode_html_entities("a&amp;b&lt;&#65;&#x42;&bogus;&"),
            "a&b<AB&bogus;&"
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(
            parse_listing_date("2025-06-13", "10:01"),
            Some(1_749_808_860)
        );
        assert_eq!(parse_listing_date("13-Foo-2025", "10:01"), None);
        assert_eq!(parse_listing_date("13-Jun-2025", "25:01"), None);
    }

    #[test]
    fn dates_with_huge_or_odd_years_are_ignored_without_overflow() {
        for year in [
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999",
            "0",
            "10000",
        ] {
            assert_eq!(
                parse_listing_date(&format!("25-Nov-{year}"), "18:09"),
                None,
                "{year}"
            );
            assert_eq!(
                parse_listing_date(&format!("{year}-11-25"), "18:09"),
                None,
                "{year}"
            );
            assert_eq!(
                parse_http_date(&format!("Wed, 25 Nov {year} 18:09:50 GMT")),
                None,
                "{year}"
            );
        }
        let html =
            "<a href=\"cds-1.tar.gz\">cds-1.tar.gz</a> 25-Nov-9223372036854775807 18:09 42\n";
        let listing = parse_html(html);
        assert_eq!(listing.files[0].mtime, None);
        assert_eq!(listing.files[0].size, Some(42));
        assert_eq!(
            parse_listing_date("25-Nov-9999", "23:59"),
            Some(253_399_190_340)
        );
        assert_eq!(parse_listing_date("01-Jan-1970", "00:00"), Some(0));
    }

    #[test]
    fn natural_order() {
        use Ordering::*;
        assert_eq!(natural_cmp("1.2.10", "1.2.9"), Greater);
        assert_eq!(natural_cmp("1.2.9", "1.2.10"), Less);
        assert_eq!(natural_cmp("-1.2", "-1.2.1"), Less);
        assert_eq!(natural_cmp("-1.10-el7", "-1.9-el8"), Greater);
        assert_eq!(natural_cmp("-20250613", "-20250612"), Greater);
        assert_eq!(
            natural_cmp("v007", "v7"),
            "v007".cmp("v7"),
            "numerically equal: byte order"
        );
        assert_eq!(natural_cmp("v007", "v8"), Less);
        assert_eq!(natural_cmp("a1", "ab"), Less, "a number sorts before text");
        assert_eq!(natural_cmp("x", "x"), Equal);
        assert_eq!(natural_cmp("", "a"), Less);
        assert_eq!(
            natural_cmp(
                "99999999999999999999999999999",
                "100000000000000000000000000000"
            ),
            Less,
            "numbers longer than u64 compare correctly"
        );
        let mut v = vec!["1.10", "1.9", "1.0.1", "1", "1.2", "1.10.0"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["1", "1.0.1", "1.2", "1.9", "1.10", "1.10.0"]);
    }
}
