use std::fmt;

/// A task failure: `name` is the ASL error name (Lambda `errorType`), `message` a sentence
/// for the run record and the mail. Names are stable: the ASL Retry/Catch lists use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub name: &'static str,
    pub message: String,
}

impl TaskError {
    /// Worth retrying: connection refused/reset, 5xx, the store busy.
    pub const TRANSIENT: &'static str = "Crat.Transient";
    /// A concurrent write to the same run; retried.
    pub const STORE_BUSY: &'static str = "Crat.StoreBusy";
    pub const PACKAGE_NOT_FOUND: &'static str = "Crat.PackageNotFound";
    pub const INTEGRITY: &'static str = "Crat.IntegrityError";
    pub const TEST_SERVER: &'static str = "Crat.TestServerError";
    /// The test server reported the deploy or the tests failed.
    pub const TEST_FAILED: &'static str = "Crat.TestFailed";
    /// No result within `max_monitor_seconds`.
    pub const TIMEOUT: &'static str = "Crat.Timeout";
    /// Settings needed by the run are missing or unusable.
    pub const CONFIG: &'static str = "Crat.ConfigError";
    /// The run no longer exists or already ended (e.g. cancelled): nothing to do.
    pub const RUN_ENDED: &'static str = "Crat.RunEnded";
    /// The mail server could not take the mail right now; retried.
    pub const MAIL_TRANSIENT: &'static str = "Crat.MailTransient";
    /// The mail cannot be sent (refused, misconfigured); the run's outcome stands.
    pub const MAIL_FAILED: &'static str = "Crat.MailFailed";
    /// Ends a failed execution (the Fail state).
    pub const RUN_FAILED: &'static str = "Crat.RunFailed";
    /// Finishing the run kept failing (the last-resort lock release then marks it so).
    pub const FINALIZE_FAILED: &'static str = "Crat.FinalizeFailed";

    /// Every name the task functions may return, for the definition lint.
    pub const ALL: &'static [&'static str] = &[
        Self::TRANSIENT,
        Self::STORE_BUSY,
        Self::PACKAGE_NOT_FOUND,
        Self::INTEGRITY,
        Self::TEST_SERVER,
        Self::TEST_FAILED,
        Self::TIMEOUT,
        Self::CONFIG,
        Self::RUN_ENDED,
        Self::MAIL_TRANSIENT,
        Self::MAIL_FAILED,
        Self::RUN_FAILED,
        Self::FINALIZE_FAILED,
    ];

    pub fn new(name: &'static str, message: impl Into<String>) -> Self {
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
