//! Small validated values used by test items, parameter sets and settings.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Email;
use super::field::{FieldError, has_control};

/// A service name such as `cds` or `ssgagent`: the prefix of its package file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let ok = (1..=64).contains(&s.len())
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be 1–64 letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. cds)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute http(s) URL with a host, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| {
            FieldError::new(
                field,
                format!("must be an absolute http(s) URL such as http://host:8080 ({why})"),
            )
        };
        let url = http_url_with_host(raw.trim(), &bad, "credentials in URLs are not allowed")?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("no query or fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A web origin, `scheme://host[:port]` (http or https), kept as the WHATWG URL standard
/// serialises it: scheme and host lower-case, an IDN host in punycode, the default port
/// (80, 443) left out, no trailing slash. So `HTTP://Reports.Example:80/` reads as
/// `http://reports.example`, and what is stored re-reads identically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Origin(String);

impl Origin {
    /// The longest origin accepted (characters).
    pub const MAX_LEN: usize = 300;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| {
            FieldError::new(
                field,
                format!("must be an origin such as http://reports.example:8080 ({why})"),
            )
        };
        let s = raw.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(bad(&format!("longer than {} characters", Self::MAX_LEN)));
        }
        let url = http_url_with_host(s, &bad, "no credentials")?;
        if url.path() != "/" {
            return Err(bad("no path: scheme, host and port only"));
        }
        if url.query().is_some() || url.fragment().is_some() || s.contains(['?', '#']) {
            return Err(bad("no query or fragment"));
        }
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// The origin of an http(s) URL with a host (`None` for any other URL).
    pub fn of_url(url: &url::Url) -> Option<Self> {
        (matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
            .then(|| Self(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The checks an [`HttpUrl`] and an [`Origin`] share: no control characters, an http(s)
/// URL with a host and without credentials (refused as `credentials`).
fn http_url_with_host(
    s: &str,
    bad: &dyn Fn(&str) -> FieldError,
    credentials: &str,
) -> Result<url::Url, FieldError> {
    if has_control(s) {
        return Err(bad("control characters"));
    }
    let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(credentials));
    }
    Ok(url)
}

/// A list of origins: normalised, de-duplicated, at most [`MAX_ORIGINS`].
pub fn parse_origin_list(field: &str, raw: &[String]) -> Result<Vec<Origin>, FieldError> {
    parse_unique_list(field, raw, MAX_ORIGINS, "origins", Origin::parse)
}

/// The most origins a list may hold.
pub const MAX_ORIGINS: usize = 20;

/// A list of email addresses: de-duplicated, at most 50.
pub fn parse_email_list(field: &str, raw: &[String]) -> Result<Vec<Email>, FieldError> {
    parse_unique_list(field, raw, 50, "addresses", Email::parse)
}

/// At most `max` values, each parsed as `field[i]`, the first of equal ones kept.
fn parse_unique_list<T: PartialEq>(
    field: &str,
    raw: &[String],
    max: usize,
    what: &str,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    if raw.len() > max {
        return Err(FieldError::new(
            field,
            format!("must list at most {max} {what}"),
        ));
    }
    let mut out: Vec<T> = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let value = parse(&format!("{field}[{i}]"), s)?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// A domain name for the login allow-list, lower-cased, without a leading `@`.
pub fn parse_domain(field: &str, raw: &str) -> Result<String, FieldError> {
    let d = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if d.len() <= 253 && d.contains('.') && d.split('.').all(label_ok) {
        Ok(d)
    } else {
        Err(FieldError::new(
            field,
            "must be a domain such as example.com",
        ))
    }
}

/// Short free text (names, descriptions): no control characters except newlines and tabs.
pub fn parse_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let n = raw.chars().count();
    if n < min || n > max {
        return Err(FieldError::new(
            field,
            if min > 0 {
                format!("must be {min}–{max} characters")
            } else {
                format!("must be at most {max} characters")
            },
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        for ok in ["cds", "ssgagent", "sls-2", "a.b_c"] {
            assert!(ServiceName::parse("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a/b", "a b", "x".repeat(65).as_str(), "ü"] {
            assert_eq!(
                ServiceName::parse("name", bad).unwrap_err().field,
                "name",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn http_urls() {
        assert_eq!(
            HttpUrl::parse("u", "http://127.0.0.1:8080/pkgs/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/pkgs"
        );
        assert_eq!(
            HttpUrl::parse("u", "https://example.com").unwrap().as_str(),
            "https://example.com"
        );
        for bad in [
            "",
            "example.com",
            "ftp://x.example",
            "http://",
            "http://u:p@x.example",
            "http://x.example/?a=1",
            "javascript:alert(1)",
            "http://x.example/a\nb",
        ] {
            assert_eq!(HttpUrl::parse("u", bad).unwrap_err().field, "u", "{bad:?}");
        }
    }

    #[test]
    fn origins_are_normalised_and_reread_identically() {
        for (raw, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("HTTP://Reports.Example:80/", "http://reports.example"),
            ("https://reports.example:443", "https://reports.example"),
            (
                "https://reports.example:8443/",
                "https://reports.example:8443",
            ),
            ("  http://[::1]:9000  ", "http://[::1]:9000"),
            ("http://bücher.example", "http://xn--bcher-kva.example"),
        ] {
            let o = Origin::parse("o", raw).unwrap();
            assert_eq!(o.as_str(), want, "{raw}");
            assert_eq!(Origin::parse("o", o.as_str()).unwrap(), o, "re-read {raw}");
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), o);
        }
        for bad in [
            "",
            "reports.example",
            "ftp://reports.example",
            "http://",
            "http://u:p@reports.example",
            "http://reports.example/reports",
            "http://reports.example//",
            "http://reports.example/?a=1",
            "http://reports.example#x",
            "http://reports.example:99999",
            "http://reports\n.example",
            &format!("http://{}.example", "a".repeat(300)),
        ] {
            assert_eq!(Origin::parse("o", bad).unwrap_err().field, "o", "{bad:?}");
        }
        let list = parse_origin_list(
            "report_origins",
            &["http://A.example".into(), "http://a.example:80/".into()],
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            parse_origin_list("report_origins", &["http://a.example".into(), "x".into()])
                .unwrap_err()
                .field,
            "report_origins[1]"
        );
        assert!(parse_origin_list("report_origins", &vec!["http://a.example".into(); 21]).is_err());
    }

    #[test]
    fn email_lists_and_domains() {
        let l = parse_email_list(
            "notify_emails",
            &["A@example.com".into(), "a@example.com".into()],
        )
        .unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            parse_email_list("notify_emails", &["x".into()])
                .unwrap_err()
                .field,
            "notify_emails[0]"
        );
        // The mailer's rules: one bad address is refused at input, named by position.
        let err = parse_email_list(
            "notify_cc",
            &["qa@example.com".into(), "a..b@example.com".into()],
        )
        .unwrap_err();
        assert_eq!(err.field, "notify_cc[1]");
        assert_eq!(parse_domain("d", "@Corp.Example").unwrap(), "corp.example");
        assert!(parse_domain("d", "localhost").is_err());
        assert!(parse_domain("d", "a..b").is_err());
    }

    #[test]
    fn text_limits() {
        assert!(parse_text("description", "two\nlines", 0, 500).is_ok());
        assert_eq!(parse_text("name", "", 1, 100).unwrap_err().field, "name");
        assert!(parse_text("name", "a\u{1b}[31m", 1, 100).is_err());
    }
}
