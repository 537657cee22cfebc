//! An item's flaky tests (`GET /test-items/{id}/flaky`) and one test's history across its
//! runs (`GET /test-items/{id}/tests/{test_id}/history`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde::{Deserialize, Serialize};
use shared::Deps;
use shared::auth::AuthUser;
use shared::domain::{FieldError, FlakyTest, TestId, TestItemId, TestResultOfRun, ids::BAD_ID};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{IdPath, ListResponse, PageParams, query};
use shared::services::test_results;

/// `{"items": [...]}`: every flaky entry of the item (at most 1000).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlakyList {
    pub items: Vec<FlakyTest>,
}

/// The item's flaky tests, the most recently seen first: `mixed` when a test both passed
/// and failed or broke for the same build and parameter-set version, `report` when the
/// report marks it flaky.
#[utoipa::path(get, path = "/api/v1/test-items/{id}/flaky", tag = "test-items",
    params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = FlakyList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn flaky(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<TestItemId>,
) -> ApiResult<Json<FlakyList>> {
    Ok(Json(FlakyList {
        items: test_results::flaky(&state, id).await?,
    }))
}

#[derive(Deserialize)]
pub(crate) struct HistoryPath {
    id: String,
    test_id: String,
}

/// One test's result in each run of the item, newest run first (its status per build).
#[utoipa::path(get, path = "/api/v1/test-items/{id}/tests/{test_id}/history", tag = "test-items",
    params(("id" = i64, Path, minimum = 1),
        ("test_id" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,128}$", description = "a test case's `id`"),
        PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = ListResponse<TestResultOfRun>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn history(
    State(state): State<Deps>,
    _user: AuthUser,
    Path(path): Path<HistoryPath>,
    uri: Uri,
) -> ApiResult<Json<ListResponse<TestResultOfRun>>> {
    let id: TestItemId = path.id.parse().map_err(|_| FieldError::new("id", BAD_ID))?;
    let test = TestId::parse("test_id", &path.test_id)?;
    let page: PageParams = query(&uri)?;
    let results =
        test_results::history(&state, id, &test, page.id_cursor()?, page.limit()?).await?;
    Ok(Json(ListResponse::from_page(results)))
}
