//! Sessions and the failed-login rule.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Email;

/// A login session. One per email and role: a new login replaces the older session of
/// the same role only, so a passwordless user login never ends an admin session.
/// Only a hash of the token is kept, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub email: Email,
    pub session_id: String,
    pub is_admin: bool,
    pub token_sha256: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// What the admin session list shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub email: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        Self {
            email: s.email.to_string(),
            is_admin: s.is_admin,
            created_at: s.created_at,
            expires_at: s.expires_at,
        }
    }
}

/// Failed admin logins for one key within a fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub window_start: DateTime<Utc>,
}

/// After this many admin login attempts for one email within [`LOGIN_WINDOW`] (failed
/// ones; a success clears the count), further attempts are refused.
pub const MAX_LOGIN_FAILURES: u32 = 5;
/// The same from one client IP, whatever the emails (spraying `victim+N@...`).
pub const MAX_LOGIN_FAILURES_PER_IP: u32 = 20;
/// The same from everyone together: bounds a distributed guess of the one admin password.
pub const MAX_LOGIN_FAILURES_GLOBAL: u32 = 100;
pub const LOGIN_WINDOW: TimeDelta = TimeDelta::minutes(15);

impl LoginFailures {
    pub fn window_end(&self) -> DateTime<Utc> {
        self.window_start + LOGIN_WINDOW
    }

    /// The failures that still count at `now` (a closed window counts as none).
    pub fn current(this: Option<Self>, now: DateTime<Utc>) -> Option<Self> {
        this.filter(|f| now < f.window_end())
    }

    /// How long the caller must wait before trying again, or `None` when allowed.
    pub fn locked_for(this: Option<Self>, now: DateTime<Utc>) -> Option<TimeDelta> {
        Self::current(this, now)
            .filter(|f| f.count >= MAX_LOGIN_FAILURES)
            .map(|f| f.window_end() - now)
    }

    /// The record after one attempt is given back (a login that succeeded).
    pub fn after_give_back(this: Option<Self>, now: DateTime<Utc>) -> Option<Self> {
        Self::current(this, now).map(|f| Self {
            count: f.count.saturating_sub(1),
            ..f
        })
    }

    /// The record after one more failure at `now`.
    pub fn after_failure(this: Option<Self>, now: DateTime<Utc>) -> Self {
        match Self::current(this, now) {
            Some(f) => Self {
                count: f.count.saturating_add(1),
                ..f
            },
            None => Self {
                count: 1,
                window_start: now,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_at_the_limit_and_ends_with_the_window() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut f = None;
        for i in 1..MAX_LOGIN_FAILURES {
            f = Some(LoginFailures::after_failure(f, t0));
            assert_eq!(LoginFailures::locked_for(f, t0), None, "after {i}");
        }
        f = Some(LoginFailures::after_failure(f, t0 + TimeDelta::minutes(1)));
        assert_eq!(
            LoginFailures::locked_for(f, t0 + TimeDelta::minutes(1)),
            Some(TimeDelta::minutes(14))
        );
        assert_eq!(LoginFailures::locked_for(f, t0 + LOGIN_WINDOW), None);
        let fresh = LoginFailures::after_failure(f, t0 + LOGIN_WINDOW);
        assert_eq!(fresh.count, 1);
    }
}
