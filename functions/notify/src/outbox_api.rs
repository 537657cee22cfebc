//! `GET /api/v1/outbox` (admin): the mails written to the outbox folder, newest first.
//! Only the embedded mode without SMTP writes an outbox; elsewhere the list is empty.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use shared::ApiError;
use shared::Deps;
use shared::auth::AdminUser;
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ListResponse, PageParams, query};
use utoipa::OpenApi;

use shared::mail::transport::{OutboxEntry, list_outbox};

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/outbox", get(outbox))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(outbox), components(schemas(OutboxEntry, ListResponse<OutboxEntry>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Mails written to the outbox folder (embedded mode without SMTP), newest first (admin).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "mail", params(PageParams), security(("bearer" = ["admin"])),
    responses((status = 200, body = ListResponse<OutboxEntry>), (status = 403, body = ErrorBody)))]
async fn outbox(
    State(state): State<Deps>,
    _admin: AdminUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<OutboxEntry>>> {
    let page: PageParams = query(&uri)?;
    let dir = state.config.data_dir.join("outbox");
    let limit = page.limit()?;
    let items = tokio::task::spawn_blocking(move || list_outbox(&dir, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("reading the outbox: {e}")))?;
    Ok(Json(ListResponse {
        items,
        next_cursor: None,
    }))
}
