//! The Lambda Runtime API (2018-06-01), as much of it as a function uses: the test's
//! double that queues events and collects outcomes.

use super::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

pub(super) enum Outcome {
    Response(Bytes),
    Error { kind: String, body: Bytes },
}

#[derive(Clone)]
pub(super) struct RuntimeApi {
    pub(super) queue: mpsc::UnboundedSender<(String, String)>,
    pub(super) next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    pub(super) pending: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    pub(super) init_error: Arc<watch::Sender<Option<String>>>,
    pub(super) function_arn: String,
    pub(super) logs: Logs,
}

impl RuntimeApi {
    /// Serves the API on 127.0.0.1:0; returns it and its `host:port`.
    pub(super) async fn start(function: &str, logs: Logs) -> (Self, String) {
        let (queue, rx) = mpsc::unbounded_channel();
        let api = Self {
            queue,
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::default(),
            init_error: Arc::new(watch::channel(None).0),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            logs,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unexpected)
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (api, addr)
    }

    pub(super) fn deliver(&self, id: &str, outcome: Outcome) -> StatusCode {
        match self.pending.lock().unwrap().remove(id) {
            Some(tx) => {
                let _ = tx.send(outcome);
                StatusCode::ACCEPTED
            }
            None => {
                self.logs.push(
                    "runtime-api",
                    &format!("outcome for unknown request id {id}"),
                );
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// Blocks until the test queues an event, then hands it out with the invocation headers.
pub(super) async fn next_invocation(State(api): State<RuntimeApi>) -> Response {
    let Some((id, event)) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let deadline = now + Duration::from_secs(30);
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now.as_secs(),
        &hex[..24],
        &hex[16..],
    );
    (
        [
            ("lambda-runtime-aws-request-id", id),
            (
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            ),
            ("lambda-runtime-invoked-function-arn", api.function_arn),
            ("lambda-runtime-trace-id", trace),
            ("content-type", "application/json".to_owned()),
        ],
        event,
    )
        .into_response()
}

pub(super) async fn invocation_response(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    api.deliver(&id, Outcome::Response(body))
}

pub(super) async fn invocation_error(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    api.deliver(&id, Outcome::Error { kind, body })
}

pub(super) async fn init_error(
    State(api): State<RuntimeApi>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    api.init_error
        .send_replace(Some(format!("{kind}: {}", String::from_utf8_lossy(&body))));
    StatusCode::ACCEPTED
}

pub(super) async fn unexpected(
    State(api): State<RuntimeApi>,
    method: Method,
    uri: Uri,
) -> StatusCode {
    api.logs
        .push("runtime-api", &format!("unexpected request {method} {uri}"));
    StatusCode::NOT_FOUND
}
