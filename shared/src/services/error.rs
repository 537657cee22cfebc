//! What a use case can fail with, free of HTTP: the API renders it as an [`ApiError`] (the
//! same status, code and message as before services had their own type), scheduled work
//! (sweeper, auto-sync, tasks) as a [`TaskError`].

use crate::tasks::ErrorName;
use serde_json::Value;

use crate::domain::FieldError;
use crate::error::ApiError;
use crate::ports::StoreError;
use crate::tasks::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input names a field that is not valid.
    #[error("{0}")]
    Invalid(FieldError),
    /// No such thing (an unknown id).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this to that thing (e.g. cancel another user's run).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// It clashes with what exists (a duplicate, an active run, a set in use).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// Understood, but it cannot be acted on (a disabled item, incomplete settings).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A back end failed; the text is for the log.
    #[error("{0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// A record looked up by id is not there: "no {what} with id {id}".
    pub fn no_such(what: &str, id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("no {what} with id {id}"))
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(e) => Self::Invalid(e),
            ServiceError::NotFound(m) => Self::NotFound(m),
            ServiceError::Forbidden { code, message } => Self::Forbidden { code, message },
            ServiceError::Conflict {
                code,
                message,
                details,
            } => Self::Conflict {
                code,
                message,
                details,
            },
            ServiceError::Unprocessable { code, message } => Self::Unprocessable { code, message },
            ServiceError::Store(e) => e.into(),
            ServiceError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<ServiceError> for TaskError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            // A concurrent change: trying again later may succeed.
            ServiceError::Conflict { message, .. } => Self::new(ErrorName::StoreBusy, message),
            ServiceError::Internal(cause) => {
                tracing::error!(%cause, "a service failed during scheduled work");
                Self::new(ErrorName::Transient, "a back end is unavailable; retrying")
            }
            ServiceError::NotFound(m) => Self::new(ErrorName::RunEnded, m),
            // What the settings or the data say cannot change by retrying.
            other @ (ServiceError::Invalid(_)
            | ServiceError::Forbidden { .. }
            | ServiceError::Unprocessable { .. }) => {
                Self::new(ErrorName::ConfigError, other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_rendering_keeps_status_code_and_message() {
        let cases: Vec<(ServiceError, u16, &str, &str)> = vec![
            (
                ServiceError::no_such("run", 7),
                404,
                "not_found",
                "no run with id 7",
            ),
            (
                ServiceError::Forbidden {
                    code: "not_your_run",
                    message: "only a@b.c".into(),
                },
                403,
                "not_your_run",
                "only a@b.c",
            ),
            (
                ServiceError::Conflict {
                    code: "run_ended",
                    message: "run 7 already ended".into(),
                    details: None,
                },
                409,
                "run_ended",
                "run 7 already ended",
            ),
            (
                ServiceError::Unprocessable {
                    code: "item_disabled",
                    message: "disabled".into(),
                },
                422,
                "item_disabled",
                "disabled",
            ),
            (
                StoreError::Conflict("taken".into()).into(),
                409,
                "conflict",
                "taken",
            ),
        ];
        for (service, status, code, message) in cases {
            let api = ApiError::from(service);
            assert_eq!(api.status().as_u16(), status, "{api:?}");
            assert_eq!(api.code(), code);
            assert_eq!(api.body().error.message, message);
        }
        let internal = ApiError::from(ServiceError::Internal("sfn down".into()));
        assert_eq!(internal.status().as_u16(), 500);
        assert!(!internal.body().error.message.contains("sfn down"));
    }

    #[test]
    fn scheduled_work_gets_task_error_names() {
        let name = |e: ServiceError| TaskError::from(e).name;
        assert_eq!(
            name(StoreError::Conflict("moved".into()).into()),
            ErrorName::StoreBusy
        );
        assert_eq!(
            name(ServiceError::Internal("x".into())),
            ErrorName::Transient
        );
        assert_eq!(
            name(ServiceError::NotFound("gone".into())),
            ErrorName::RunEnded
        );
        let unprocessable = TaskError::from(ServiceError::Unprocessable {
            code: "settings_incomplete",
            message: "set the test server URL".into(),
        });
        assert_eq!(unprocessable.name, ErrorName::ConfigError);
        assert_eq!(unprocessable.message, "set the test server URL");
    }
}
