//! `GET /api/v1/outbox` (admin): the mails written to the outbox folder, newest first.
//! Only the embedded mode without SMTP writes an outbox; elsewhere the list is empty.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shared::ApiError;
use shared::Deps;
use shared::auth::AdminUser;
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ListResponse, PageParams, query};
use utoipa::OpenApi;

use shared::mail::transport::{
    MailPreview, OutboxEntry, is_outbox_file_name, list_outbox, read_outbox_mail,
};

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/outbox", get(outbox))
        .route("/api/v1/outbox/{file}", get(download))
        .route("/api/v1/outbox/{file}/preview", get(preview))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(outbox, download, preview), components(schemas(OutboxEntry, ListResponse<OutboxEntry>, MailPreview)))]
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

/// The outbox mail `file` (a name as the list gives it), read off the async workers.
async fn mail_file(state: &Deps, file: String) -> ApiResult<Vec<u8>> {
    if !is_outbox_file_name(&file) {
        return Err(ApiError::NotFound(format!(
            "no mail {file:?} in the outbox: use a file name GET /api/v1/outbox lists"
        )));
    }
    let dir = state.config.data_dir.join("outbox");
    let name = file.clone();
    tokio::task::spawn_blocking(move || read_outbox_mail(&dir, &name))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("reading the outbox: {e}")))?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no mail {file:?} in the outbox (it may have been removed)"
            ))
        })
}

/// One outbox mail as written, to download (`message/rfc822`, admin).
#[utoipa::path(get, path = "/api/v1/outbox/{file}", tag = "mail",
    params(("file" = String, Path, pattern = r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,250}\.eml$", description = "a file name the list gives")),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "the .eml file", content_type = "message/rfc822", body = String),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download(
    State(state): State<Deps>,
    _admin: AdminUser,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let raw = mail_file(&state, file.clone()).await?;
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        raw,
    )
        .into_response())
}

/// One outbox mail to preview (admin): subject, To, the text, and the HTML with its inline
/// chart as `data:` URIs, for a sandboxed frame.
#[utoipa::path(get, path = "/api/v1/outbox/{file}/preview", tag = "mail",
    params(("file" = String, Path, pattern = r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,250}\.eml$", description = "a file name the list gives")),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = MailPreview), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn preview(
    State(state): State<Deps>,
    _admin: AdminUser,
    Path(file): Path<String>,
) -> ApiResult<Json<MailPreview>> {
    let raw = mail_file(&state, file).await?;
    Ok(Json(shared::mail::transport::preview(&raw)))
}
