//! The crate's error types: one for a definition that is refused, one for the executor,
//! and the failure a task reports.

use serde::{Deserialize, Serialize};

/// Why a definition was refused. `location` names the state and field
/// (`States.Poll.Retry[0].ErrorEquals`) so the author can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("definition uses ${{{0}}} but no substitution was given for it")]
    MissingSubstitution(String),
    #[error("definition is not valid JSON: {0}")]
    Json(String),
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

impl DefinitionError {
    pub(crate) fn invalid(location: impl Into<String>, message: impl Into<String>) -> Self {
        DefinitionError::Invalid {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A failed task invocation. `error` is the ASL error name that Retry/Catch match on
/// (`Crat.Transient`, `States.Timeout`, ...), `cause` the human explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// What the executor's operations can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorError {
    #[error("execution {0} does not exist")]
    NotFound(String),
    #[error("execution store failed: {0}")]
    Store(#[from] crate::store::ExecutionStoreError),
    #[error("execution {0} still running after the wait timed out")]
    WaitTimedOut(String),
}
