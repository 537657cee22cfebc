//! Test items: what can be deployed and tested (SPEC §3 "Test items").

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use shared::auth::{AdminUser, AuthUser};
use shared::domain::AuditAction;
use shared::domain::audit::{changed, created, deleted};
use shared::domain::{TestItem, TestItemId};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, IdPath, ListResponse, PageParams, query, with_common_layers};
use shared::services::audit;
use shared::services::test_items::{self, TestItemInput};
use shared::{ApiError, Deps};
use utoipa::OpenApi;

mod test_results;

pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/test-items", get(list).post(create))
        .route(
            "/api/v1/test-items/{id}",
            get(one).put(update).delete(remove),
        )
        .route("/api/v1/test-items/{id}/flaky", get(test_results::flaky))
        .route(
            "/api/v1/test-items/{id}/tests/{test_id}/history",
            get(test_results::history),
        )
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(list, one, create, update, remove, test_results::flaky, test_results::history),
    components(schemas(TestItem, TestItemInput, ListResponse<TestItem>, test_results::FlakyList,
        ListResponse<shared::domain::TestResultOfRun>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Test items by id.
#[utoipa::path(get, path = "/api/v1/test-items", tag = "test-items", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = ListResponse<TestItem>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<TestItem>>> {
    let page: PageParams = query(&uri)?;
    let items = state
        .store
        .list_test_items(page.id_cursor()?, page.limit()?)
        .await?;
    Ok(Json(ListResponse::from_page(items)))
}

#[utoipa::path(get, path = "/api/v1/test-items/{id}", tag = "test-items", params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = TestItem), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<TestItemId>,
) -> ApiResult<Json<TestItem>> {
    let item = state
        .store
        .get_test_item(id.get())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no test item with id {id}")))?;
    Ok(Json(item))
}

/// Create a test item (admin). `name` + `job_name` are unique together.
#[utoipa::path(post, path = "/api/v1/test-items", tag = "test-items", request_body = TestItemInput, security(("bearer" = ["admin"])),
    responses((status = 201, body = TestItem), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "parameter_set_id names no parameter set, or environment_id no environment", body = ErrorBody)))]
async fn create(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    ApiJson(input): ApiJson<TestItemInput>,
) -> ApiResult<(StatusCode, Json<TestItem>)> {
    let item = test_items::create(&state, input).await?;
    let target = format!("test-item/{}", item.id);
    audit::record(
        &state,
        &admin,
        AuditAction::TestItemCreate,
        target,
        created(&item),
    )
    .await;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Replace a test item's fields (admin).
#[utoipa::path(put, path = "/api/v1/test-items/{id}", tag = "test-items", params(("id" = i64, Path, minimum = 1)), request_body = TestItemInput,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = TestItem), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "parameter_set_id names no parameter set, or environment_id no environment", body = ErrorBody)))]
async fn update(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<TestItemId>,
    ApiJson(input): ApiJson<TestItemInput>,
) -> ApiResult<Json<TestItem>> {
    let before = state.store.get_test_item(id.get()).await?;
    let item = test_items::update(&state, id, input).await?;
    let summary = changed(&before, &item);
    audit::record(
        &state,
        &admin,
        AuditAction::TestItemUpdate,
        format!("test-item/{id}"),
        summary,
    )
    .await;
    Ok(Json(item))
}

#[utoipa::path(delete, path = "/api/v1/test-items/{id}", tag = "test-items", params(("id" = i64, Path, minimum = 1)), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn remove(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<TestItemId>,
) -> ApiResult<StatusCode> {
    let before = state.store.get_test_item(id.get()).await?;
    if !state.store.delete_test_item(id.get()).await? {
        return Err(ApiError::NotFound(format!("no test item with id {id}")));
    }
    tracing::info!(%id, "test item deleted");
    audit::record(
        &state,
        &admin,
        AuditAction::TestItemDelete,
        format!("test-item/{id}"),
        deleted(&before),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
