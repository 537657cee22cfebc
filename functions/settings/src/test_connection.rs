//! `POST /settings/test-connection` (admin): can CRAT reach the package server or a test
//! server? One GET with the client and timeout the download and poll steps use; the answer
//! says what was reached (any HTTP answer counts: a test server's root may well be a 404),
//! or why nothing was. It reads only, so it writes no audit entry.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::Deps;
use shared::auth::AdminUser;
use shared::domain::{EnvironmentId, FieldError, HttpUrl};
use shared::error::{ApiResult, ErrorBody};
use shared::http::ApiJson;
use shared::services::environments::test_server_of;
use utoipa::ToSchema;

/// The longest wait for an answer: an HTTP function must answer within API Gateway's 30 s.
const MAX_WAIT_SECONDS: u64 = 10;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    PackageServer,
    TestServer,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestConnectionInput {
    target: Target,
    /// The URL to try (e.g. one typed in a form, not saved yet); default: the saved one, of
    /// the environment when `environment_id` is given.
    #[schema(
        max_length = 2048,
        pattern = r"^\s*(?:https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%%/-]*)?)?\s*$"
    )]
    url: Option<String>,
    /// With `target: test_server` and no `url`: that environment's test server.
    #[schema(minimum = 1)]
    environment_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestConnectionAnswer {
    pub url: String,
    /// An HTTP answer came back (whatever its status).
    pub reached: bool,
    pub status: Option<u16>,
    pub elapsed_ms: u64,
    /// What happened, as a sentence.
    pub detail: String,
}

/// Tries to reach the package server or a test server (admin).
#[utoipa::path(post, path = "/api/v1/settings/test-connection", tag = "settings", request_body = TestConnectionInput,
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "what was reached; `reached: false` with the reason when nothing answered", body = TestConnectionAnswer),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no environment with that id", body = ErrorBody),
        (status = 422, description = "no URL given and none saved for that target", body = ErrorBody)))]
pub(crate) async fn test_connection(
    State(state): State<Deps>,
    _admin: AdminUser,
    ApiJson(input): ApiJson<TestConnectionInput>,
) -> ApiResult<Json<TestConnectionAnswer>> {
    let settings = state.settings().await?;
    // An empty `url` (a form left blank) means the saved one.
    let typed = input
        .url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let url = match (typed, input.target) {
        (Some(raw), _) => HttpUrl::parse("url", raw)?,
        (None, Target::PackageServer) => {
            settings.package_download_base_url.clone().ok_or_else(|| {
                shared::ApiError::Unprocessable {
                code: "not_configured",
                message:
                    "there is no package_download_base_url in the settings: save one, or send url"
                        .into(),
            }
            })?
        }
        (None, Target::TestServer) => {
            let id = input
                .environment_id
                .map(|id| {
                    (id >= 1)
                        .then(|| EnvironmentId::from_stored(id))
                        .ok_or_else(|| FieldError::new("environment_id", "must be 1 or more"))
                })
                .transpose()?;
            let server = test_server_of(&state, id, &settings).await?;
            server.external_test_server_url.ok_or_else(|| shared::ApiError::Unprocessable {
                code: "not_configured",
                message: "there is no external_test_server_url in the settings: save one, or send url".into(),
            })?
        }
    };
    // The steps' timeout, but within API Gateway's 30 s for the answer.
    let timeout = std::time::Duration::from_secs(
        u64::from(settings.poll_request_timeout_seconds).min(MAX_WAIT_SECONDS),
    );
    let started = Instant::now();
    let answer = state.http.get(url.as_str()).timeout(timeout).send().await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let url = url.as_str().to_owned();
    Ok(Json(match answer {
        Ok(resp) => {
            let status = resp.status();
            TestConnectionAnswer {
                detail: format!("{url} answered {status} in {elapsed_ms} ms"),
                url,
                reached: true,
                status: Some(status.as_u16()),
                elapsed_ms,
            }
        }
        Err(e) => TestConnectionAnswer {
            detail: format!("{url} could not be reached: {}", why(&e, timeout)),
            url,
            reached: false,
            status: None,
            elapsed_ms,
        },
    }))
}

/// Why a request got no answer, in words (no internals beyond what the admin typed).
fn why(e: &reqwest::Error, timeout: std::time::Duration) -> String {
    if e.is_timeout() {
        format!(
            "no answer within {} s (poll_request_timeout_seconds)",
            timeout.as_secs()
        )
    } else if e.is_connect() {
        "the connection failed (refused, unreachable, or the name does not resolve)".into()
    } else {
        "the request failed before an answer came".into()
    }
}
