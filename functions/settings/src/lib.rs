//! Settings (SPEC §3 "Settings"): typed, validated partial updates, effective at once.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use shared::AppState;
use shared::auth::{AdminUser, AuthUser};
use shared::domain::Settings;
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, with_common_layers};
use utoipa::OpenApi;

pub fn router(state: AppState) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/settings", get(read).put(update))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(read, update), components(schemas(Settings)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The current settings. None of them is a secret (secrets live in the environment).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
async fn read(State(state): State<AppState>, _user: AuthUser) -> ApiResult<Json<Settings>> {
    Ok(Json(state.settings().await?))
}

/// Change some settings (admin): only the keys sent; each is validated; the next run uses them.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", request_body = Object, security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 400, description = "a key is unknown or its value invalid (named)", body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<Settings>> {
    Ok(Json(
        shared::services::settings::patch(&state, admin.email.as_str(), &patch).await?,
    ))
}
