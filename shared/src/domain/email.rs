use std::fmt;

use serde::{Deserialize, Serialize};

use super::field::{FieldError, has_control};

/// An email address, lower-cased. Accepted only when the mailer would accept it too
/// (`lettre::Address`, RFC 5321 dot-atoms: no `a..b@`), plus our own limits: one `@`, a
/// dotted domain, no spaces or control characters, at most 254 bytes (64 in the local part).
/// The address is normalised (trimmed, lower-cased) *before* it is checked, so what is
/// accepted re-parses to itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Reads as its text wherever a `&str` is taken (formatting, mail, logs).
impl std::ops::Deref for Email {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Email {
    pub const MAX_BYTES: usize = 254;
    pub const MAX_LOCAL_BYTES: usize = 64;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be an email address such as dev@example.com");
        // Cheap bound before any allocation: lower-casing at most triples the length.
        if raw.len() > 4 * Self::MAX_BYTES {
            return Err(bad());
        }
        let s = raw.trim().to_lowercase();
        let s = s.trim();
        if s.is_empty()
            || s.len() > Self::MAX_BYTES
            || has_control(s)
            || s.contains(char::is_whitespace)
        {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if local.is_empty()
            || local.len() > Self::MAX_LOCAL_BYTES
            || domain.contains('@')
            || local.contains(['<', '>', '"', ',', ';', '(', ')', '[', ']', '\\'])
            || !domain.contains('.')
            || !domain.split('.').all(label_ok)
        {
            return Err(bad());
        }
        // The mailer's own rules: what is accepted here can always be sent to.
        if s.parse::<lettre::Address>().is_err() {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// An address as stored by this or an older version of CRAT, whose rules were laxer
    /// (`a..b@example.com` was accepted): normalised as [`Email::parse`] does, but only an
    /// unusable value (no `@`, spaces, control characters, over-long) is refused, so
    /// records saved under the old rules stay readable and repairable. Input is always
    /// checked with [`Email::parse`].
    pub fn from_stored(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be an email address such as dev@example.com");
        if raw.len() > 4 * Self::MAX_BYTES {
            return Err(bad());
        }
        let s = raw.trim().to_lowercase();
        let s = s.trim();
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || s.len() > Self::MAX_BYTES
            || has_control(s)
            || s.contains(char::is_whitespace)
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// True when `allowed` is empty or holds this address's domain (exact, case-insensitive).
    pub fn domain_allowed(&self, allowed: &[String]) -> bool {
        allowed.is_empty()
            || allowed.iter().any(|d| {
                d.trim()
                    .trim_start_matches('@')
                    .eq_ignore_ascii_case(self.domain())
            })
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        assert_eq!(
            Email::parse("email", " Dev@Example.COM ").unwrap().as_str(),
            "dev@example.com"
        );
    }

    #[test]
    fn stored_addresses_are_read_with_the_old_rules() {
        for (stored, read) in [
            ("a..b@example.com", "a..b@example.com"),
            (" Dev@Example.COM ", "dev@example.com"),
            (".a@example.com", ".a@example.com"),
        ] {
            assert_eq!(Email::from_stored("e", stored).unwrap().as_str(), read);
        }
        for unusable in [
            "",
            "dev",
            "@example.com",
            "dev@",
            "a b@example.com",
            "a@b\r\nBcc: x",
        ] {
            assert_eq!(Email::from_stored("e", unusable).unwrap_err().field, "e");
        }
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in [
            "",
            "dev",
            "dev@",
            "@example.com",
            "dev@example",
            "a b@example.com",
            "dev@exa_mple.com",
            "a@b@example.com",
            "dev@example.com\r\nBcc: x",
            "<a>@example.com",
            "dev@-example.com",
            "dev@example..com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
        ] {
            let err = Email::parse("email", bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad:?}");
        }
    }

    #[test]
    fn the_limit_is_checked_on_the_lowercased_form() {
        // 'İ' is 2 bytes, its lowercase "i̇" 3: 32 of them pass a check on the raw form.
        let raw = format!("{}@example.com", "İ".repeat(32));
        assert!(raw.split_once('@').unwrap().0.len() <= 64);
        assert_eq!(Email::parse("email", &raw).unwrap_err().field, "email");
        // Whatever is accepted re-parses to itself.
        let ok = format!("{}@example.com", "İ".repeat(21));
        let e = Email::parse("email", &ok).unwrap();
        assert_eq!(Email::parse("email", e.as_str()).unwrap(), e);
    }

    #[test]
    fn domain_allow_list() {
        let e = Email::parse("email", "dev@corp.example").unwrap();
        assert!(e.domain_allowed(&[]));
        assert!(e.domain_allowed(&["CORP.example".into()]));
        assert!(e.domain_allowed(&["@corp.example".into()]));
        assert!(!e.domain_allowed(&["other.example".into()]));
        assert!(!e.domain_allowed(&["example".into()]));
    }
}
