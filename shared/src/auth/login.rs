use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::Claims;
use crate::deps::Deps;
use crate::domain::{
    Email, MAX_LOGIN_FAILURES, MAX_LOGIN_FAILURES_GLOBAL, MAX_LOGIN_FAILURES_PER_IP, Session,
};
use crate::error::{ApiError, ApiResult};

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

/// Admin login attempts are counted per email, per client IP and for everyone together
/// (the password is global, so spraying many emails must not multiply the guesses).
fn attempt_keys(email: &Email, client_ip: Option<IpAddr>) -> [(String, u32); 3] {
    let ip = client_ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    [
        (format!("admin:email:{email}"), MAX_LOGIN_FAILURES),
        (format!("admin:ip:{ip}"), MAX_LOGIN_FAILURES_PER_IP),
        ("admin:all".to_owned(), MAX_LOGIN_FAILURES_GLOBAL),
    ]
}

/// Takes one attempt under every key (each check-and-count is one atomic store
/// operation), or gives back the ones taken and answers 429 when any key is locked.
async fn take_attempts(state: &Deps, keys: &[(String, u32)], now: DateTime<Utc>) -> ApiResult<()> {
    for (i, (key, max)) in keys.iter().enumerate() {
        if let Err(locked) = state.store.take_login_attempt(key, *max, now).await? {
            for (taken, _) in &keys[..i] {
                state.store.give_back_login_attempt(taken, now).await?;
            }
            tracing::warn!(limit = %key, "admin login refused: too many failed attempts");
            return Err(ApiError::TooManyRequests(seconds_up(
                locked.window_end() - now,
            )));
        }
    }
    Ok(())
}

/// Logs in: a user session without a password, an admin session with `ADMIN_PASSWD`.
/// Replaces the email's older session of the same role. `client_ip` is the socket peer
/// (local server) or API Gateway's `sourceIp` (Lambda), never a forwarded header.
#[tracing::instrument(skip_all, fields(email = %req.email.trim()))]
pub async fn login(
    state: &Deps,
    req: LoginRequest,
    client_ip: Option<IpAddr>,
) -> ApiResult<LoginResponse> {
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
        // Counted before the password is compared: of many concurrent wrong guesses only
        // the allowed number is ever compared.
        let keys = attempt_keys(&email, client_ip);
        take_attempts(state, &keys, now).await?;
        if !password_matches(password, state.config.admin_password.expose()) {
            tracing::warn!("failed admin login");
            return Err(ApiError::WrongPassword);
        }
        let [(email_key, _), rest @ ..] = &keys;
        state.store.clear_login_failures(email_key).await?;
        for (key, _) in rest {
            state.store.give_back_login_attempt(key, now).await?;
        }
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
