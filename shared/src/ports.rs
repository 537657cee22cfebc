//! What varies between the cloud and the embedded target: storage, behind small traits.
//! Every adapter passes the same conformance suite (`shared/tests/conformance`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{Build, Email, JobName, JobSummary, LoginFailures, NewBuild, Session};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: duplicate, lock held, stale version. Rendered as 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The back end failed; the cause is for logs, never for response bodies.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back: a bug or a hand-edited store.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page of a list, newest first, and the key to pass for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only says "there is more".
    pub fn from_overfetch(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }
}

#[async_trait]
pub trait BuildStore: Send + Sync {
    /// Stores the build unless one with the same (job, number) exists. Returns the stored
    /// build and `true` when this call created it. Exactly one caller creates, even when
    /// many race.
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)>;
    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>>;
    /// Builds newest first (by id), optionally of one job, with ids below `before_id`.
    async fn list_builds(
        &self,
        job: Option<&JobName>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Build, i64>>;
    /// Jobs by name, each with its highest-numbered build, names after `after_name`.
    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Saves the session, replacing any session of the same email.
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, email: &Email) -> StoreResult<Option<Session>>;
    /// Deletes the email's session; `true` when there was one.
    async fn delete_session(&self, email: &Email) -> StoreResult<bool>;
    /// Sessions that are live at `now`, by email.
    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;
}

#[async_trait]
pub trait LoginFailureStore: Send + Sync {
    async fn get_login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>>;
    /// Counts one failure at `now` atomically and returns the record after it.
    async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<LoginFailures>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait IdCounters: Send + Sync {
    /// The next integer id of the named sequence, starting at 1; never repeats.
    async fn next_id(&self, sequence: &str) -> StoreResult<i64>;
}

/// Everything CRAT stores.
pub trait Store: BuildStore + SessionStore + LoginFailureStore + IdCounters {}

impl<T: BuildStore + SessionStore + LoginFailureStore + IdCounters> Store for T {}
