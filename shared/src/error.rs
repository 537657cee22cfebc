//! The one HTTP error type and its status table (SPEC §3). Bodies are always
//! `{"error": {"code", "message", ...}}`; internal causes go to the log, never the body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed or invalid input; names the field.
    #[error("{0}")]
    Invalid(FieldError),
    /// 400: a body that is not JSON at all, or not the expected shape.
    #[error("{0}")]
    Malformed(String),
    /// 401: missing, invalid, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401: the admin password given at login is wrong (not a session problem).
    #[error("the admin password is wrong; check it and try again")]
    WrongPassword,
    /// 401: the token's session was replaced by a newer login of the same person (at that
    /// time), in another browser or tab.
    #[error("this session ended when you logged in from another browser at {} UTC; log in again here to go on", .0.format("%Y-%m-%d %H:%M"))]
    SessionReplaced(chrono::DateTime<chrono::Utc>),
    /// 403: valid credentials, not allowed for this role.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: unknown id or path.
    #[error("{0}")]
    NotFound(String),
    /// 409: duplicate, active run, set in use. `details` adds context (e.g. the active run).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// 405: the path exists, the method does not.
    #[error("this method is not allowed on this path; see /api/v1/openapi.json")]
    MethodNotAllowed,
    /// 413: body over the limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 415: not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// 422: valid JSON that cannot be acted on.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 429: too many attempts; retry after this many seconds.
    #[error("too many failed attempts; try again in {0} seconds")]
    TooManyRequests(u64),
    /// 500: a bug or an unavailable back end. The cause is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `invalid_field`.
    pub code: String,
    /// A human sentence saying what went wrong and how to fix it.
    pub message: String,
    /// The offending field, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::WrongPassword | Self::SessionReplaced(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_field",
            Self::Malformed(_) => "malformed_body",
            Self::Unauthorized(_) => "unauthorized",
            Self::WrongPassword => "wrong_password",
            Self::SessionReplaced(_) => "session_replaced",
            Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge(_) => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests(_) => "too_many_attempts",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn admin_only() -> Self {
        Self::Forbidden {
            code: "admin_required",
            message: "this action needs an admin session; log in with the admin password".into(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (field, message) = match self {
            Self::Invalid(e) => (Some(e.field.clone()), e.to_string()),
            Self::WrongPassword => (Some("password".to_owned()), self.to_string()),
            Self::Internal(_) => (
                None,
                "something went wrong on our side; the request id in the X-Request-Id header helps find it in the logs".into(),
            ),
            other => (None, other.to_string()),
        };
        let details = match self {
            Self::Conflict { details, .. } => details.clone(),
            Self::SessionReplaced(at) => Some(serde_json::json!({
                "logged_in_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                field,
                details,
            },
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => Self::Conflict {
                code: "conflict",
                message,
                details: None,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            // The surrounding request span carries the request id.
            tracing::error!(%cause, "request failed");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Self::TooManyRequests(secs) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
