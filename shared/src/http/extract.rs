use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::domain::FieldError;
use crate::error::ApiError;

/// Request bodies above this are refused with 413 (SPEC §3).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body: 415 unless `Content-Type: application/json`, 413 above 64 KiB,
/// 400 naming the field when a value has the wrong shape.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(ApiError::TooLarge(MAX_BODY_BYTES));
        }
        let bytes = read_limited(req.into_body()).await?;
        let mut json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("body is not valid JSON: {e}")))?;
        integral_numbers(&mut json);
        let value = serde_path_to_error::deserialize(json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::Malformed(format!("body is not valid JSON: {inner}"))
            } else if path == "." || path.is_empty() {
                // Top-level problems: wrong type or a missing field serde names itself.
                let msg = inner.to_string();
                match msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.starts_with("missing field"))
                {
                    Some(field) => ApiError::Invalid(FieldError::new(field, "is required")),
                    None => ApiError::Malformed(format!("body: {}", strip_position(&msg))),
                }
            } else {
                ApiError::Invalid(FieldError::new(path, strip_position(&inner.to_string())))
            }
        })?;
        Ok(Self(value))
    }
}

/// JSON does not tell `203` from `203.0` (RFC 8259 has one number type, and JSON Schema's
/// `integer` admits both): a top-level field written as an integral float is read as the
/// integer, so ids and counts accept either spelling. Nested values (a parameter set's
/// `params`) are kept exactly as sent.
fn integral_numbers(json: &mut serde_json::Value) {
    let Some(obj) = json.as_object_mut() else {
        return;
    };
    for v in obj.values_mut() {
        if let Some(f) = v.as_f64().filter(|_| v.is_f64())
            && f.fract() == 0.0
            && f.abs() < 9_007_199_254_740_992.0
        {
            #[allow(clippy::cast_possible_truncation)]
            let n = f as i64;
            *v = serde_json::Value::from(n);
        }
    }
}

async fn read_limited(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let too_long = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_long {
                ApiError::TooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::Malformed("the request body could not be read".into())
            }
        })
}

/// serde_json appends " at line 1 column 9"; the field name says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// A record id from the route's path parameter (`/{run_id}`, `/{id}`): 400 naming that
/// parameter unless a positive integer, before the handler runs. The route has exactly one
/// parameter; `T` is one of the id types in [`crate::domain::ids`].
#[derive(Debug, Clone, Copy)]
pub struct IdPath<T>(pub T);

impl<S: Send + Sync, T: std::str::FromStr> FromRequestParts<S> for IdPath<T> {
    /// A segment that is not UTF-8 keeps axum's own rejection (the common layers answer it
    /// as `invalid_path`, as for every other path parameter).
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some((field, raw)) = params.first() else {
            return Err(
                ApiError::Internal("IdPath on a route without a parameter".into()).into_response(),
            );
        };
        raw.parse().map(Self).map_err(|_| {
            ApiError::Invalid(FieldError::new(field, crate::domain::ids::BAD_ID)).into_response()
        })
    }
}

/// Parses the query string into `T`: 400 naming the parameter when a value has the wrong shape.
pub fn query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, ApiError> {
    serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::Malformed(format!("query string: {e}")))
}

/// `Option<ApiJson<T>>`: no body at all (no Content-Type, or an empty one) is `None`;
/// anything else must be valid JSON as for [`ApiJson`].
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        let untyped = !req.headers().contains_key(header::CONTENT_TYPE);
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        if empty || (untyped && !chunked) {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}
