/// A value from outside that failed to parse: names the field and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// True for C0/C1 control characters and DEL.
pub(crate) fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}
