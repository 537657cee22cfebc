//! Login, logout, who am I, and the admin's session list (SPEC §3 "Auth").

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};
use shared::auth::{AdminUser, AuthUser, LoginRequest, LoginResponse, LoginUser};
use shared::domain::AuditAction;
use shared::domain::audit::facts;
use shared::domain::{Email, SessionInfo};
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, ListResponse, PageParams, query, with_common_layers};
use shared::ports::Page;
use shared::services::audit::{self, Actor};
use shared::{ApiError, Deps};
use utoipa::OpenApi;

/// This group's routes for the Lambda host, with the shared layers.
pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

/// The bare routes, for a host that merges several groups and adds the layers once.
pub fn routes(state: Deps) -> Router {
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
    State(state): State<Deps>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let answer = shared::auth::login(&state, req, ip).await?;
    // The answer's email is the one the session was made for (parsed, normalised).
    if let Ok(email) = Email::parse("email", &answer.user.email) {
        let request_id = audit::request_id(&headers);
        let actor = Actor {
            email: &email,
            is_admin: answer.user.is_admin,
            request_id: &request_id,
        };
        let target = format!("session/{email}");
        let summary = facts(&[("is_admin", answer.user.is_admin.into())]);
        audit::record(&state, actor, AuditAction::SessionStart, target, summary).await;
    }
    Ok(Json(answer))
}

/// The caller's address as the host saw it: the TCP peer on the local server (axum's
/// `ConnectInfo`), API Gateway's `sourceIp` in Lambda. `X-Forwarded-For` is never
/// trusted: anyone can send it.
struct ClientIp(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return Ok(Self(Some(peer.ip())));
        }
        let source_ip = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.as_deref(),
            Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.as_deref(),
            _ => None,
        };
        Ok(Self(source_ip.and_then(|ip| ip.trim().parse().ok())))
    }
}

/// End this session: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<Deps>, user: AuthUser) -> ApiResult<StatusCode> {
    state
        .store
        .delete_session(&user.email, Some(user.is_admin))
        .await?;
    tracing::info!(email = %user.email, "logged out");
    let target = format!("session/{}", user.email);
    let summary = facts(&[("is_admin", user.is_admin.into()), ("by", "logout".into())]);
    audit::record(&state, &user, AuditAction::SessionEnd, target, summary).await;
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
    State(state): State<Deps>,
    _admin: AdminUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<SessionInfo>>> {
    let page: PageParams = query(&uri)?;
    let (limit, after) = (page.limit()?, page.cursor()?);
    // An email can have two sessions (user and admin): the cursor is "<email> <role>".
    // Emails hold no spaces; a bare email (an older cursor) is after both of its sessions.
    let after = after.map(|a| match a.rsplit_once(' ') {
        Some((email, role)) => (email.to_owned(), role == "admin"),
        None => (a, true),
    });
    let rows: Vec<SessionInfo> = state
        .store
        .list_sessions(state.clock.now())
        .await?
        .iter()
        .filter(|s| {
            after
                .as_ref()
                .is_none_or(|(e, adm)| (s.email.as_str(), s.is_admin) > (e.as_str(), *adm))
        })
        .take(limit + 1)
        .map(SessionInfo::from)
        .collect();
    Ok(Json(ListResponse::from_page(Page::from_overfetch(
        rows,
        limit,
        |s| format!("{} {}", s.email, if s.is_admin { "admin" } else { "user" }),
    ))))
}

#[derive(Deserialize)]
struct EmailPath {
    email: String,
}

/// Force a person's logout (admin): ends both the user and the admin session of the email.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{email}", tag = "auth", params(("email" = String, Path, max_length = 254, pattern = r#"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,3}@[^\W_](?:(?:[^\W_]|-)*[^\W_])?(?:\.[^\W_](?:(?:[^\W_]|-)*[^\W_])?)+\s*$"#)),
    security(("bearer" = ["admin"])),
    responses((status = 204), (status = 404, description = "no live session for that email", body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn end_session(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    Path(path): Path<EmailPath>,
) -> ApiResult<StatusCode> {
    let email = Email::parse("email", &path.email)?;
    if !state.store.delete_session(&email, None).await? {
        return Err(ApiError::NotFound(format!("{email} has no session")));
    }
    tracing::info!(by = %admin.email, email = %email, "session ended by admin");
    let target = format!("session/{email}");
    let summary = facts(&[("by", "admin".into())]);
    audit::record(&state, &admin, AuditAction::SessionEnd, target, summary).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client_ip_of(req: lambda_http::Request) -> Option<IpAddr> {
        let (mut parts, _) = req.into_parts();
        let ClientIp(ip) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        ip
    }

    #[tokio::test]
    async fn lambda_client_ip_is_api_gateways_source_ip_not_a_forwarded_header() {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../events/login.json")).unwrap();
        event["requestContext"]["http"]["sourceIp"] = "198.51.100.4".into();
        event["headers"]["x-forwarded-for"] = "203.0.113.99".into();
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(client_ip_of(req).await, "198.51.100.4".parse().ok());
    }

    #[tokio::test]
    async fn local_client_ip_is_the_socket_peer() {
        let mut req = axum::http::Request::new(());
        req.headers_mut()
            .insert("x-forwarded-for", "203.0.113.99".parse().unwrap());
        let peer: SocketAddr = "192.0.2.8:4711".parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let (mut parts, _) = req.into_parts();
        let ClientIp(ip) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(ip, Some(peer.ip()));
        // Neither: unknown, never the header.
        let (mut parts, _) = axum::http::Request::new(()).into_parts();
        let ClientIp(ip) = ClientIp::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(ip, None);
    }
}
