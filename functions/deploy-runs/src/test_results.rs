//! A run's test cases (`GET /deploy-test-runs/{id}/tests`) and its comparison with an
//! earlier run (`GET /deploy-test-runs/{id}/compare`).

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde::Deserialize;
use shared::Deps;
use shared::auth::AuthUser;
use shared::domain::{FieldError, RunId, TestId, TestStatus};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{IdPath, PageParams, query};
use shared::services::test_results::{self, Comparison, TestCasesPage};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CaseFilter {
    /// Only cases with this status.
    #[param(value_type = Option<TestStatus>)]
    status: Option<String>,
}

/// A page's cursor: the id of the last case of the previous page, as this list handed it out.
fn case_cursor(page: &PageParams) -> Result<Option<TestId>, FieldError> {
    page.cursor()?
        .map(|text| {
            TestId::parse("cursor", &text).map_err(|_| {
                FieldError::new(
                    "cursor",
                    "is not a next_cursor returned by this list; start again without it",
                )
            })
        })
        .transpose()
}

/// A run's test cases, in id order (`test_cases`: whether they were stored, and if not, why).
#[utoipa::path(get, path = "/api/v1/deploy-test-runs/{run_id}/tests", tag = "runs",
    params(("run_id" = i64, Path, minimum = 1), CaseFilter, PageParams), security(("bearer" = [])),
    responses((status = 200, body = TestCasesPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn tests(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<RunId>,
    uri: Uri,
) -> ApiResult<Json<TestCasesPage>> {
    let filter: CaseFilter = query(&uri)?;
    let page: PageParams = query(&uri)?;
    let status = filter
        .status
        .map(|s| TestStatus::parse("status", &s))
        .transpose()?;
    let (after, limit) = (case_cursor(&page)?, page.limit()?);
    Ok(Json(
        test_results::list_cases(&state, id, status, after.as_ref(), limit).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CompareWith {
    /// The run to compare with (any item's); absent: the previous completed run of the same
    /// test item and environment with stored cases.
    #[param(value_type = Option<i64>, minimum = 1)]
    with: Option<String>,
}

/// What changed since another run: new failures, fixed, still failing, new and removed
/// tests (each list at most 1000 entries; `counts` are the full numbers). `with_run_id` is
/// null when there is no earlier run to compare with; the lists are empty when either run
/// has no stored cases (its `test_cases` says why).
#[utoipa::path(get, path = "/api/v1/deploy-test-runs/{run_id}/compare", tag = "runs",
    params(("run_id" = i64, Path, minimum = 1), CompareWith), security(("bearer" = [])),
    responses((status = 200, body = Comparison), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "no such run, or no run `with`", body = ErrorBody)))]
pub(crate) async fn compare(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<RunId>,
    uri: Uri,
) -> ApiResult<Json<Comparison>> {
    let with: CompareWith = query(&uri)?;
    let with = with
        .with
        .map(|raw| RunId::parse("with", raw.trim()))
        .transpose()?;
    Ok(Json(test_results::compare_runs(&state, id, with).await?))
}
