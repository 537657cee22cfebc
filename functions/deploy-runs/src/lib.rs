//! Deploy-test runs: trigger, list, detail, and the state machine execution behind a run
//! (SPEC §3 "Deploy-test runs"), and the lanes' queue.

mod lanes;
mod test_results;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shared::auth::AuthUser;
use shared::domain::AuditAction;
use shared::domain::FieldError;
use shared::domain::audit::facts;
use shared::domain::run_estimate::RunEstimate;
use shared::domain::{Run, RunId, RunStatus, TestItemId};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, IdPath, ListResponse, PageParams, query, with_common_layers};
use shared::services::audit;
use shared::services::lane_admin::{LaneView, QueueView, ReleaseInput};
use shared::services::lanes::AdmittedRun;
use shared::services::runs::{self, RerunInput, TriggerInput};
use shared::workflow::WorkflowStarter;
use shared::workflow::{ExecutionView, HistoryError, HistoryRequest};
use shared::{ApiError, Deps};
use utoipa::OpenApi;

pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/test-items/{id}/deploy-test", post(trigger))
        .route("/api/v1/test-items/{id}/deploy-runs", get(runs_of_item))
        .route("/api/v1/deploy-test-runs", get(list))
        .route("/api/v1/deploy-test-runs/{run_id}", get(one))
        .route(
            "/api/v1/deploy-test-runs/{run_id}/execution",
            get(execution),
        )
        .route("/api/v1/deploy-test-runs/{run_id}/estimate", get(estimate))
        .route("/api/v1/deploy-test-runs/{run_id}/cancel", post(cancel))
        .route("/api/v1/deploy-test-runs/{run_id}/rerun", post(rerun))
        .route(
            "/api/v1/deploy-test-runs/{run_id}/tests",
            get(test_results::tests),
        )
        .route(
            "/api/v1/deploy-test-runs/{run_id}/compare",
            get(test_results::compare),
        )
        .route("/api/v1/queue", get(lanes::queue))
        .route("/api/v1/environments/{id}/release", post(lanes::release))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(trigger, runs_of_item, list, one, estimate, execution, cancel, rerun, lanes::queue, lanes::release,
        test_results::tests, test_results::compare),
    components(schemas(Run, AdmittedRun, TriggerInput, RerunInput, ExecutionView, EstimateView, RunEstimate, ListResponse<Run>, QueueView, LaneView, ReleaseInput,
        shared::services::test_results::TestCasesPage, shared::services::test_results::Comparison)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn find(state: &Deps, id: RunId) -> ApiResult<Run> {
    state
        .store
        .get_run(id.get())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run with id {id}")))
}

/// Start a deploy-test run of a test item, or queue it behind its lane's active run (status
/// QUEUED with `queue_position` and `estimated_start_at`). Without `build_info_id`, the job's
/// selected build; `{"queue": false}` fails fast with 409 instead of queueing.
#[utoipa::path(post, path = "/api/v1/test-items/{id}/deploy-test", tag = "runs", params(("id" = i64, Path, minimum = 1)),
    request_body(content = TriggerInput, description = "optional: an empty body or no body means the selected build"),
    security(("bearer" = [])),
    responses((status = 202, description = "started or queued; the body is the new run", body = AdmittedRun),
        (status = 404, body = ErrorBody),
        (status = 409, description = "with queue false: another run is active (error.details.active_run); the same person's run of this build and item is already queued or active (run_duplicate); the lane's queue is full", body = ErrorBody),
        (status = 422, description = "disabled item, no selected build, build of another job, settings incomplete", body = ErrorBody)))]
async fn trigger(
    State(state): State<Deps>,
    user: AuthUser,
    IdPath(id): IdPath<TestItemId>,
    body: Option<ApiJson<TriggerInput>>,
) -> ApiResult<(StatusCode, Json<AdmittedRun>)> {
    let input = body.map(|ApiJson(b)| b).unwrap_or_default();
    let run = runs::trigger(&state, &user.email, id, input).await?;
    let summary = run_facts(&run.run, run.queue_position, &[]);
    audit::record(
        &state,
        &user,
        AuditAction::RunTrigger,
        format!("run/{}", run.id),
        summary,
    )
    .await;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// A test item's runs, newest first.
#[utoipa::path(get, path = "/api/v1/test-items/{id}/deploy-runs", tag = "runs", params(("id" = i64, Path, minimum = 1), PageParams),
    security(("bearer" = [])), responses((status = 200, body = ListResponse<Run>), (status = 404, body = ErrorBody)))]
async fn runs_of_item(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<TestItemId>,
    uri: Uri,
) -> ApiResult<Json<ListResponse<Run>>> {
    if state.store.get_test_item(id.get()).await?.is_none() {
        return Err(ApiError::NotFound(format!("no test item with id {id}")));
    }
    let page: PageParams = query(&uri)?;
    let runs = state
        .store
        .list_runs_of_item(id.get(), page.id_cursor()?, page.limit()?)
        .await?;
    Ok(Json(ListResponse::from_page(runs)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RunFilter {
    /// Only runs with this status, e.g. `MONITORING`.
    #[param(value_type = Option<shared::domain::RunStatus>)]
    status: Option<String>,
}

/// Runs, newest first.
#[utoipa::path(get, path = "/api/v1/deploy-test-runs", tag = "runs", params(RunFilter, PageParams), security(("bearer" = [])),
    responses((status = 200, body = ListResponse<Run>), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<Run>>> {
    let filter: RunFilter = query(&uri)?;
    let page: PageParams = query(&uri)?;
    let status = filter
        .status
        .map(|s| RunStatus::parse("status", &s))
        .transpose()?;
    let runs = state
        .store
        .list_runs(status, page.id_cursor()?, page.limit()?)
        .await?;
    Ok(Json(ListResponse::from_page(runs)))
}

/// One run with its steps.
#[utoipa::path(get, path = "/api/v1/deploy-test-runs/{run_id}", tag = "runs", params(("run_id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<RunId>,
) -> ApiResult<Json<Run>> {
    Ok(Json(find(&state, id).await?))
}

/// A live run's remaining time.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EstimateView {
    /// `null` when the run has ended or its test item has no completed run to go by.
    pub estimate: Option<RunEstimate>,
}

/// How long a live run has left: the median time of each step over its test item's newest
/// completed runs, laid over the run's own steps so far.
#[utoipa::path(get, path = "/api/v1/deploy-test-runs/{run_id}/estimate", tag = "runs", params(("run_id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = EstimateView), (status = 404, body = ErrorBody)))]
async fn estimate(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<RunId>,
) -> ApiResult<Json<EstimateView>> {
    let run = find(&state, id).await?;
    let estimate = shared::services::run_estimate::estimate_for(&state, &run).await?;
    Ok(Json(EstimateView { estimate }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// Events per page, 1–1000 (default 1000).
    limit: Option<String>,
    /// `next_cursor` of the previous page (same `order`).
    cursor: Option<String>,
    /// `oldest` (default: from ExecutionStarted on) or `newest` (the latest events first).
    order: Option<String>,
}

impl HistoryParams {
    const DEFAULT_LIMIT: usize = 1000;
    const MAX_LIMIT: usize = 1000;
    /// Step Functions' nextToken is at most 1024 characters; base64 makes it 4/3 longer.
    const MAX_CURSOR: usize = 2048;

    fn request(self) -> Result<HistoryRequest, FieldError> {
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => Self::DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=Self::MAX_LIMIT).contains(n))
                .ok_or_else(|| FieldError::new("limit", "must be an integer from 1 to 1000"))?,
        };
        let newest_first = match self.order.as_deref().map(str::trim) {
            None | Some("") | Some("oldest") => false,
            Some("newest") => true,
            Some(_) => return Err(FieldError::new("order", "must be oldest or newest")),
        };
        let page = PageParams {
            limit: None,
            cursor: self.cursor,
        };
        Ok(HistoryRequest {
            limit,
            cursor: page.cursor_within(Self::MAX_CURSOR)?,
            newest_first,
        })
    }
}

fn bad_cursor() -> FieldError {
    FieldError::new(
        "cursor",
        "is not a next_cursor of this execution's history (in this order); start again without it",
    )
}

/// The state machine execution of a run: current state and one page of its history
/// (Step Functions event names), oldest first unless `order=newest`.
#[utoipa::path(get, path = "/api/v1/deploy-test-runs/{run_id}/execution", tag = "runs",
    params(("run_id" = i64, Path, minimum = 1), HistoryParams),
    security(("bearer" = [])), responses((status = 200, body = ExecutionView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn execution(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<RunId>,
    uri: Uri,
) -> ApiResult<Json<ExecutionView>> {
    let run = find(&state, id).await?;
    let page = query::<HistoryParams>(&uri)?.request()?;
    let mut view = state
        .workflow
        .describe_page(&run.execution_id, &page)
        .await
        .map_err(|e| match e {
            HistoryError::BadCursor => ApiError::from(bad_cursor()),
            HistoryError::Unavailable(e) => {
                ApiError::Internal(format!("describing {}: {e}", run.execution_id))
            }
        })?
        .ok_or_else(|| ApiError::NotFound(format!("run {} has no execution record", run.id)))?;
    view.next_cursor = view.next_cursor.as_deref().map(shared::http::encode_cursor);
    Ok(Json(view))
}

/// Cancel a live or queued run (the person who triggered it, or an admin): CANCELLED, no
/// result mail; a queued run never starts.
#[utoipa::path(post, path = "/api/v1/deploy-test-runs/{run_id}/cancel", tag = "runs", params(("run_id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 403, description = "not your run", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "the run already ended (`run_ended`), or it kept changing while being cancelled (`run_busy`: try again)", body = ErrorBody)))]
async fn cancel(
    State(state): State<Deps>,
    user: AuthUser,
    IdPath(id): IdPath<RunId>,
) -> ApiResult<Json<Run>> {
    let run = runs::cancel(&state, &user.email, user.is_admin, id).await?;
    let summary = run_facts(&run, None, &[]);
    audit::record(
        &state,
        &user,
        AuditAction::RunCancel,
        format!("run/{id}"),
        summary,
    )
    .await;
    Ok(Json(run))
}

/// What an audit entry says about a run: its item, build and where it stands.
/// `more` adds facts of the action.
pub(crate) fn run_facts(
    run: &Run,
    queue_position: Option<usize>,
    more: &[(&str, serde_json::Value)],
) -> serde_json::Value {
    let mut pairs = vec![
        ("run_id", run.id.get().into()),
        ("test_item_id", run.test_item_id.get().into()),
        ("job_name", run.build.job_name.as_str().into()),
        ("build_number", run.build.build_number.to_string().into()),
        ("status", run.status.as_str().into()),
        ("lane", run.lane.as_str().into()),
        ("queue_position", queue_position.into()),
    ];
    pairs.extend(more.iter().cloned());
    facts(&pairs)
}

/// Start a new run with the same build and parameter snapshot; `{"only_failed": true}` runs
/// only the tests that failed or broke in it (an Allure test plan in the trigger body).
#[utoipa::path(post, path = "/api/v1/deploy-test-runs/{run_id}/rerun", tag = "runs", params(("run_id" = i64, Path, minimum = 1)),
    request_body(content = RerunInput, description = "optional: no body or `{}` re-runs the whole suite"),
    security(("bearer" = [])),
    responses((status = 202, description = "started or queued; the body is the new run (with `test_plan` when only_failed)", body = AdmittedRun),
        (status = 400, description = "a body that is not the JSON object described, or an unknown key", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the same run is already queued or active", body = ErrorBody),
        (status = 422, description = "disabled or deleted item, settings incomplete; with only_failed: the run has no failed or broken test stored (`no_failed_tests`), or their plan is too large (`test_plan_too_large`)", body = ErrorBody)))]
async fn rerun(
    State(state): State<Deps>,
    user: AuthUser,
    IdPath(id): IdPath<RunId>,
    body: Option<ApiJson<RerunInput>>,
) -> ApiResult<(StatusCode, Json<AdmittedRun>)> {
    let input = body.map(|ApiJson(b)| b).unwrap_or_default();
    let only_failed = input.only_failed;
    let run = runs::rerun_with(&state, &user.email, id, input).await?;
    let more = [
        ("rerun_of", id.get().into()),
        ("only_failed", only_failed.into()),
    ];
    let summary = run_facts(&run.run, run.queue_position, &more);
    audit::record(
        &state,
        &user,
        AuditAction::RunRerun,
        format!("run/{}", run.id),
        summary,
    )
    .await;
    Ok((StatusCode::ACCEPTED, Json(run)))
}
