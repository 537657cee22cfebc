use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::Claims;
use crate::domain::{Email, LoginFailures, Session};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(
        max_length = 254,
        pattern = r#"^\s*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,3}@[^\W_](?:(?:[^\W_]|-)*[^\W_])?(?:\.[^\W_](?:(?:[^\W_]|-)*[^\W_])?)+\s*$"#
    )]
    pub email: String,
    /// Empty or absent: a user session. Otherwise it must be `ADMIN_PASSWD`.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginUser {
    pub email: String,
    pub is_admin: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: LoginUser,
}

pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares in time independent of where the strings differ (hashing first hides the length).
fn password_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Failed admin logins are counted per email.
fn failure_key(email: &Email) -> String {
    format!("admin:{email}")
}

/// Logs in: a user session without a password, an admin session with `ADMIN_PASSWD`.
/// Replaces the email's older session.
#[tracing::instrument(skip_all, fields(email = %req.email.trim()))]
pub async fn login(state: &AppState, req: LoginRequest) -> ApiResult<LoginResponse> {
    let email = Email::parse("email", &req.email)?;
    if !email.domain_allowed(&state.settings().await?.allowed_email_domains) {
        return Err(ApiError::Forbidden {
            code: "email_domain_not_allowed",
            message: format!(
                "addresses at {} may not log in here; use your work address",
                email.domain()
            ),
        });
    }
    let now = state.clock.now();
    let password = req.password.as_deref().unwrap_or("");
    let is_admin = !password.is_empty();
    if is_admin {
        let key = failure_key(&email);
        let failures = state.store.get_login_failures(&key).await?;
        if let Some(wait) = LoginFailures::locked_for(failures, now) {
            return Err(ApiError::TooManyRequests(seconds_up(wait)));
        }
        if !password_matches(password, state.config.admin_password.expose()) {
            let after = state.store.record_login_failure(&key, now).await?;
            tracing::warn!(failures = after.count, "failed admin login");
            return Err(ApiError::Unauthorized("wrong admin password"));
        }
        state.store.clear_login_failures(&key).await?;
    }

    let session_id = uuid::Uuid::new_v4().to_string();
    let expires_at = now + state.config.session_ttl;
    let claims = Claims {
        sub: email.to_string(),
        adm: is_admin,
        sid: session_id.clone(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    let token = state
        .jwt
        .sign(&claims)
        .map_err(|e| ApiError::Internal(format!("signing a token: {e}")))?;
    state
        .store
        .put_session(&Session {
            email: email.clone(),
            session_id,
            is_admin,
            token_sha256: token_sha256(&token),
            created_at: now,
            expires_at,
        })
        .await?;
    tracing::info!(is_admin, "logged in");
    Ok(LoginResponse {
        token,
        expires_at,
        user: LoginUser {
            email: email.to_string(),
            is_admin,
        },
    })
}

fn seconds_up(d: TimeDelta) -> u64 {
    let ms = d.num_milliseconds().max(0) as u64;
    ms.div_ceil(1000).max(1)
}
