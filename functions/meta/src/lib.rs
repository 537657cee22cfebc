//! Health and the OpenAPI document of every endpoint group. The document is assembled
//! where every router is reachable (`functions/local`, `local::openapi`) and checked in
//! beside this crate as `openapi.json`: meta serves it as written and links no other
//! function crate. `make openapi` regenerates it; a test in `functions/local` fails when it
//! drifts from the routers' annotations.

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::http::with_common_layers;

/// The whole API's OpenAPI document, as `make openapi` wrote it.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

pub fn router() -> Router {
    with_common_layers(routes())
}

pub fn routes() -> Router {
    Router::new().route("/healthz", get(health)).route(
        "/api/v1/openapi.json",
        get(|| async { ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON) }),
    )
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// A merge that mangled the checked-in file would otherwise only show in the cloud.
    #[tokio::test]
    async fn serves_the_checked_in_document_as_json() {
        let response = super::router()
            .oneshot(
                Request::get("/api/v1/openapi.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[super::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"]["/api/v1/builds"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
