//! Sessions in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::{SqliteStore, parse_ts, query_one, query_rows, ts, unavailable};
use crate::adapters::readable;
use crate::domain::{Email, Session};
use crate::ports::{SessionStore, StoreError, StoreResult};

struct RawSession {
    email: String,
    session_id: String,
    is_admin: bool,
    token_sha256: String,
    created_at: String,
    expires_at: String,
}

const SESSION_COLUMNS: &str = "email, session_id, is_admin, token_sha256, created_at, expires_at";

fn raw_session(r: &Row<'_>) -> rusqlite::Result<RawSession> {
    Ok(RawSession {
        email: r.get("email")?,
        session_id: r.get("session_id")?,
        is_admin: r.get("is_admin")?,
        token_sha256: r.get("token_sha256")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

impl RawSession {
    fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            email: Email::parse("email", &self.email)
                .map_err(|e| StoreError::Corrupt(format!("session: {e}")))?,
            session_id: self.session_id,
            is_admin: self.is_admin,
            token_sha256: self.token_sha256,
            created_at: parse_ts("created_at", &self.created_at)?,
            expires_at: parse_ts("expires_at", &self.expires_at)?,
        })
    }
}

fn role(is_admin: Option<bool>) -> Option<i64> {
    is_admin.map(i64::from)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(&self, s: &Session) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT OR REPLACE INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    s.email.as_str(),
                    s.session_id,
                    s.is_admin,
                    s.token_sha256,
                    ts(s.created_at),
                    ts(s.expires_at)
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, email: &Email, is_admin: bool) -> StoreResult<Option<Session>> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE email = ?1 AND is_admin = ?2"
                ),
                params![email, is_admin],
                raw_session,
                RawSession::into_session,
            )
        })
        .await
    }

    async fn delete_session(&self, email: &Email, is_admin: Option<bool>) -> StoreResult<bool> {
        let email = email.as_str().to_owned();
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM sessions WHERE email = ?1 AND (?2 IS NULL OR is_admin = ?2)",
                    params![email, role(is_admin)],
                )
                .map_err(unavailable)?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        self.write(move |c| {
            // Expired rows are dropped here: the embedded stand-in for DynamoDB's TTL.
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [ts(now)])
                .map_err(unavailable)?;
            let rows = query_rows(
                c,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions ORDER BY email, is_admin"),
                [],
                raw_session,
            )?;
            let sessions = readable(
                "session",
                rows,
                |r| format!("sessions.email={:?} is_admin={}", r.email, r.is_admin),
                RawSession::into_session,
            )?;
            Ok(sessions.into_iter().filter(|s| s.is_live(now)).collect())
        })
        .await
    }
}
