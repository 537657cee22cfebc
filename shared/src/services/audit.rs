//! Appending to the audit trail from the routes that change something, and reading it.
//!
//! A change is made first and recorded after: a failed append is logged and counted
//! (`crat_audit_entries_total{result="failed"}`) but does not turn the finished change
//! into an error, which a client would retry (making the change twice).

use axum::http::HeaderMap;
use serde_json::Value;

use crate::auth::AuthUser;
use crate::deps::Deps;
use crate::domain::audit::{MAX_AUDIT_FIELD_CHARS, cut};
use crate::domain::{AuditAction, Email, NewAuditEntry};

/// The request's id as the common layers set it (`x-request-id`), bounded and printable
/// (a client may send its own).
pub fn request_id(headers: &HeaderMap) -> String {
    let raw = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let clean: String = raw.chars().filter(|c| c.is_ascii_graphic()).collect();
    cut(&clean, MAX_AUDIT_FIELD_CHARS)
}

/// Who did it: the logged-in person, or (for a login) the one logging in.
pub struct Actor<'a> {
    pub email: &'a Email,
    pub is_admin: bool,
    pub request_id: &'a str,
}

impl<'a> From<&'a AuthUser> for Actor<'a> {
    fn from(user: &'a AuthUser) -> Self {
        Self {
            email: &user.email,
            is_admin: user.is_admin,
            request_id: &user.request_id,
        }
    }
}

/// Appends what `actor` did to `target` (`test-item/3`), with `changes` (a summary from
/// [`crate::domain::audit`]: `created`, `changed`, `deleted` or `facts`).
pub async fn record<'a>(
    deps: &Deps,
    actor: impl Into<Actor<'a>>,
    action: AuditAction,
    target: impl Into<String>,
    changes: Value,
) {
    let actor = actor.into();
    let entry = NewAuditEntry {
        at: deps.clock.now(),
        actor: cut(actor.email.as_str(), MAX_AUDIT_FIELD_CHARS),
        actor_is_admin: actor.is_admin,
        action,
        target: cut(&target.into(), MAX_AUDIT_FIELD_CHARS),
        request_id: actor.request_id.to_owned(),
        changes,
    };
    match deps.store.append_audit(&entry).await {
        Ok(_) => deps.metrics.audit_entry("written"),
        Err(e) => {
            deps.metrics.audit_entry("failed");
            tracing::error!(
                action = action.as_str(),
                target = %entry.target,
                request_id = %entry.request_id,
                error = %e,
                "the change was made but its audit entry could not be written"
            );
        }
    }
}
