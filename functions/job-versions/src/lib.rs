//! Job versions: the selected build of each job (SPEC §3 "Job versions").
//! Job names contain `/`: in paths they are percent-encoded (`team%2FCDN_CORE`). API Gateway
//! HTTP APIs hand Lambda the path DECODED (`team/CDN_CORE`), so the job name is the rest of
//! the path, whatever its `/`s, and `POST .../sync` is told apart by its last segment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use shared::Deps;
use shared::auth::{AdminUser, AuthUser};
use shared::domain::audit::{changed, deleted, facts};
use shared::domain::{AuditAction, JobSelection};
use shared::domain::{JobName, JobVersion};
use shared::error::{ApiError, ApiResult, ErrorBody};
use shared::http::{ApiJson, ListResponse, with_common_layers};
use shared::services::audit;
use shared::services::job_versions::{self, AutoSyncMove, AutoSyncReport, SelectInput};
use utoipa::OpenApi;

pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/job-versions", put(select).get(list))
        .route("/api/v1/job-versions/auto-sync", post(auto_sync))
        // `{job_name}` and `{job_name}/sync`, for encoded and decoded job names alike.
        .route(
            "/api/v1/job-versions/{*rest}",
            get(one)
                .delete(remove)
                .post(sync_now)
                .fallback(method_not_allowed),
        )
        .with_state(state)
}

/// One route serves `{job_name}` (GET, DELETE) and `{job_name}/sync` (POST): a 405 names
/// the methods of the path it answers, as the OpenAPI document lists them (the router's own
/// Allow header would list all four for both).
async fn method_not_allowed(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allow = if uri.path().ends_with("/sync") {
        "POST"
    } else {
        "GET,HEAD,DELETE"
    };
    (
        [(axum::http::header::ALLOW, allow)],
        ApiError::MethodNotAllowed,
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(paths(list, one, select, sync_now, remove, auto_sync),
    components(schemas(JobVersion, SelectInput, AutoSyncReport, AutoSyncMove, ListResponse<JobVersion>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every selection, by job name.
#[utoipa::path(get, path = "/api/v1/job-versions", tag = "job-versions", security(("bearer" = [])),
    responses((status = 200, body = ListResponse<JobVersion>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<Deps>,
    _user: AuthUser,
) -> ApiResult<Json<ListResponse<JobVersion>>> {
    Ok(Json(ListResponse {
        items: job_versions::list(&state).await?,
        next_cursor: None,
    }))
}

/// One job's selection, with the selected build.
#[utoipa::path(get, path = "/api/v1/job-versions/{job_name}", tag = "job-versions", params(("job_name" = String, Path, description = "percent-encoded", min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")),
    security(("bearer" = [])), responses((status = 200, body = JobVersion), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<Deps>,
    _user: AuthUser,
    Path(rest): Path<String>,
) -> ApiResult<Json<JobVersion>> {
    let job = JobName::parse("job_name", &rest)?;
    Ok(Json(job_versions::get(&state, &job).await?))
}

/// Select a build of a job (it must belong to that job).
#[utoipa::path(put, path = "/api/v1/job-versions", tag = "job-versions", request_body = SelectInput, security(("bearer" = [])),
    responses((status = 200, body = JobVersion), (status = 400, body = ErrorBody), (status = 422, description = "no such build, or it belongs to another job", body = ErrorBody)))]
async fn select(
    State(state): State<Deps>,
    user: AuthUser,
    ApiJson(input): ApiJson<SelectInput>,
) -> ApiResult<Json<JobVersion>> {
    let before = match JobName::parse("job_name", &input.job_name) {
        Ok(job) => state.store.get_job_selection(&job).await?,
        Err(_) => None,
    };
    let after = job_versions::select(&state, user.email.as_str(), input).await?;
    record_move(
        &state,
        &user,
        AuditAction::JobSelectionUpdate,
        before,
        &after,
    )
    .await;
    Ok(Json(after))
}

/// The audit entry of a selection that moved (or was made): its build before and after.
async fn record_move(
    state: &Deps,
    user: &AuthUser,
    action: AuditAction,
    before: Option<JobSelection>,
    after: &JobVersion,
) {
    let view = |build_id: i64, build_number: Option<String>, auto_sync: bool, on_new: bool| {
        json!({"build_id": build_id, "build_number": build_number, "auto_sync": auto_sync,
            "sync_on_new_build": on_new})
    };
    let before = before.map(|s| {
        let number = Some(s.build_number.to_string());
        view(s.build_id, number, s.auto_sync, s.sync_on_new_build)
    });
    let number = after.build.as_ref().map(|b| b.build_number.to_string());
    let after_view = view(
        after.build_id,
        number,
        after.auto_sync,
        after.sync_on_new_build,
    );
    let summary = changed(&before.unwrap_or_default(), &after_view);
    let target = format!("job/{}", after.job_name);
    audit::record(state, user, action, target, summary).await;
}

/// Select the job's newest build now.
#[utoipa::path(post, path = "/api/v1/job-versions/{job_name}/sync", tag = "job-versions", params(("job_name" = String, Path, description = "percent-encoded", min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")),
    security(("bearer" = [])), responses((status = 200, body = JobVersion), (status = 422, description = "the job has no builds", body = ErrorBody)))]
async fn sync_now(
    State(state): State<Deps>,
    user: AuthUser,
    Path(rest): Path<String>,
) -> ApiResult<Json<JobVersion>> {
    // `<job name>/sync`: the job name is everything before the last segment.
    let Some(job) = rest.strip_suffix("/sync") else {
        return Err(ApiError::NotFound(format!(
            "no such endpoint: POST /api/v1/job-versions/{rest}; to select a job's newest \
             build, POST /api/v1/job-versions/{{job_name}}/sync"
        )));
    };
    let job = JobName::parse("job_name", job)?;
    let before = state.store.get_job_selection(&job).await?;
    let after = job_versions::sync_now(&state, user.email.as_str(), &job).await?;
    record_move(&state, &user, AuditAction::JobSelectionSync, before, &after).await;
    Ok(Json(after))
}

/// Remove a job's selection (admin).
#[utoipa::path(delete, path = "/api/v1/job-versions/{job_name}", tag = "job-versions", params(("job_name" = String, Path, description = "percent-encoded", min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")),
    security(("bearer" = ["admin"])), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    Path(rest): Path<String>,
) -> ApiResult<StatusCode> {
    let job = JobName::parse("job_name", &rest)?;
    let before = state.store.get_job_selection(&job).await?;
    job_versions::delete(&state, &job).await?;
    let target = format!("job/{job}");
    audit::record(
        &state,
        &admin,
        AuditAction::JobSelectionDelete,
        target,
        deleted(&before),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Run auto-sync now (admin; the schedule runs it hourly).
#[utoipa::path(post, path = "/api/v1/job-versions/auto-sync", tag = "job-versions", security(("bearer" = ["admin"])),
    responses((status = 200, body = AutoSyncReport), (status = 403, body = ErrorBody)))]
async fn auto_sync(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
) -> ApiResult<Json<AutoSyncReport>> {
    let report = job_versions::auto_sync(&state).await?;
    let summary = facts(&[("report", json!(report))]);
    let action = AuditAction::JobSelectionAutoSync;
    audit::record(&state, &admin, action, "job-versions", summary).await;
    Ok(Json(report))
}
