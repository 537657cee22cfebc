//! Settings (SPEC §3 "Settings"): typed, validated partial updates, effective at once.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use shared::Deps;
use shared::auth::{AdminUser, AuthUser};
use shared::domain::AuditAction;
use shared::domain::Settings;
use shared::domain::audit::changed;
use shared::error::{ApiResult, ErrorBody};
use shared::http::{ApiJson, with_common_layers};
use shared::services::audit;
use utoipa::OpenApi;

mod audit_trail;
mod channels;
mod test_connection;

pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/settings", get(read).put(update))
        .route("/api/v1/audit", get(audit_trail::list))
        .route(
            "/api/v1/settings/test-connection",
            axum::routing::post(test_connection::test_connection),
        )
        .route(
            "/api/v1/notification-channels",
            get(channels::list).post(channels::create),
        )
        .route(
            "/api/v1/notification-channels/{id}",
            get(channels::one)
                .put(channels::update)
                .delete(channels::remove),
        )
        .route(
            "/api/v1/notification-channels/{id}/test",
            axum::routing::post(channels::test),
        )
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(paths(read, update, audit_trail::list, test_connection::test_connection,
    channels::list, channels::one, channels::create, channels::update, channels::remove, channels::test),
    components(schemas(Settings, SettingsPatch, shared::domain::ChannelView, shared::domain::ChannelKind, shared::domain::ChannelRule,
    shared::services::channels::ChannelBody, shared::services::channels::ChannelTestAnswer,
    shared::domain::ChatDelivery, shared::domain::ChatStatus, shared::domain::Notifications,
    test_connection::TestConnectionInput, test_connection::TestConnectionAnswer, test_connection::Target,
    shared::domain::AuditEntry, shared::http::ListResponse<shared::domain::AuditEntry>)))]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The body of `PUT /settings` (documentation: the handler checks key by key). Every key
/// is optional; an empty string or `null` clears a URL.
#[allow(dead_code)]
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    #[schema(
        nullable = false,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x1f\x7f-\x9f\s])?\s*$"
    )]
    project_name: Option<String>,
    #[schema(
        nullable,
        pattern = r"^\s*(?:https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%%/-]*)?)?\s*$"
    )]
    package_download_base_url: Option<String>,
    #[schema(
        nullable,
        pattern = r"^\s*(?:https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%%/-]*)?)?\s*$"
    )]
    external_test_server_url: Option<String>,
    #[schema(
        nullable,
        pattern = r"^\s*(?:https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%%/-]*)?)?\s*$"
    )]
    report_base_url: Option<String>,
    #[schema(nullable = false, minimum = 1, maximum = 3600)]
    poll_interval_seconds: Option<u32>,
    /// At most `max_monitor_seconds`.
    #[schema(nullable = false, minimum = 1, maximum = 300)]
    poll_request_timeout_seconds: Option<u32>,
    /// At most 39 h (`shared::domain::timing::MAX_MONITOR_SECONDS_LIMIT`), and at most
    /// 2,400 poll intervals.
    #[schema(nullable = false, minimum = 60, maximum = 140400)]
    max_monitor_seconds: Option<u32>,
    /// How long the test server may stay unreachable before the run fails.
    #[schema(nullable = false, minimum = 60, maximum = 140400)]
    max_unreachable_seconds: Option<u32>,
    #[schema(nullable = false, minimum = 1, maximum = 2160)]
    auto_sync_interval_hours: Option<u32>,
    /// Domain names such as `example.com`.
    #[schema(nullable = false, value_type = Option<Vec<String>>)]
    allowed_email_domains: Option<Vec<String>>,
    #[schema(nullable = false, value_type = Option<Vec<shared::domain::EmailText>>, max_items = 50)]
    notify_cc: Option<Vec<String>>,
    /// Origins (`scheme://host[:port]`) report links may be read from; empty: the test
    /// server's own origin.
    #[schema(nullable = false, value_type = Option<Vec<String>>, max_items = 20)]
    report_origins: Option<Vec<String>>,
    /// The language of the result mails.
    #[schema(nullable = false)]
    mail_language: Option<shared::domain::MailLanguage>,
}

/// The current settings. None of them is a secret (secrets live in the environment).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
async fn read(State(state): State<Deps>, _user: AuthUser) -> ApiResult<Json<Settings>> {
    Ok(Json(state.settings().await?))
}

/// Change some settings (admin): only the keys sent; each is validated; the next run uses them.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", request_body = SettingsPatch, security(("bearer" = ["admin"])),
    responses((status = 200, body = Settings), (status = 400, description = "a key is unknown or its value invalid (named)", body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn update(
    State(state): State<Deps>,
    AdminUser(admin): AdminUser,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<Settings>> {
    let before = state.settings().await?;
    let after = shared::services::settings::patch(&state, admin.email.as_str(), &patch).await?;
    let summary = changed(&before, &after);
    audit::record(
        &state,
        &admin,
        AuditAction::SettingsUpdate,
        "settings",
        summary,
    )
    .await;
    Ok(Json(after))
}
