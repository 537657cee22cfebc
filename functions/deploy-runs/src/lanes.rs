//! The lanes' queue (`GET /queue`) and an admin's force-release of a stuck lane.

use axum::Json;
use axum::extract::{Path, State};
use shared::Deps;
use shared::auth::{AdminUser, AuthUser};
use shared::domain::AuditAction;
use shared::domain::{LaneId, Run};
use shared::error::{ApiResult, ErrorBody};
use shared::http::ApiJson;
use shared::services::audit;
use shared::services::lane_admin::{self, QueueView, ReleaseInput};

/// Every lane (test environment; `default` for items without one) with its active run and
/// its queued runs in order, each with its position and estimated start.
#[utoipa::path(get, path = "/api/v1/queue", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = QueueView), (status = 401, body = ErrorBody)))]
pub(crate) async fn queue(
    State(state): State<Deps>,
    _user: AuthUser,
) -> ApiResult<Json<QueueView>> {
    Ok(Json(lane_admin::queue_view(&state).await?))
}

/// End a stuck lane's active run (admin): FAILED with the reason, its execution stopped, its
/// failure mail sent; the lane's next queued run starts. `id`: the environment, or `default`.
#[utoipa::path(post, path = "/api/v1/environments/{id}/release", tag = "runs",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,64}$", description = "a test environment id, or `default`")),
    request_body = ReleaseInput, security(("bearer" = [])),
    responses((status = 200, description = "the released run, as it ended", body = Run),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the lane has no active run", body = ErrorBody)))]
pub(crate) async fn release(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> ApiResult<Json<Run>> {
    let lane = LaneId::parse("id", &id)?;
    let reason = input.reason.clone();
    let run = lane_admin::force_release(&state, &admin.email, &lane, input).await?;
    let summary = crate::run_facts(&run, None, &[("reason", reason.into())]);
    let action = AuditAction::EnvironmentRelease;
    audit::record(
        &state,
        &admin,
        action,
        format!("environment/{lane}"),
        summary,
    )
    .await;
    Ok(Json(run))
}
