//! The embedded store: one SQLite file under `CRAT_DATA_DIR`. Durable (WAL, synchronous
//! = FULL: a write is answered only once committed to disk), safe under concurrent
//! requests: one writer thread commits waiting writes in groups (one fsync per group), and
//! a few read-only connections serve reads beside it (`connections.rs`). Every method is
//! either a `read` or a `write`; a check-then-write that must be atomic is one `write`.
//!
//! This file holds the schema, the opening and the helpers every table shares; each
//! aggregate has its own file. Rows are read by column name into a small row struct per
//! table (`from_row`), then re-validated into domain types.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row};

use crate::ports::{IdCounters, StoreError, StoreResult};

mod audit;
pub mod backup;
mod builds;
mod channels;
mod connections;
mod environments;
mod executions;
mod import;
mod job_selections;
mod login_failures;
mod parameter_sets;
mod runs;
mod sessions;
mod settings;
mod test_cases;
mod test_items;

/// The store's file in the data folder.
const STORE_FILE: &str = "crat.db";

/// The schema version this code writes (`PRAGMA user_version` of an up-to-date store).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

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
    // Test environments; an item without one (every item stored before) uses the default.
    r#"
CREATE TABLE environments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    external_test_server_url TEXT NOT NULL,
    report_origins TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
ALTER TABLE test_items ADD COLUMN environment_id INTEGER REFERENCES environments (id) ON DELETE RESTRICT;
CREATE INDEX test_items_by_environment ON test_items (environment_id) WHERE environment_id IS NOT NULL;
"#,
    // Lanes: one lock per lane instead of the single run lock (which becomes the default
    // lane's), and the lane's queue as its QUEUED runs in `queue_seq` order.
    r#"
CREATE TABLE lane_locks (
    lane TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL,
    lease_until TEXT NOT NULL
);
INSERT INTO lane_locks (lane, run_id, lease_until) SELECT 'default', run_id, lease_until FROM run_lock;
DROP TABLE run_lock;
ALTER TABLE runs ADD COLUMN lane TEXT NOT NULL DEFAULT 'default';
ALTER TABLE runs ADD COLUMN queue_seq INTEGER;
CREATE INDEX runs_in_queue ON runs (lane, status, queue_seq);
"#,
    // Items the build webhook starts on a new build of their job.
    r#"
ALTER TABLE test_items ADD COLUMN trigger_on_new_build INTEGER NOT NULL DEFAULT 0;
"#,
    // What a new build of a job starts, read on every new build: only those items.
    r#"
CREATE INDEX test_items_starting_on_new_build ON test_items (job_name, id)
    WHERE trigger_on_new_build = 1 AND enabled = 1;
"#,
    // Per-run test cases (with what a test's history shows of its run), and each item's
    // flaky tests. A rowid table: a case's JSON may be several kilobytes.
    r#"
CREATE TABLE test_cases (
    run_id INTEGER NOT NULL,
    test_id TEXT NOT NULL,
    status TEXT NOT NULL,
    test_item_id INTEGER NOT NULL,
    job_name TEXT NOT NULL,
    build_number INTEGER NOT NULL,
    parameter_set_id INTEGER NOT NULL,
    parameter_set_version INTEGER NOT NULL,
    environment_id INTEGER,
    finished_at TEXT,
    json TEXT NOT NULL
);
CREATE UNIQUE INDEX test_cases_of_run ON test_cases (run_id, test_id);
CREATE INDEX test_cases_of_run_by_status ON test_cases (run_id, status, test_id);
CREATE INDEX test_history ON test_cases (test_item_id, test_id, run_id);
CREATE TABLE flaky_tests (
    test_item_id INTEGER NOT NULL,
    test_id TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (test_item_id, test_id)
);
CREATE INDEX flaky_tests_by_last_seen ON flaky_tests (test_item_id, last_seen_at DESC, test_id);
"#,
    // 12: the audit trail, append-only: triggers refuse any update or delete.
    r#"
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    target TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_target ON audit (target, id);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#,
    // 13: notification channels, each one JSON document (the secret inside).
    r#"
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#,
];

#[derive(Clone)]
pub struct SqliteStore {
    writer: connections::Writer,
    readers: Arc<connections::Readers>,
}

impl SqliteStore {
    /// Opens (creating when needed) `crat.db` in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let file = data_dir.join(STORE_FILE);
        let conn = connect(
            &file,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        migrate(&conn)?;
        // Opened after the migrations, so they all see the current schema.
        let readers = (0..connections::READERS)
            .map(|_| connect_reader(&file))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            writer: connections::Writer::start(conn)?,
            readers: Arc::new(connections::Readers::new(readers)),
        })
    }

    /// Runs `f` on a read-only connection (beside the writer and other reads).
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let started = std::time::Instant::now();
        let result = self.readers.read_here(f).await;
        crate::metrics::store_operation("sqlite", "read", started.elapsed());
        result
    }

    /// Like [`Self::read`], on the blocking pool: for a read with no small bound on its size.
    async fn read_large<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let started = std::time::Instant::now();
        let result = self.readers.read(f).await;
        crate::metrics::store_operation("sqlite", "read", started.elapsed());
        result
    }

    /// Runs `f` on the write connection inside a transaction it shares with other writers'
    /// jobs (each in its own savepoint: its error undoes only its own writes). Answers
    /// after the commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let started = std::time::Instant::now();
        let result = self.writer.write(f).await;
        crate::metrics::store_operation("sqlite", "write", started.elapsed());
        result
    }
}

fn connect(file: &Path, pragmas: &str) -> StoreResult<Connection> {
    let conn = Connection::open(file).map_err(unavailable)?;
    conn.execute_batch(pragmas).map_err(unavailable)?;
    // Plans never depend on the values bound: SQLite would otherwise plan a statement again
    // at each new binding whenever a value might change the plan (a bound value beside a
    // partial index's condition did, on every webhook), and the cached statements were no
    // cheaper than fresh ones.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(unavailable)?;
    Ok(conn)
}

/// A read-only connection to `file`, as the store's readers are.
fn connect_reader(file: &Path) -> StoreResult<Connection> {
    connect(file, "PRAGMA query_only = ON;")
}

/// How SQLite plans `sql` (prepared before the values are bound, as the store does):
/// the detail column of EXPLAIN QUERY PLAN, one line per step.
#[cfg(test)]
fn query_plan(c: &Connection, sql: &str, values: impl rusqlite::Params) -> String {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt.query_map(values, |r| r.get::<_, String>(3)).unwrap();
    rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
}

/// Creates `crat.db` in `data_dir` with the schema of an older version: the first
/// `version` migrations only. For tests of the upgrade from that version.
#[doc(hidden)]
pub fn create_at_schema_version(data_dir: &Path, version: usize) -> StoreResult<()> {
    let conn = Connection::open(data_dir.join(STORE_FILE)).map_err(unavailable)?;
    migrate_to(&conn, version)
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// Applies the migrations after the file's `user_version`, up to the first `version`.
fn migrate_to(conn: &Connection, version: usize) -> StoreResult<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unavailable)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(version)
        .skip(current.max(0) as usize)
    {
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

/// Runs `sql` with `args` for at most one row, read with `row` and re-validated with `check`.
fn query_one<R, T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<R>,
    check: impl FnOnce(R) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    c.prepare_cached(sql)
        .map_err(unavailable)?
        .query_row(args, row)
        .optional()
        .map_err(unavailable)?
        .map(check)
        .transpose()
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A stored timestamp: RFC 3339 UTC with exactly three fractional digits (milliseconds,
/// truncated). Fixed width, so comparing the text in SQL (`expires_at <= ?1`) orders by time.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(field: &str, s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::Corrupt(format!("{field} {s:?}: {e}")))
}

fn next_id_in(conn: &Connection, sequence: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO counters (name, value) VALUES (?1, 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
    )?
    .query_row([sequence], |r| r.get(0))
}

#[async_trait]
impl IdCounters for SqliteStore {
    async fn next_id(&self, sequence: &str) -> StoreResult<i64> {
        let sequence = sequence.to_owned();
        self.write(move |c| next_id_in(c, &sequence).map_err(unavailable))
            .await
    }

    async fn give_back_id(&self, sequence: &str, id: i64) -> StoreResult<bool> {
        let sequence = sequence.to_owned();
        self.write(move |c| {
            c.prepare_cached("UPDATE counters SET value = value - 1 WHERE name = ?1 AND value = ?2")
                .and_then(|mut s| s.execute(rusqlite::params![sequence, id]))
                .map(|changed| changed == 1)
                .map_err(unavailable)
        })
        .await
    }
}

/// A constraint violation becomes `Conflict` with `what`; anything else stays `Unavailable`.
fn conflict_or(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict(what())
        }
        _ => unavailable(e),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}
