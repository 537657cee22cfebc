use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// axum's own rejections (a path segment that is not UTF-8, a query value of the wrong
/// type, ...) answer `text/plain`; every error this API gives is our JSON error body.
/// Bodies that are already JSON, and successes, pass untouched (headers such as `Allow`
/// and `Retry-After` are kept).
async fn json_rejections(response: Response) -> Response {
    let status = response.status();
    // JSON is ours already; HTML is the web site's own pages (served beside the API locally).
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_ours {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (code, message) = rejection_text(status, &text);
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// The code and sentence for a rejection axum made; never the text of a 5xx.
fn rejection_text(status: StatusCode, text: &str) -> (&'static str, String) {
    let detail: String = text.trim().chars().take(300).collect();
    match status {
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") => (
            "invalid_path",
            format!(
                "a path parameter is not valid: it must be percent-encoded UTF-8 of the documented type ({detail})"
            ),
        ),
        StatusCode::BAD_REQUEST if text.contains("query string") => (
            "invalid_query",
            format!("the query string is not valid: {detail}"),
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint; see /api/v1/openapi.json".into()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", ApiError::MethodNotAllowed.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            ApiError::TooLarge(super::MAX_BODY_BYTES).to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            ApiError::UnsupportedMediaType.to_string(),
        ),
        s if s.is_server_error() => (
            "internal_error",
            "something went wrong on our side; the request id in the X-Request-Id header helps find it in the logs".into(),
        ),
        _ => ("bad_request", format!("the request was rejected: {detail}")),
    }
}

/// Request ids (kept from the caller or made up, echoed back), a tracing span per request
/// carrying that id, and our error body for unknown paths and methods.
pub fn with_common_layers(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::map_response(json_rejections))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;
    use axum::extract::Path;
    use axum::http::{Request as HttpRequest, StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        with_common_layers(
            Router::new()
                .route(
                    "/api/v1/things/{name}",
                    get(|Path(name): Path<String>| async move { name }),
                )
                .route(
                    "/api/v1/count",
                    get(
                        |axum::extract::Query(q): axum::extract::Query<
                            std::collections::HashMap<String, u8>,
                        >| async move { format!("{}", q.len()) },
                    ),
                ),
        )
    }

    async fn call(method: &str, uri: &str) -> (StatusCode, String, serde_json::Value) {
        let resp = app()
            .oneshot(
                HttpRequest::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, ctype, body)
    }

    #[tokio::test]
    async fn every_rejection_answers_the_json_error_body() {
        // A non-UTF-8 path parameter (axum's Path rejection is text/plain on its own).
        let (status, ctype, body) = call("GET", "/api/v1/things/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ctype, "application/json");
        assert_eq!(body["error"]["code"], "invalid_path");
        assert!(body["error"]["message"].as_str().unwrap().contains("UTF-8"));
        // A query value of the wrong type (axum's Query rejection).
        let (status, ctype, body) = call("GET", "/api/v1/count?n=999").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ctype, "application/json");
        assert_eq!(body["error"]["code"], "invalid_query");
        // Unknown method and unknown path keep their codes.
        let (status, ctype, body) = call("DELETE", "/api/v1/count").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(ctype, "application/json");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let (status, _, body) = call("GET", "/api/v1/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        // Success bodies are left alone.
        let (status, ctype, _) = call("GET", "/api/v1/things/abc").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ctype.starts_with("text/plain"));
    }

    #[tokio::test]
    async fn method_not_allowed_says_which_methods_are() {
        let resp = app()
            .oneshot(
                HttpRequest::builder()
                    .method("POST")
                    .uri("/api/v1/count")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let allow = resp.headers().get(header::ALLOW).unwrap().to_str().unwrap();
        assert!(allow.contains("GET"), "{allow}");
    }
}
