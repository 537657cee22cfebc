//! The conformance suite on DynamoDB, against a real DynamoDB-compatible server (moto).
//! `make test` starts moto and sets `CRAT_TEST_DYNAMODB_ENDPOINT`; each test gets its own
//! table. Without the variable the tests skip, unless `CRAT_REQUIRE_DYNAMODB=1` (set by
//! `make test`), which turns a missing server into a failure.

use crate::conformance;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;

use shared::adapters::DynamoStore;
use shared::ports::Store;

async fn fresh_store() -> Option<Arc<dyn Store>> {
    fresh_with_raw().await.map(|(store, _)| store)
}

/// A store and a client that writes items past every check.
async fn fresh_with_raw() -> Option<(Arc<dyn Store>, Arc<dyn conformance::RawWrites>)> {
    let (store, raw) = fresh_dynamo().await?;
    Some((Arc::new(store), Arc::new(raw)))
}

pub(crate) async fn fresh_dynamo() -> Option<(DynamoStore, RawDynamo)> {
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
            "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
        );
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return None;
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let table = format!("crat-test-{}", uuid::Uuid::new_v4());
    let client = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoStore::new(client.clone(), table.clone());
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    Some((store, RawDynamo { client, table }))
}

pub(crate) struct RawDynamo {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

const T0: &str = "2026-11-25T10:00:00.123Z";

impl RawDynamo {
    async fn put(&self, attributes: &[(&str, AttributeValue)]) {
        let item: HashMap<String, AttributeValue> = attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

#[async_trait::async_trait]
impl conformance::RawWrites for RawDynamo {
    async fn raw_build(&self, id: i64, job: &str, number: i64, package_path: &str) {
        let pad = format!("{id:020}");
        self.put(&[
            ("PK", s(&format!("BUILD#{id}"))),
            ("SK", s("BUILD")),
            ("GSI1PK", s("BUILDS")),
            ("GSI1SK", s(&pad)),
            ("GSI2PK", s(&format!("JOB#{job}"))),
            ("GSI2SK", s(&pad)),
            ("id", n(id)),
            ("job_name", s(job)),
            ("build_number", n(number)),
            ("package_path", s(package_path)),
            ("created_at", s(T0)),
        ])
        .await;
        self.put(&[
            ("PK", s(&format!("JOB#{job}"))),
            ("SK", s("JOB")),
            ("GSI1PK", s("JOBS")),
            ("GSI1SK", s(job)),
            ("job_name", s(job)),
            ("latest_build_id", n(id)),
            ("latest_build_number", n(number)),
        ])
        .await;
        // The (job, number) guard every stored build has.
        self.put(&[
            ("PK", s(&format!("BUILDKEY#{number}#{job}"))),
            ("SK", s("BUILDKEY")),
            ("build_id", n(id)),
        ])
        .await;
    }

    async fn raw_session(&self, email: &str, is_admin: bool) {
        let role = if is_admin { "ADMIN" } else { "USER" };
        self.put(&[
            ("PK", s(&format!("SESSION#{email}"))),
            ("SK", s(&format!("SESSION#{role}"))),
            ("GSI1PK", s("SESSIONS")),
            ("GSI1SK", s(&format!("{email}#{}", u8::from(is_admin)))),
            ("email", s(email)),
            ("session_id", s("raw")),
            ("is_admin", AttributeValue::Bool(is_admin)),
            ("token_sha256", s("hash")),
            ("created_at", s(T0)),
            ("expires_at", s("2099-01-01T00:00:00.000Z")),
        ])
        .await;
    }

    async fn raw_test_item(&self, id: i64, notify_email: &str) {
        self.put(&[
            ("PK", s(&format!("ITEM#{id}"))),
            ("SK", s("ITEM")),
            ("GSI1PK", s("ITEMS")),
            ("GSI1SK", s(&format!("{id:020}"))),
            ("id", n(id)),
            ("name", s("raw")),
            ("job_name", s("RAW")),
            ("description", s("")),
            ("enabled", AttributeValue::Bool(true)),
            ("notify_emails", AttributeValue::L(vec![s(notify_email)])),
            ("created_at", s(T0)),
            ("updated_at", s(T0)),
        ])
        .await;
    }

    async fn raw_channel(&self, id: i64, doc: &str) {
        self.put(&[
            ("PK", s(&format!("CHANNEL#{id}"))),
            ("SK", s("CHANNEL")),
            ("GSI1PK", s("CHANNELS")),
            ("GSI1SK", s(&format!("{id:020}"))),
            ("id", n(id)),
            ("doc", s(doc)),
            ("created_at", s(T0)),
            ("updated_at", s(T0)),
        ])
        .await;
    }

    /// As an item written before runs carried a `lane` attribute: the lane is in the JSON.
    async fn raw_unreadable_run(&self, id: i64, lane: &str) {
        let json = serde_json::json!({"id": id, "lane": lane, "steps": "not a list"}).to_string();
        let pad = format!("{id:020}");
        self.put(&[
            ("PK", s(&format!("RUN#{id}"))),
            ("SK", s("RUN")),
            ("GSI1PK", s("RUNS")),
            ("GSI1SK", s(&pad)),
            ("id", n(id)),
            ("test_item_id", n(1)),
            ("status", s("MONITORING")),
            ("revision", n(2)),
            ("run_json", s(&json)),
        ])
        .await;
    }
}

/// moto serves one request at a time and resets connections beyond its short listen
/// queue, so the webhook race keeps 64 callers in flight (DynamoDB itself takes them all).
const WEBHOOKS_IN_FLIGHT: usize = 64;

conformance_tests!(fresh_store(), fresh_with_raw(), WEBHOOKS_IN_FLIGHT);

#[tokio::test]
async fn executions_stored_with_inline_history_stay_readable_and_move_out_on_save() {
    use statemachine::{ExecutionStore, HistoryPage};
    let Some((store, raw)) = fresh_dynamo().await else {
        return;
    };
    let (client, table) = (raw.client.clone(), raw.table.clone());
    // GIVEN a record written before history was kept apart: events inline
    let legacy = serde_json::json!({
        "execution_id": "run-7", "status": "RUNNING", "current_state": "Download",
        "input": {"run_id": 7}, "output": null, "error": null, "cause": null,
        "started_at": "2026-11-25T10:00:00Z", "stopped_at": null,
        "events": [
            {"id": 1, "type": "ExecutionStarted", "timestamp": "2026-11-25T10:00:00Z"},
            {"id": 2, "type": "TaskStateEntered", "state": "Download", "timestamp": "2026-11-25T10:00:00Z"}
        ],
        "cursor": {"state": "Download", "input": {"run_id": 7}, "entered_at": "2026-11-25T10:00:00Z",
                   "retries": [], "pending": {"kind": "RUN"}}
    });
    let s = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&table)
        .item("PK", s("EXEC#run-7"))
        .item("SK", s("EXEC"))
        .item("record_json", s(&legacy.to_string()))
        .item("GSI1PK", s("EXECS_RUNNING"))
        .item("GSI1SK", s("run-7"))
        .send()
        .await
        .unwrap();
    // THEN it is listed as running and its history pages read
    let running = store.list_running_executions().await.unwrap();
    assert_eq!(running.len(), 1);
    let page = store
        .load_history(
            "run-7",
            HistoryPage {
                after: None,
                limit: 1,
                newest_first: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, 2);
    // WHEN the executor saves it next (it adopts the inline events and appends them)
    let mut record = running[0].clone();
    assert!(record.adopt_inline_events());
    let events = std::mem::take(&mut record.events);
    store.save_execution(&record, &events).await.unwrap();
    // THEN the record no longer holds them and the history is unchanged
    let item = client
        .get_item()
        .table_name(&table)
        .key("PK", s("EXEC#run-7"))
        .key("SK", s("EXEC"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let json = item["record_json"].as_s().unwrap();
    assert!(!json.contains("ExecutionStarted"), "{json}");
    let all = store
        .load_history("run-7", HistoryPage::first(10))
        .await
        .unwrap();
    assert_eq!(all, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_sessions_are_ignored_and_login_attempts_expire_by_ttl() {
    use shared::domain::{Email, LOGIN_WINDOW};
    use shared::ports::{LoginFailureStore, SessionStore};
    let Some((store, raw)) = fresh_dynamo().await else {
        return;
    };
    // One session per email, stored before sessions were per role: never listed.
    raw.put(&[
        ("PK", s("SESSION#old@example.com")),
        ("SK", s("SESSION")),
        ("GSI1PK", s("SESSIONS")),
        ("GSI1SK", s("old@example.com")),
        ("email", s("old@example.com")),
        ("session_id", s("legacy")),
        ("is_admin", AttributeValue::Bool(true)),
        ("token_sha256", s("hash")),
        ("created_at", s(T0)),
        ("expires_at", s("2099-01-01T00:00:00.000Z")),
    ])
    .await;
    assert!(
        store
            .list_sessions(conformance::t0())
            .await
            .unwrap()
            .is_empty()
    );
    let old = Email::parse("e", "old@example.com").unwrap();
    store.delete_session(&old, None).await.unwrap();
    let left = raw
        .client
        .get_item()
        .table_name(&raw.table)
        .key("PK", s("SESSION#old@example.com"))
        .key("SK", s("SESSION"))
        .send()
        .await
        .unwrap();
    assert!(
        left.item.is_none(),
        "ending the email's sessions removes the legacy one"
    );

    // A login attempt record carries its window's end as the TTL.
    let t0 = conformance::t0();
    store
        .take_login_attempt("admin:all", 100, t0)
        .await
        .unwrap()
        .unwrap();
    let item = raw
        .client
        .get_item()
        .table_name(&raw.table)
        .key("PK", s("LOGINFAIL#admin:all"))
        .key("SK", s("LOGINFAIL"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item.get("ttl"),
        Some(&n((t0 + LOGIN_WINDOW).timestamp())),
        "DynamoDB removes the record once its window has closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_never_removes_a_lane_item() {
    // A lapsed lease whose run is still live keeps a second run out (the sweeper fails the
    // run), and the lane item holds its queue's counters: DynamoDB's TTL must never remove it.
    // An item left by the old single lock (the default lane's key, with a TTL) loses its
    // TTL when a run next takes the lane.
    use chrono::TimeDelta;
    let Some((store, raw)) = fresh_dynamo().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(store);
    raw.client
        .put_item()
        .table_name(&raw.table)
        .item("PK", s("RUNLOCK"))
        .item("SK", s("RUNLOCK"))
        .item("ttl", n(conformance::t0().timestamp()))
        .send()
        .await
        .unwrap();
    let lease_until = conformance::t0() + TimeDelta::hours(5);
    conformance::runs::start(&store, &conformance::runs::run(1, 1), lease_until)
        .await
        .unwrap();
    let item = raw
        .client
        .get_item()
        .table_name(&raw.table)
        .key("PK", s("RUNLOCK"))
        .key("SK", s("RUNLOCK"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item.get("ttl"), None, "{item:?}");
    assert_eq!(item["run_id"].as_n().unwrap(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_across_the_upgrade_holds_the_default_lane() {
    // The single run lock of earlier versions, as they stored it, is the default lane's.
    use shared::domain::LaneId;
    let Some((store, raw)) = fresh_dynamo().await else {
        return;
    };
    raw.client
        .put_item()
        .table_name(&raw.table)
        .item("PK", s("RUNLOCK"))
        .item("SK", s("RUNLOCK"))
        .item("run_id", n(41))
        .item("lease_until", s("2026-11-25T14:00:00.123Z"))
        .item("lease_until_ns", n(1_700_000_000_000_000_000))
        .send()
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let lock = store
        .get_run_lock(&LaneId::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, 41);
    let held = conformance::runs::start(
        &store,
        &conformance::runs::run(42, 1),
        conformance::runs::lease(),
    )
    .await
    .unwrap_err()
    .unwrap();
    assert_eq!(held.run_id, 41);
    assert!(
        store
            .release_run_lock(&LaneId::default(), 41)
            .await
            .unwrap()
    );
    conformance::runs::start(
        &store,
        &conformance::runs::run(42, 1),
        conformance::runs::lease(),
    )
    .await
    .unwrap();
}

/// Every DynamoDB call the store makes is timed by its operation name, in the family every
/// `Metrics` shows (`crat_store_operation_duration_seconds`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_calls_are_timed_by_operation() {
    let Some((store, _raw)) = fresh_dynamo().await else {
        return;
    };
    let count = |operation: &str| -> f64 {
        let text = shared::metrics::Metrics::default().render();
        let series = format!(
            r#"crat_store_operation_duration_seconds_count{{store="dynamodb",operation="{operation}"}} "#
        );
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let before = (count("TransactWriteItems"), count("GetItem"));
    let (build, _) = shared::ports::BuildStore::insert_build(
        &store,
        &conformance::new_build("TIMED", 1),
        conformance::t0(),
    )
    .await
    .unwrap();
    shared::ports::BuildStore::get_build(&store, build.id)
        .await
        .unwrap()
        .unwrap();
    // Tests share the process (and the family): at least this test's calls were counted.
    assert!(count("TransactWriteItems") >= before.0 + 1.0);
    assert!(count("GetItem") >= before.1 + 1.0);
}
