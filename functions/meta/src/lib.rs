//! Health and the OpenAPI document of every endpoint group. The document is assembled
//! here from each function crate's own `openapi()`, so an endpoint joins it by being
//! annotated where it is written.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::http::with_common_layers;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

pub fn router() -> Router {
    with_common_layers(routes())
}

pub fn routes() -> Router {
    let doc = openapi();
    Router::new().route("/healthz", get(health)).route(
        "/api/v1/openapi.json",
        get(move || async move { Json(doc.clone()) }),
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

/// The whole API: every group merged, with the bearer scheme declared.
pub fn openapi() -> OpenApi {
    let mut doc = builds::openapi();
    doc.merge(auth::openapi());
    doc.merge(test_items::openapi());
    doc.merge(parameter_sets::openapi());
    doc.merge(job_versions::openapi());
    doc.merge(settings::openapi());
    doc.merge(deploy_runs::openapi());
    doc.merge(notify::outbox_api::openapi());
    doc.info = InfoBuilder::new()
        .title("CRAT API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some("CDN Regression Automation Trigger: Jenkins webhook, builds, auth, test items, parameter sets, job versions, settings, deploy-test runs. Errors are {\"error\": {\"code\", \"message\"}}."))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    let error_schema = <shared::error::ErrorBody as utoipa::PartialSchema>::schema();
    components.schemas.insert("ErrorBody".into(), error_schema);
    components.schemas.insert(
        "ErrorDetail".into(),
        <shared::error::ErrorDetail as utoipa::PartialSchema>::schema(),
    );
    doc
}
