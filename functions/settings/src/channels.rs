//! Notification channels (admin): where finished runs are announced besides the mail
//! (issue 15). The secret is write-only: answers show `secret_set`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shared::Deps;
use shared::auth::AdminUser;
use shared::domain::audit::{changed, created, deleted};
use shared::domain::{AuditAction, ChannelId, ChannelView};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, IdPath};
use shared::services::audit;
use shared::services::channels::{self, ChannelBody, ChannelTestAnswer};

/// Every channel, by id (at most 100).
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notification-channels", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<ChannelView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Deps>,
    _admin: AdminUser,
) -> ApiResult<Json<Vec<ChannelView>>> {
    Ok(Json(channels::list(&state).await?))
}

#[utoipa::path(get, path = "/api/v1/notification-channels/{id}", tag = "notification-channels", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ChannelView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn one(
    State(state): State<Deps>,
    _admin: AdminUser,
    IdPath(id): IdPath<ChannelId>,
) -> ApiResult<Json<ChannelView>> {
    Ok(Json(ChannelView::from(&channels::get(&state, id).await?)))
}

/// Create a channel (admin).
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notification-channels", request_body = ChannelBody,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = ChannelView), (status = 400, description = "a field is invalid (named)", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, description = "100 channels exist already", body = ErrorBody),
        (status = 422, description = "test_item_not_found: an id in test_item_ids names no test item", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<(StatusCode, Json<ChannelView>)> {
    let view = ChannelView::from(&channels::create(&state, &body).await?);
    let target = format!("channel/{}", view.id);
    let summary = created(&view);
    audit::record(&state, &admin, AuditAction::ChannelCreate, target, summary).await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Replace a channel's fields (admin); the secret is kept unless `secret` is sent.
#[utoipa::path(put, path = "/api/v1/notification-channels/{id}", tag = "notification-channels", params(("id" = i64, Path, minimum = 1)),
    request_body = ChannelBody, security(("bearer" = ["admin"])),
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "test_item_not_found: an id in test_item_ids names no test item", body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<ChannelId>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<Json<ChannelView>> {
    let before = ChannelView::from(&channels::get(&state, id).await?);
    let after = ChannelView::from(&channels::update(&state, id, &body).await?);
    let summary = changed(&before, &after);
    audit::record(
        &state,
        &admin,
        AuditAction::ChannelUpdate,
        format!("channel/{id}"),
        summary,
    )
    .await;
    Ok(Json(after))
}

#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notification-channels", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = ["admin"])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<ChannelId>,
) -> ApiResult<StatusCode> {
    let before = ChannelView::from(&channels::get(&state, id).await?);
    channels::delete(&state, id).await?;
    audit::record(
        &state,
        &admin,
        AuditAction::ChannelDelete,
        format!("channel/{id}"),
        deleted(&before),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test message through the channel (admin) and answer what the platform said.
/// It changes nothing, so it writes no audit entry.
#[utoipa::path(post, path = "/api/v1/notification-channels/{id}/test", tag = "notification-channels", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "`delivered: false` with the platform's answer when it refused", body = ChannelTestAnswer),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn test(
    State(state): State<Deps>,
    _admin: AdminUser,
    IdPath(id): IdPath<ChannelId>,
) -> ApiResult<Json<ChannelTestAnswer>> {
    Ok(Json(channels::test(&state, id).await?))
}
