//! The email rules as the OpenAPI document states them (kept apart from `email.rs`, which
//! holds the rules themselves).

/// [`super::Email::parse`]'s rules as a regular expression, for the OpenAPI document.
/// Stricter than the parser where that is simpler: domains are ASCII letters, digits and
/// hyphens (the mailer's IDNA check refuses some Unicode that `is_alphanumeric` lets through),
/// labels at most 63 characters; the whitespace trimmed around is exactly Rust's (Python's
/// `\s` also takes the controls U+001C..U+001F, which the parser refuses).
pub const EMAIL_PATTERN: &str = r#"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,3}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"#;

/// An email address as the API accepts it (documentation of [`super::Email::parse`]'s rules).
pub struct EmailText;

impl utoipa::PartialSchema for EmailText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(254))
            .pattern(Some(EMAIL_PATTERN))
            .into()
    }
}

impl utoipa::ToSchema for EmailText {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::EMAIL_PATTERN;
    use crate::domain::Email;
    use proptest::prelude::*;

    fn matches(s: &str) -> bool {
        regex_lite::Regex::new(EMAIL_PATTERN).unwrap().is_match(s)
    }

    #[test]
    fn the_pattern_takes_only_what_the_parser_takes() {
        for ok in [
            "dev@example.com",
            " Dev.Ops+x@Mail-1.Example.COM\t",
            "a@b.co",
        ] {
            assert!(matches(ok), "{ok:?}");
            Email::parse("email", ok).unwrap();
        }
        let long_label = format!("a@{}.com", "b".repeat(64));
        for refused in [
            "dev@bücher.example",
            "dev@ex_ample.com",
            "dev@-example.com",
            "a..b@example.com",
            "\u{1c}dev@example.com",
            long_label.as_str(),
        ] {
            assert!(!matches(refused), "{refused:?}");
        }
        assert!(Email::parse("email", &long_label).is_err());
        assert!(Email::parse("email", "\u{1c}dev@example.com").is_err());
    }

    proptest! {
        #[test]
        fn every_address_the_pattern_describes_parses(
            s in proptest::string::string_regex(
                EMAIL_PATTERN.trim_start_matches('^').trim_end_matches('$')
            ).unwrap()
        ) {
            prop_assume!(s.chars().count() <= 254);
            prop_assert!(Email::parse("email", &s).is_ok(), "{:?}", s);
        }
    }
}
