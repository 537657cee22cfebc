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
    // Shorthands, so call sites read `TaskError::new(TaskError::TRANSIENT, ..)`.
    pub const TRANSIENT: ErrorName = ErrorName::Transient;
    pub const STORE_BUSY: ErrorName = ErrorName::StoreBusy;
    pub const PACKAGE_NOT_FOUND: ErrorName = ErrorName::PackageNotFound;
    pub const INTEGRITY: ErrorName = ErrorName::IntegrityError;
    pub const TEST_SERVER: ErrorName = ErrorName::TestServerError;
    pub const TEST_FAILED: ErrorName = ErrorName::TestFailed;
    pub const TIMEOUT: ErrorName = ErrorName::Timeout;
    pub const CONFIG: ErrorName = ErrorName::ConfigError;
    pub const RUN_ENDED: ErrorName = ErrorName::RunEnded;
    pub const MAIL_TRANSIENT: ErrorName = ErrorName::MailTransient;
    pub const MAIL_FAILED: ErrorName = ErrorName::MailFailed;
    pub const RUN_FAILED: ErrorName = ErrorName::RunFailed;
    pub const FINALIZE_FAILED: ErrorName = ErrorName::FinalizeFailed;

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
            crate::ports::StoreError::Conflict(m) => Self::new(Self::STORE_BUSY, m),
            // The store's detail goes to the log; the run record gets a plain sentence.
            other => {
                tracing::error!(error = %other, "store failed during a task");
                Self::new(Self::TRANSIENT, "the store is unavailable; retrying")
            }
        }
    }
}
