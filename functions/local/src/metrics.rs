//! `GET /metrics`: this process's metrics ([`shared::metrics`]) in the OpenMetrics text format
//! Prometheus scrapes, behind `METRICS_TOKEN` (a bearer token) when it is set; and the layer
//! that counts every request by the route template it matched (never the raw path).

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shared::Deps;
use shared::error::{ApiError, ApiResult};
use shared::services::lanes;
use subtle::ConstantTimeEq;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Counts the request under its route template (`/api/v1/deploy-test-runs/{id}`; the site's
/// paths are one route). Layered on the routes, so the template is known.
pub async fn count_requests(State(state): State<Deps>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.http_request(
        if route == "/{*path}" || route == "/" {
            "site"
        } else {
            &route
        },
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn scrape(State(state): State<Deps>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(expected) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return Err(ApiError::Unauthorized(
                "the metrics need METRICS_TOKEN: send it as Authorization: Bearer <token>",
            ));
        }
    }
    let mut lanes_now = Vec::new();
    for lane in lanes::lanes_in_use(&state).await? {
        let active = i64::from(state.store.get_run_lock(&lane).await?.is_some());
        let queued = state.store.queued_runs(&lane).await?.len() as i64;
        lanes_now.push((lane.as_str().to_owned(), active, queued));
    }
    state.metrics.set_lanes(&lanes_now);
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response())
}
