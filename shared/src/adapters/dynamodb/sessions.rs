//! Sessions on DynamoDB.
//! - sessions: Get/Put/Delete by (email, role); ending an email's sessions deletes both
//!   roles; the admin list is Query GSI1 `SESSIONS`, filtered to live sessions in code.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Item, corrupt, fmt_time, get_bool, get_s, get_time, n, s};
use super::keys::{
    LEGACY_SESSION_SK, SESSIONS, item_key_of, key, session_index_sk, session_pk, session_sk,
};
use super::requests::unavailable;
use super::table::{GSI1, SK, TTL};
use crate::adapters::readable;
use crate::domain::{Email, Session};
use crate::ports::{SessionStore, StoreResult};

#[async_trait]
impl SessionStore for DynamoStore {
    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (session)", e))?;
        Ok(())
    }

    async fn get_session(&self, email: &Email, is_admin: bool) -> StoreResult<Option<Session>> {
        match self
            .get_item(session_pk(email), session_sk(is_admin))
            .await?
        {
            Some(item) => session_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, email: &Email, is_admin: Option<bool>) -> StoreResult<bool> {
        let roles: &[bool] = match is_admin {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        let mut deleted = false;
        for role in roles {
            deleted |= self
                .delete_item(session_pk(email), session_sk(*role))
                .await?
                .is_some();
        }
        if is_admin.is_none() {
            // A session stored before sessions were kept per role (no longer accepted).
            self.delete_item(session_pk(email), LEGACY_SESSION_SK)
                .await?;
        }
        Ok(deleted)
    }

    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let mut rows = self.query_index(GSI1, SESSIONS, None, true, None).await?;
        // Sessions stored before they were kept per role no longer sign anyone in.
        rows.retain(|i| {
            i.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) != Some(LEGACY_SESSION_SK)
        });
        let mut sessions = readable("session", rows, item_key_of, |i| session_from_item(&i))?;
        sessions.retain(|s| s.is_live(now));
        sessions
            .sort_by(|a, b| (a.email.as_str(), a.is_admin).cmp(&(b.email.as_str(), b.is_admin)));
        Ok(sessions)
    }
}

fn session_item(session: &Session) -> Item {
    let mut item = key(session_pk(&session.email), session_sk(session.is_admin));
    item.insert(GSI1.partition_key.to_owned(), s(SESSIONS));
    item.insert(GSI1.sort_key.to_owned(), s(&session_index_sk(session)));
    item.insert("email".to_owned(), s(session.email.as_str()));
    item.insert("session_id".to_owned(), s(&session.session_id));
    item.insert(
        "is_admin".to_owned(),
        AttributeValue::Bool(session.is_admin),
    );
    item.insert("token_sha256".to_owned(), s(&session.token_sha256));
    item.insert("created_at".to_owned(), s(&fmt_time(session.created_at)));
    item.insert("expires_at".to_owned(), s(&fmt_time(session.expires_at)));
    item.insert(TTL.to_owned(), n(session.expires_at.timestamp()));
    item
}

fn session_from_item(item: &Item) -> StoreResult<Session> {
    Ok(Session {
        email: Email::parse("email", get_s(item, "email")?)
            .map_err(|e| corrupt(item, "email", &e.to_string()))?,
        session_id: get_s(item, "session_id")?.to_owned(),
        is_admin: get_bool(item, "is_admin")?,
        token_sha256: get_s(item, "token_sha256")?.to_owned(),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
    })
}
