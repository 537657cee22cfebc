use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::token_sha256;
use crate::deps::Deps;
use crate::domain::Email;
use crate::error::ApiError;

/// Any logged-in person. Rejects with 401 unless the token verifies (HS256 only), is
/// unexpired, and its session record still exists with the same id and token hash.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub email: Email,
    pub is_admin: bool,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
    /// The request's id (`x-request-id`), for the audit trail.
    pub request_id: String,
}

/// An admin session: 401 like [`AuthUser`], then 403 for a user session.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

const MISSING: &str =
    "log in first: send Authorization: Bearer <token> from POST /api/v1/auth/login";
const INVALID: &str = "the token is invalid; log in again";
const EXPIRED: &str = "the session has expired; log in again";
const REVOKED: &str = "the session has ended (logged out, replaced by a newer login, or ended by an admin); log in again";

impl FromRequestParts<Deps> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Deps) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(MISSING))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(MISSING))?;
        let claims = state
            .jwt
            .verify(token)
            .map_err(|_| ApiError::Unauthorized(INVALID))?;
        let now = state.clock.now();
        if claims.exp <= now.timestamp() {
            return Err(ApiError::Unauthorized(EXPIRED));
        }
        let email =
            Email::parse("sub", &claims.sub).map_err(|_| ApiError::Unauthorized(INVALID))?;
        let session = state
            .store
            .get_session(&email, claims.adm)
            .await?
            .ok_or(ApiError::Unauthorized(REVOKED))?;
        let same_session = session.session_id == claims.sid
            && bool::from(
                session
                    .token_sha256
                    .as_bytes()
                    .ct_eq(token_sha256(token).as_bytes()),
            );
        if !same_session || session.is_admin != claims.adm {
            // The stored session is another one: a newer login of this person replaced it.
            if session.session_id != claims.sid && session.created_at.timestamp() >= claims.iat {
                return Err(ApiError::SessionReplaced(session.created_at));
            }
            return Err(ApiError::Unauthorized(REVOKED));
        }
        if !session.is_live(now) {
            return Err(ApiError::Unauthorized(EXPIRED));
        }
        Ok(Self {
            email,
            is_admin: session.is_admin,
            session_id: session.session_id,
            expires_at: session.expires_at,
            request_id: crate::services::audit::request_id(&parts.headers),
        })
    }
}

impl FromRequestParts<Deps> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Deps) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(ApiError::admin_only());
        }
        Ok(Self(user))
    }
}
