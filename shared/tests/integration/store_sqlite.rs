//! The conformance suite on the embedded SQLite store, plus its durability.

use crate::conformance;

use std::sync::{Arc, Mutex};

use shared::adapters::SqliteStore;
use shared::ports::{AuditStore, BuildStore, IdCounters, LoginFailureStore, Store};

async fn fresh_store() -> Option<Arc<dyn Store>> {
    fresh_with_raw().await.map(|(store, _)| store)
}

/// A store and a second connection to its file that writes rows past every check.
async fn fresh_with_raw() -> Option<(Arc<dyn Store>, Arc<dyn conformance::RawWrites>)> {
    // The folder must outlive the store; leak it for the test's duration.
    let dir = tempfile::tempdir().unwrap().keep();
    let store = Arc::new(SqliteStore::open(&dir).unwrap());
    let raw = Arc::new(RawSqlite(Mutex::new(
        rusqlite::Connection::open(dir.join("crat.db")).unwrap(),
    )));
    Some((store, raw))
}

struct RawSqlite(Mutex<rusqlite::Connection>);

const T0: &str = "2026-11-25T10:00:00.123Z";

#[async_trait::async_trait]
impl conformance::RawWrites for RawSqlite {
    async fn raw_build(&self, id: i64, job: &str, number: i64, package_path: &str) {
        self.0
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO builds (id, job_name, build_number, build_user, package_path, created_at)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                rusqlite::params![id, job, number, package_path, T0],
            )
            .unwrap();
    }

    async fn raw_session(&self, email: &str, is_admin: bool) {
        self.0
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO sessions (email, session_id, is_admin, token_sha256, created_at, expires_at)
                 VALUES (?1, 'raw', ?2, 'hash', ?3, '2099-01-01T00:00:00.000Z')",
                rusqlite::params![email, is_admin, T0],
            )
            .unwrap();
    }

    async fn raw_test_item(&self, id: i64, notify_email: &str) {
        let emails = serde_json::json!([notify_email]).to_string();
        self.0
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO test_items (id, name, job_name, parameter_set_id, description, enabled, notify_emails, created_at, updated_at)
                 VALUES (?1, 'raw', 'RAW', NULL, '', 1, ?2, ?3, ?3)",
                rusqlite::params![id, emails, T0],
            )
            .unwrap();
    }

    async fn raw_channel(&self, id: i64, doc: &str) {
        self.0
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO channels (id, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                rusqlite::params![id, doc, T0],
            )
            .unwrap();
    }

    async fn raw_unreadable_run(&self, id: i64, lane: &str) {
        let json = serde_json::json!({"id": id, "lane": lane, "steps": "not a list"}).to_string();
        let changed = self
            .0
            .lock()
            .unwrap()
            .execute(
                "UPDATE runs SET json = ?2 WHERE id = ?1",
                rusqlite::params![id, json],
            )
            .unwrap();
        assert_eq!(changed, 1, "run {id} is stored");
    }
}

/// All 1,000 racing webhooks at once: they meet in the writer's queue.
const WEBHOOKS_IN_FLIGHT: usize = 1000;

conformance_tests!(fresh_store(), fresh_with_raw(), WEBHOOKS_IN_FLIGHT);

#[tokio::test]
async fn closed_login_windows_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let t0 = conformance::t0();
    for key in ["admin:email:a@example.com", "admin:all"] {
        store.take_login_attempt(key, 5, t0).await.unwrap().unwrap();
    }
    let later = t0 + shared::domain::LOGIN_WINDOW + chrono::TimeDelta::seconds(1);
    store
        .take_login_attempt("admin:all", 100, later)
        .await
        .unwrap()
        .unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("crat.db")).unwrap();
    let keys: Vec<String> = conn
        .prepare("SELECT key FROM login_failures ORDER BY key")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, ["admin:all"], "the stale record is gone");
}

#[tokio::test]
async fn builds_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .insert_build(&conformance::new_build("CDN_CORE", 101), conformance::t0())
            .await
            .unwrap()
            .0
            .id
    };
    let reopened = SqliteStore::open(dir.path()).unwrap();
    let got = reopened
        .get_build(id)
        .await
        .unwrap()
        .expect("build kept across reopen");
    assert_eq!(got.build_number.get(), 101);
    let (again, created) = reopened
        .insert_build(&conformance::new_build("CDN_CORE", 101), conformance::t0())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, id);
    assert!(
        reopened.next_id("builds").await.unwrap() > id,
        "counters survive too"
    );
}

#[tokio::test]
async fn test_items_stored_before_environments_read_as_the_default_environment() {
    use shared::ports::{EnvironmentStore, TestItemStore};
    // GIVEN a file from before environments (schema version 6) holding a test item
    let dir = tempfile::tempdir().unwrap();
    shared::adapters::sqlite::create_at_schema_version(dir.path(), 6).unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("crat.db")).unwrap();
        c.execute(
            "INSERT INTO test_items (id, name, job_name, parameter_set_id, description, enabled, notify_emails, created_at, updated_at)
             VALUES (1, 'cds', 'CDN_CORE', NULL, '', 1, '[]', ?1, ?1)",
            [T0],
        )
        .unwrap();
    }
    // WHEN the current code opens it
    let store = SqliteStore::open(dir.path()).unwrap();
    // THEN the item reads with no environment (the default), and can be moved to one
    let item = store.get_test_item(1).await.unwrap().unwrap();
    assert_eq!(item.environment_id, None);
    let env = store
        .create_environment(
            &shared::domain::EnvironmentFields::parse("b", "http://127.0.0.1:9002", &[], "", true)
                .unwrap(),
            conformance::t0(),
        )
        .await
        .unwrap();
    let fields = shared::domain::TestItemFields {
        name: item.name.clone(),
        job_name: item.job_name.clone(),
        parameter_set_id: None,
        environment_id: Some(env.id),
        description: String::new(),
        enabled: true,
        notify_emails: Vec::new(),
        trigger_on_new_build: false,
    };
    let moved = store
        .update_test_item(1, &fields, conformance::t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.environment_id, Some(env.id));
}

#[tokio::test]
async fn executions_stored_with_inline_history_are_migrated_and_stay_readable() {
    use statemachine::{ExecutionStore, HistoryPage};
    // GIVEN a file from before history was kept apart (schema version 4), holding a
    // running execution with its 3 events inline in the record
    let dir = tempfile::tempdir().unwrap();
    shared::adapters::sqlite::create_at_schema_version(dir.path(), 5).unwrap();
    let legacy = serde_json::json!({
        "execution_id": "run-7", "status": "RUNNING", "current_state": "WaitBeforePoll",
        "input": {"run_id": 7, "failure": null}, "output": null, "error": null, "cause": null,
        "started_at": "2026-11-25T10:00:00Z", "stopped_at": null,
        "events": [
            {"id": 1, "type": "ExecutionStarted", "timestamp": "2026-11-25T10:00:00Z", "input": {"run_id": 7}},
            {"id": 2, "type": "TaskStateEntered", "state": "Download", "timestamp": "2026-11-25T10:00:00Z"},
            {"id": 3, "type": "WaitStateEntered", "state": "WaitBeforePoll", "timestamp": "2026-11-25T10:00:01Z"}
        ],
        "cursor": {"state": "WaitBeforePoll", "input": {"run_id": 7}, "entered_at": "2026-11-25T10:00:01Z",
                   "retries": [], "pending": {"kind": "WAIT_UNTIL", "until": "2026-11-25T10:00:06Z"}}
    });
    {
        let c = rusqlite::Connection::open(dir.path().join("crat.db")).unwrap();
        c.execute(
            "INSERT INTO executions (id, running, json) VALUES ('run-7', 1, ?1)",
            [legacy.to_string()],
        )
        .unwrap();
    }
    // WHEN the current code opens it
    let store = SqliteStore::open(dir.path()).unwrap();
    // THEN the record is small, counts its events, is still resumable, and its history
    // reads page by page
    let running = store.list_running_executions().await.unwrap();
    assert_eq!(running.len(), 1);
    let record = &running[0];
    assert_eq!(record.event_count, 3);
    assert!(record.events.is_empty());
    assert!(record.cursor.is_some());
    let first = store
        .load_history("run-7", HistoryPage::first(2))
        .await
        .unwrap();
    let rest = store
        .load_history(
            "run-7",
            HistoryPage {
                after: Some(2),
                limit: 2,
                newest_first: false,
            },
        )
        .await
        .unwrap();
    let types: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|e| e.r#type.as_str())
        .collect();
    assert_eq!(
        types,
        ["ExecutionStarted", "TaskStateEntered", "WaitStateEntered"]
    );
    assert_eq!(rest[0].state.as_deref(), Some("WaitBeforePoll"));
}

#[tokio::test]
async fn the_single_run_lock_becomes_the_default_lanes() {
    use shared::domain::{LaneId, RunStatus};
    use shared::ports::RunStore;
    // GIVEN a file from before lanes (schema version 7): run 41 holds the one lock
    let dir = tempfile::tempdir().unwrap();
    shared::adapters::sqlite::create_at_schema_version(dir.path(), 7).unwrap();
    let mut old = conformance::runs::run(41, 1);
    old.status = RunStatus::Monitoring;
    let mut old_json = serde_json::to_value(&old).unwrap();
    for added in ["lane", "queued_at", "queue_seq", "started_by_webhook"] {
        old_json.as_object_mut().unwrap().remove(added);
    }
    {
        let c = rusqlite::Connection::open(dir.path().join("crat.db")).unwrap();
        c.execute(
            "INSERT INTO run_lock (id, run_id, lease_until) VALUES (1, 41, '2026-11-25T14:00:00.123Z')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO runs (id, test_item_id, status, revision, json) VALUES (41, 1, 'MONITORING', 1, ?1)",
            [old_json.to_string()],
        )
        .unwrap();
    }
    // WHEN the current code opens it THEN run 41 holds the default lane, and reads back in it
    let store = SqliteStore::open(dir.path()).unwrap();
    let lock = store
        .get_run_lock(&LaneId::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, 41);
    assert_eq!(
        store.get_run(41).await.unwrap().unwrap().lane,
        LaneId::default()
    );
    let store: Arc<dyn Store> = Arc::new(store);
    let held = conformance::runs::start(
        &store,
        &conformance::runs::run(42, 1),
        conformance::runs::lease(),
    )
    .await
    .unwrap_err()
    .unwrap();
    assert_eq!(held.run_id, 41);
}

/// Every table of the file with its row count (the backup's own reading of a store).
fn row_counts(db: &std::path::Path) -> Vec<(String, u64)> {
    shared::adapters::sqlite::backup::store_tables(&rusqlite::Connection::open(db).unwrap())
        .unwrap()
}

/// A data folder as a released CRAT left it (tests/fixtures/store-schema-v11.sql: `make
/// demo` with three runs: completed, completed with four test cases, a re-run of its failures
/// that the test server failed; an environment; dumped with its user_version) opens with the
/// current code and loses nothing: every table keeps its rows, every record reads. A later
/// migration must keep this green; a later schema adds its own fixture beside this one.
#[tokio::test]
async fn a_data_folder_of_schema_v11_opens_and_keeps_every_record() {
    use shared::domain::{RunStatus, TestStatus};
    use shared::ports::{
        EnvironmentStore, ParameterSetStore, RunStore, SettingsStore, TestCaseStore, TestItemStore,
    };
    use statemachine::{ExecutionStatus, ExecutionStore, HistoryPage};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crat.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(include_str!("../fixtures/store-schema-v11.sql"))
        .unwrap();
    let before = row_counts(&db);

    let store = SqliteStore::open(dir.path()).unwrap();
    let builds = store.list_builds(None, None, 100).await.unwrap();
    assert_eq!(builds.items.len(), 1);
    assert_eq!(builds.items[0].build_number.get(), 1);
    let runs = store.list_runs(None, None, 100).await.unwrap().items;
    let outcomes: Vec<(i64, RunStatus)> = runs.iter().map(|r| (r.id.get(), r.status)).collect();
    assert_eq!(
        outcomes,
        [
            (3, RunStatus::Failed),
            (2, RunStatus::Completed),
            (1, RunStatus::Completed)
        ]
    );
    assert!(runs.iter().all(|r| r.notification.is_some()), "mailed");
    assert_eq!(runs[1].test_cases.as_ref().unwrap().stored, 4);
    assert!(
        runs[0].test_plan.is_some(),
        "the re-run of the failures keeps its plan"
    );
    let cases = store.all_test_cases(2).await.unwrap();
    let statuses: Vec<(String, TestStatus)> =
        cases.iter().map(|c| (c.name.clone(), c.status)).collect();
    for want in [
        ("test_a", TestStatus::Passed),
        ("test_b", TestStatus::Failed),
        ("test_c", TestStatus::Broken),
        ("test_d", TestStatus::Skipped),
    ] {
        assert!(
            statuses.contains(&(want.0.to_owned(), want.1)),
            "{want:?} in {statuses:?}"
        );
    }
    let item = store.get_test_item(1).await.unwrap().unwrap();
    assert_eq!(item.name.as_str(), "cds");
    let set = store.get_parameter_set(1).await.unwrap().unwrap();
    assert_eq!(
        store
            .list_parameter_set_versions(set.id)
            .await
            .unwrap()
            .len() as i64,
        set.version
    );
    assert_eq!(
        store
            .get_environment(shared::domain::EnvironmentId::from_stored(1))
            .await
            .unwrap()
            .unwrap()
            .name
            .as_str(),
        "lab-b"
    );
    store.get_settings().await.unwrap();
    for run in &runs {
        let exec = store
            .load_execution(&run.execution_id)
            .await
            .unwrap()
            .expect("its execution");
        assert_ne!(
            exec.status,
            ExecutionStatus::Running,
            "{}",
            run.execution_id
        );
        assert!(
            !store
                .load_history(&run.execution_id, HistoryPage::first(500))
                .await
                .unwrap()
                .is_empty()
        );
    }
    drop(store);

    // Every table keeps its rows (a later schema may add tables, never lose rows).
    let after = row_counts(&db);
    for (table, rows) in &before {
        let now = after.iter().find(|t| &t.0 == table).map(|t| t.1);
        assert_eq!(now, Some(*rows), "table {table}");
    }
}

/// A store left at any earlier schema version opens with the current code: every migration
/// after it runs, once, in order, and a second open changes nothing.
#[tokio::test]
async fn a_store_at_every_earlier_schema_version_upgrades_to_the_current_one() {
    use shared::adapters::sqlite::{SCHEMA_VERSION, create_at_schema_version};
    let version = |db: &std::path::Path| -> usize {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap() as usize
    };
    for from in 0..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("crat.db");
        create_at_schema_version(dir.path(), from).unwrap();
        assert_eq!(version(&db), from);
        drop(SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("from v{from}: {e}")));
        assert_eq!(version(&db), SCHEMA_VERSION, "from v{from}");
        let tables = row_counts(&db);
        drop(SqliteStore::open(dir.path()).unwrap());
        assert_eq!(row_counts(&db), tables, "a second open from v{from}");
    }
}

/// The audit trail is append-only in the file itself: its triggers refuse an update or a
/// delete from any connection, not only from the store's code (which has no such path).
#[tokio::test]
async fn the_audit_table_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let entry = shared::domain::NewAuditEntry {
        at: conformance::t0(),
        actor: "admin@example.com".into(),
        actor_is_admin: true,
        action: shared::domain::AuditAction::SettingsUpdate,
        target: "settings".into(),
        request_id: "r1".into(),
        changes: serde_json::json!({}),
    };
    let stored = store.append_audit(&entry).await.unwrap();
    drop(store);
    let c = rusqlite::Connection::open(dir.path().join("crat.db")).unwrap();
    for sql in [
        "UPDATE audit SET actor = 'someone@example.com'",
        "DELETE FROM audit",
    ] {
        let err = c.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM audit WHERE id = ?1",
            [stored.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}
