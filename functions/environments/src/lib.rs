//! Test environments: the test servers runs go to (issue 13). A test item without one
//! uses the default environment, the settings' `external_test_server_url`.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use shared::auth::{AdminUser, AuthUser};
use shared::domain::AuditAction;
use shared::domain::audit::{changed, created, deleted};
use shared::domain::{Environment, EnvironmentId};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, IdPath, ListResponse, PageParams, query, with_common_layers};
use shared::services::audit;
use shared::services::environments::{self, EnvironmentInput};
use utoipa::OpenApi;

pub fn router(state: shared::Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: shared::Deps) -> Router {
    Router::new()
        .route("/api/v1/environments", get(list).post(create))
        .route(
            "/api/v1/environments/{id}",
            get(one).put(update).delete(remove),
        )
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(list, one, create, update, remove), components(schemas(Environment, EnvironmentInput, ListResponse<Environment>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Environments by id.
#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = ListResponse<Environment>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<shared::Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<Environment>>> {
    let page: PageParams = query(&uri)?;
    let after = page.id_cursor()?.map(EnvironmentId::from_stored);
    let envs = state.store.list_environments(after, page.limit()?).await?;
    Ok(Json(ListResponse::from_page(envs)))
}

#[utoipa::path(get, path = "/api/v1/environments/{id}", tag = "environments", params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = Environment), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<shared::Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<EnvironmentId>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(environments::get(&state, id).await?))
}

/// Create an environment (admin). `name` is unique.
#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", request_body = EnvironmentInput, security(("bearer" = ["admin"])),
    responses((status = 201, body = Environment), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the name is taken", body = ErrorBody)))]
async fn create(
    State(state): State<shared::Deps>,
    AdminUser(admin): AdminUser,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    let environment = environments::create(&state, input).await?;
    let target = format!("environment/{}", environment.id);
    let summary = created(&environment);
    audit::record(
        &state,
        &admin,
        AuditAction::EnvironmentCreate,
        target,
        summary,
    )
    .await;
    Ok((StatusCode::CREATED, Json(environment)))
}

/// Replace an environment's fields (admin). Runs already triggered keep the test server
/// they were triggered on.
#[utoipa::path(put, path = "/api/v1/environments/{id}", tag = "environments", params(("id" = i64, Path, minimum = 1)), request_body = EnvironmentInput,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = Environment), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the name is taken", body = ErrorBody)))]
async fn update(
    State(state): State<shared::Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<EnvironmentId>,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> ApiResult<Json<Environment>> {
    let before = state.store.get_environment(id).await?;
    let environment = environments::update(&state, id, input).await?;
    let summary = changed(&before, &environment);
    let target = format!("environment/{id}");
    audit::record(
        &state,
        &admin,
        AuditAction::EnvironmentUpdate,
        target,
        summary,
    )
    .await;
    Ok(Json(environment))
}

/// Delete an environment (admin); refused while test items use it.
#[utoipa::path(delete, path = "/api/v1/environments/{id}", tag = "environments", params(("id" = i64, Path, minimum = 1)), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "test items use it (named in the message; their ids in `details.test_item_ids`)", body = ErrorBody)))]
async fn remove(
    State(state): State<shared::Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<EnvironmentId>,
) -> ApiResult<StatusCode> {
    let before = state.store.get_environment(id).await?;
    environments::delete(&state, id).await?;
    let target = format!("environment/{id}");
    audit::record(
        &state,
        &admin,
        AuditAction::EnvironmentDelete,
        target,
        deleted(&before),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
