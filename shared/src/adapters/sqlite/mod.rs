//! The embedded store: one SQLite file under `CRAT_DATA_DIR`. Durable (WAL, synchronous
//! writes), safe under concurrent requests (one connection behind a mutex, used on the
//! blocking pool; SQLite serialises writers anyway and every call is short).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{readable, readable_page};
use crate::domain::{
    Build, BuildNumber, Email, JobName, JobSummary, LOGIN_WINDOW, LoginFailures, NewBuild,
    PackagePath, Session,
};
use crate::ports::{
    BuildStore, IdCounters, LoginFailureStore, Page, SessionStore, StoreError, StoreResult,
};

mod config;
mod executions;
mod runs;

/// Schema migrations, applied in order; the index is stored in `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE builds (
    id INTEGER PRIMARY KEY,
    job_name TEXT NOT NULL,
    build_number INTEGER NOT NULL,
    build_user TEXT,
    package_path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (job_name, build_number)
);
CREATE INDEX builds_by_job ON builds (job_name, id);
CREATE TABLE sessions (
    email TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    token_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    window_start TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE parameter_sets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    params TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
-- At most one default, enforced by the file itself.
CREATE UNIQUE INDEX parameter_sets_one_default ON parameter_sets (is_default) WHERE is_default = 1;
-- Every version of every set, the current one included.
CREATE TABLE parameter_set_versions (
    set_id INTEGER NOT NULL REFERENCES parameter_sets (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    params TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (set_id, version)
);
CREATE TABLE test_items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    job_name TEXT NOT NULL,
    parameter_set_id INTEGER REFERENCES parameter_sets (id) ON DELETE RESTRICT,
    description TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    notify_emails TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (name, job_name)
);
CREATE TABLE job_selections (
    job_name TEXT PRIMARY KEY,
    build_id INTEGER NOT NULL,
    build_number INTEGER NOT NULL,
    auto_sync INTEGER NOT NULL,
    sync_on_new_build INTEGER NOT NULL,
    last_synced_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL,
    version INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    test_item_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    revision INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX runs_by_item ON runs (test_item_id, id);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE TABLE run_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    run_id INTEGER NOT NULL,
    lease_until TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    running INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX executions_running ON executions (running) WHERE running = 1;
"#,
    // One session per (email, role): a user login must not replace the admin session.
    r#"
CREATE TABLE sessions_by_role (
    email TEXT NOT NULL,
    session_id TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    token_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (email, is_admin)
);
INSERT INTO sessions_by_role SELECT email, session_id, is_admin, token_sha256, created_at, expires_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_by_role RENAME TO sessions;
CREATE INDEX login_failures_by_window ON login_failures (window_start);
"#,
    // Execution history apart from the record, one row per event (append-only). Records
    // stored before keep working: their inline events move here, the record keeps a count.
    r#"
CREATE TABLE execution_events (
    execution_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (execution_id, id)
) WITHOUT ROWID;
INSERT OR REPLACE INTO execution_events (execution_id, id, json)
    SELECT e.id, json_extract(j.value, '$.id'), j.value
    FROM executions e, json_each(e.json, '$.events') j;
UPDATE executions SET json = json_set(json_remove(json, '$.events'), '$.event_count',
    COALESCE((SELECT MAX(v.id) FROM execution_events v WHERE v.execution_id = executions.id), 0));
"#,
];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating when needed) `crat.db` in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let conn = Connection::open(data_dir.join("crat.db")).map_err(unavailable)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unavailable)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(unavailable)?;
    }
    Ok(())
}

/// Runs `sql` with `args` and reads every row with `row`.
fn query_rows<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(unavailable)?;
    stmt.query_map(args, row)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(field: &str, s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::Corrupt(format!("{field} {s:?}: {e}")))
}

/// Row reading errors stay rusqlite errors so `query_map` can carry them; text fields are
/// re-validated into domain types afterwards.
struct RawBuild {
    id: i64,
    job_name: String,
    build_number: i64,
    build_user: Option<String>,
    package_path: String,
    created_at: String,
}

const BUILD_COLUMNS: &str = "id, job_name, build_number, build_user, package_path, created_at";

fn raw_build(r: &Row<'_>) -> rusqlite::Result<RawBuild> {
    Ok(RawBuild {
        id: r.get(0)?,
        job_name: r.get(1)?,
        build_number: r.get(2)?,
        build_user: r.get(3)?,
        package_path: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl RawBuild {
    fn into_build(self) -> StoreResult<Build> {
        let corrupt =
            |e: crate::domain::FieldError| StoreError::Corrupt(format!("build {}: {e}", self.id));
        Ok(Build {
            id: self.id,
            job_name: JobName::parse("job_name", &self.job_name).map_err(corrupt)?,
            build_number: BuildNumber::from_stored(self.build_number),
            build_user: self.build_user.clone(),
            package_path: PackagePath::parse("package_path", &self.package_path)
                .map_err(corrupt)?,
            created_at: parse_ts("created_at", &self.created_at)?,
        })
    }
}

fn next_id_in(conn: &Connection, sequence: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO counters (name, value) VALUES (?1, 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [sequence],
        |r| r.get(0),
    )
}

#[async_trait]
impl IdCounters for SqliteStore {
    async fn next_id(&self, sequence: &str) -> StoreResult<i64> {
        let sequence = sequence.to_owned();
        self.with(move |c| next_id_in(c, &sequence).map_err(unavailable))
            .await
    }
}

#[async_trait]
impl BuildStore for SqliteStore {
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)> {
        let new = new.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let existing = tx
                .query_row(
                    &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1 AND build_number = ?2"),
                    params![new.job_name.as_str(), new.build_number.get()],
                    raw_build,
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(raw) = existing {
                let id = raw.id;
                match raw.into_build() {
                    Ok(build) => return Ok((build, false)),
                    // Stored under older, laxer rules (`CDN/. `): the repeated webhook
                    // describes the build again, so the row is rewritten from it (same id).
                    Err(StoreError::Corrupt(why)) => {
                        tracing::warn!(build_id = id, job = %new.job_name, build_number = %new.build_number,
                            error = %why, "stored build unreadable; repaired from the repeated webhook");
                        let build = Build::new(id, &new, now);
                        tx.execute(
                            "UPDATE builds SET build_user = ?2, package_path = ?3, created_at = ?4 WHERE id = ?1",
                            params![
                                build.id,
                                build.build_user,
                                build.package_path.as_str(),
                                ts(build.created_at)
                            ],
                        )
                        .map_err(unavailable)?;
                        tx.commit().map_err(unavailable)?;
                        return Ok((build, false));
                    }
                    Err(e) => return Err(e),
                }
            }
            let id = next_id_in(&tx, "builds").map_err(unavailable)?;
            let build = Build::new(id, &new, now);
            tx.execute(
                "INSERT INTO builds (id, job_name, build_number, build_user, package_path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    build.id,
                    build.job_name.as_str(),
                    build.build_number.get(),
                    build.build_user,
                    build.package_path.as_str(),
                    ts(build.created_at)
                ],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok((build, true))
        })
        .await
    }

    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"),
                [id],
                raw_build,
            )
            .optional()
            .map_err(unavailable)?
            .map(RawBuild::into_build)
            .transpose()
        })
        .await
    }

    async fn list_builds(
        &self,
        job: Option<&JobName>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Build, i64>> {
        let job = job.map(|j| j.as_str().to_owned());
        self.with(move |c| {
            let rows = query_rows(
                c,
                &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds
                     WHERE (?1 IS NULL OR job_name = ?1) AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3"
                ),
                params![job, before_id, limit as i64 + 1],
                raw_build,
            )?;
            readable_page(
                "build",
                rows,
                limit,
                |r| r.id,
                |r| format!("builds.id={}", r.id),
                RawBuild::into_build,
            )
        })
        .await
    }

    async fn latest_build(&self, job: &JobName) -> StoreResult<Option<Build>> {
        let job = job.as_str().to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1 ORDER BY build_number DESC LIMIT 1"),
                [job],
                raw_build,
            )
            .optional()
            .map_err(unavailable)?
            .map(RawBuild::into_build)
            .transpose()
        })
        .await
    }

    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>> {
        let after = after_name.map(str::to_owned);
        self.with(move |c| {
            // The latest build of a job is its highest build number.
            let rows = query_rows(c, &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds b
                     WHERE b.build_number = (SELECT MAX(build_number) FROM builds WHERE job_name = b.job_name)
                       AND (?1 IS NULL OR b.job_name > ?1)
                     ORDER BY b.job_name LIMIT ?2"
                ), params![after, limit as i64 + 1], raw_build)?;
            readable_page("build", rows, limit, |r| r.job_name.clone(), |r| format!("builds.id={}", r.id), |r| {
                let b = r.into_build()?;
                Ok(JobSummary { job_name: b.job_name.clone(), latest_build: b })
            })
        })
        .await
    }
}

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
        email: r.get(0)?,
        session_id: r.get(1)?,
        is_admin: r.get(2)?,
        token_sha256: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
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
        self.with(move |c| {
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
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE email = ?1 AND is_admin = ?2"
                ),
                params![email, is_admin],
                raw_session,
            )
            .optional()
            .map_err(unavailable)?
            .map(RawSession::into_session)
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, email: &Email, is_admin: Option<bool>) -> StoreResult<bool> {
        let email = email.as_str().to_owned();
        self.with(move |c| {
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
        self.with(move |c| {
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

fn read_failures(c: &Connection, key: &str) -> StoreResult<Option<LoginFailures>> {
    let row: Option<(u32, String)> = c
        .query_row(
            "SELECT count, window_start FROM login_failures WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(count, start)| {
        Ok(LoginFailures {
            count,
            window_start: parse_ts("window_start", &start)?,
        })
    })
    .transpose()
}

#[async_trait]
impl LoginFailureStore for SqliteStore {
    async fn get_login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        let key = key.to_owned();
        self.with(move |c| read_failures(c, &key)).await
    }

    async fn take_login_attempt(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<LoginFailures, LoginFailures>> {
        let key = key.to_owned();
        self.with(move |c| {
            // One immediate transaction: the check and the count cannot interleave.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            // Closed windows count for nothing: delete them (the stand-in for TTL).
            tx.execute(
                "DELETE FROM login_failures WHERE window_start <= ?1",
                [ts(now - LOGIN_WINDOW)],
            )
            .map_err(unavailable)?;
            let current = LoginFailures::current(read_failures(&tx, &key)?, now);
            if let Some(f) = current.filter(|f| f.count >= max) {
                return Ok(Err(f));
            }
            let next = LoginFailures::after_failure(current, now);
            tx.execute(
                "INSERT OR REPLACE INTO login_failures (key, count, window_start) VALUES (?1, ?2, ?3)",
                params![key, next.count, ts(next.window_start)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(Ok(next))
        })
        .await
    }

    async fn give_back_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE login_failures SET count = count - 1 WHERE key = ?1 AND count > 0 AND window_start > ?2",
                params![key, ts(now - LOGIN_WINDOW)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM login_failures WHERE key = ?1", [key])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
