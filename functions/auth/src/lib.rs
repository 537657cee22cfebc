//! Login, logout, who am I, and the admin's session list (SPEC §3 "Auth").

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::{AdminUser, AuthUser, LoginRequest, LoginResponse, LoginUser};
use shared::domain::{Email, SessionInfo};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, ListResponse, PageParams, query, with_common_layers};
use shared::ports::Page;
use shared::{ApiError, AppState};
use utoipa::OpenApi;

/// This group's routes for the Lambda host, with the shared layers.
pub fn router(state: AppState) -> Router {
    with_common_layers(routes(state))
}

/// The bare routes, for a host that merges several groups and adds the layers once.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/sessions", get(list_sessions))
        .route("/api/v1/auth/sessions/{email}", delete(end_session))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(login, logout, me, list_sessions, end_session),
    components(schemas(LoginRequest, LoginResponse, LoginUser, Me, SessionInfo, ListResponse<SessionInfo>))
)]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Log in: email only for a user session, email + `ADMIN_PASSWD` for an admin session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, description = "email is not an address", body = ErrorBody),
        (status = 401, description = "wrong admin password", body = ErrorBody),
        (status = 403, description = "email domain not allowed", body = ErrorBody),
        (status = 429, description = "too many failed admin logins; see Retry-After", body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(shared::auth::login(&state, req).await?))
}

/// End this session: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, user: AuthUser) -> ApiResult<StatusCode> {
    state.store.delete_session(&user.email).await?;
    tracing::info!(email = %user.email, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub email: String,
    pub is_admin: bool,
    pub expires_at: DateTime<Utc>,
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(user: AuthUser) -> Json<Me> {
    Json(Me {
        email: user.email.to_string(),
        is_admin: user.is_admin,
        expires_at: user.expires_at,
    })
}

/// Live sessions, by email (admin).
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", params(PageParams), security(("bearer" = ["admin"])),
    responses((status = 200, body = ListResponse<SessionInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    _admin: AdminUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<SessionInfo>>> {
    let page: PageParams = query(&uri)?;
    let (limit, after) = (page.limit()?, page.cursor()?);
    let rows: Vec<SessionInfo> = state
        .store
        .list_sessions(state.clock.now())
        .await?
        .iter()
        .filter(|s| after.as_deref().is_none_or(|a| s.email.as_str() > a))
        .take(limit + 1)
        .map(SessionInfo::from)
        .collect();
    Ok(Json(ListResponse::from_page(Page::from_overfetch(
        rows,
        limit,
        |s| s.email.clone(),
    ))))
}

#[derive(Deserialize)]
struct EmailPath {
    email: String,
}

/// Force a person's logout (admin).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{email}", tag = "auth", params(("email" = String, Path, max_length = 254, pattern = r#"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,3}@[^\W_](?:(?:[^\W_]|-)*[^\W_])?(?:\.[^\W_](?:(?:[^\W_]|-)*[^\W_])?)+\s*$"#)),
    security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, description = "no live session for that email", body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn end_session(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(path): Path<EmailPath>,
) -> ApiResult<StatusCode> {
    let email = Email::parse("email", &path.email)?;
    if !state.store.delete_session(&email).await? {
        return Err(ApiError::NotFound(format!("{email} has no session")));
    }
    tracing::info!(by = %admin.email, email = %email, "session ended by admin");
    Ok(StatusCode::NO_CONTENT)
}
