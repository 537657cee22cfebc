//! Parameter sets with their version history (SPEC §3 "Parameter sets").

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use shared::auth::{AdminUser, AuthUser};
use shared::domain::AuditAction;
use shared::domain::audit::{changed, created, deleted};
use shared::domain::{ParameterSet, ParameterSetId, ParameterSetVersion};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, IdPath, ListResponse, PageParams, query, with_common_layers};
use shared::ports::Page;
use shared::services::audit;
use shared::services::parameter_sets::{self, CreateParameterSet, UpdateParameterSet};
use shared::{ApiError, Deps};
use utoipa::OpenApi;

pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/parameter-sets", get(list).post(create))
        .route(
            "/api/v1/parameter-sets/{id}",
            get(one).put(update).delete(remove),
        )
        .route("/api/v1/parameter-sets/{id}/versions", get(versions))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(list, one, create, update, remove, versions),
    components(schemas(ParameterSet, ParameterSetVersion, CreateParameterSet, UpdateParameterSet, ListResponse<ParameterSet>, ListResponse<ParameterSetVersion>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

fn not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("no parameter set with id {id}"))
}

#[utoipa::path(get, path = "/api/v1/parameter-sets", tag = "parameter-sets", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = ListResponse<ParameterSet>), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<ParameterSet>>> {
    let page: PageParams = query(&uri)?;
    let sets = state
        .store
        .list_parameter_sets(page.id_cursor()?, page.limit()?)
        .await?;
    Ok(Json(ListResponse::from_page(sets)))
}

#[utoipa::path(get, path = "/api/v1/parameter-sets/{id}", tag = "parameter-sets", params(("id" = i64, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, body = ParameterSet), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<ParameterSetId>,
) -> ApiResult<Json<ParameterSet>> {
    Ok(Json(
        state
            .store
            .get_parameter_set(id.get())
            .await?
            .ok_or_else(|| not_found(id))?,
    ))
}

/// Create a set (admin). The first set created becomes the default.
#[utoipa::path(post, path = "/api/v1/parameter-sets", tag = "parameter-sets", request_body = CreateParameterSet, security(("bearer" = ["admin"])),
    responses((status = 201, body = ParameterSet), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, description = "name taken", body = ErrorBody)))]
async fn create(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    ApiJson(input): ApiJson<CreateParameterSet>,
) -> ApiResult<(StatusCode, Json<ParameterSet>)> {
    let set = parameter_sets::create(&state, admin.email.as_str(), input).await?;
    let target = format!("parameter-set/{}", set.id);
    audit::record(
        &state,
        &admin,
        AuditAction::ParameterSetCreate,
        target,
        created(&set),
    )
    .await;
    Ok((StatusCode::CREATED, Json(set)))
}

/// Change a set (admin): content changes bump `version` and keep the previous one; `is_default: true` moves the default here.
#[utoipa::path(put, path = "/api/v1/parameter-sets/{id}", tag = "parameter-sets", params(("id" = i64, Path, minimum = 1)), request_body = UpdateParameterSet,
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ParameterSet), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<ParameterSetId>,
    ApiJson(input): ApiJson<UpdateParameterSet>,
) -> ApiResult<Json<ParameterSet>> {
    let before = state.store.get_parameter_set(id.get()).await?;
    let set = parameter_sets::update(&state, admin.email.as_str(), id, input).await?;
    let summary = changed(&before, &set);
    let target = format!("parameter-set/{id}");
    audit::record(
        &state,
        &admin,
        AuditAction::ParameterSetUpdate,
        target,
        summary,
    )
    .await;
    Ok(Json(set))
}

/// Delete a set (admin): never the default, never one a test item uses (409).
#[utoipa::path(delete, path = "/api/v1/parameter-sets/{id}", tag = "parameter-sets", params(("id" = i64, Path, minimum = 1)), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    IdPath(id): IdPath<ParameterSetId>,
) -> ApiResult<StatusCode> {
    let before = state.store.get_parameter_set(id.get()).await?;
    parameter_sets::delete(&state, id).await?;
    let target = format!("parameter-set/{id}");
    audit::record(
        &state,
        &admin,
        AuditAction::ParameterSetDelete,
        target,
        deleted(&before),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every version of the set, newest first, the current one included.
#[utoipa::path(get, path = "/api/v1/parameter-sets/{id}/versions", tag = "parameter-sets", params(("id" = i64, Path, minimum = 1), PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = ListResponse<ParameterSetVersion>), (status = 404, body = ErrorBody)))]
async fn versions(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<ParameterSetId>,
    uri: Uri,
) -> ApiResult<Json<ListResponse<ParameterSetVersion>>> {
    let page: PageParams = query(&uri)?;
    let (limit, before) = (page.limit()?, page.id_cursor()?);
    let versions = state.store.list_parameter_set_versions(id.get()).await?;
    if versions.is_empty() {
        return Err(not_found(id));
    }
    let rows: Vec<_> = versions
        .into_iter()
        .filter(|v| before.is_none_or(|b| v.version < b))
        .take(limit + 1)
        .collect();
    Ok(Json(ListResponse::from_page(Page::from_overfetch(
        rows,
        limit,
        |v| v.version,
    ))))
}
