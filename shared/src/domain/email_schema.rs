//! The email rules as the OpenAPI document states them (kept apart from `email.rs`, which
//! holds the rules themselves).

/// [`super::Email::parse`]'s rules as a regular expression, for the OpenAPI document.
pub const EMAIL_PATTERN: &str = r#"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,3}@[^\W_](?:(?:[^\W_]|-)*[^\W_])?(?:\.[^\W_](?:(?:[^\W_]|-)*[^\W_])?)+\s*$"#;

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
