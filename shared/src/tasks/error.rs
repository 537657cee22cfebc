use std::fmt;

pub use super::error_name::ErrorName;

/// A task failure: `name` is the ASL error name (Lambda `errorType`), `message` a sentence
/// for the run record and the mail. Names are stable: the ASL Retry/Catch lists use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub name: ErrorName,
    pub message: String,
}

impl TaskError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for TaskError {}

impl From<crate::ports::StoreError> for TaskError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Conflict(m) => Self::new(ErrorName::StoreBusy, m),
            // The store's detail goes to the log; the run record gets a plain sentence.
            other => {
                tracing::error!(error = %other, "store failed during a task");
                Self::new(ErrorName::Transient, "the store is unavailable; retrying")
            }
        }
    }
}
