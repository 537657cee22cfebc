//! The lanes' service paths on DynamoDB (moto) through a client that counts its calls and
//! can answer transactions as contended: a cancel of a queued run under contention, and
//! what a trigger costs on a free and on a busy lane. Same moto as `store_dynamodb`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::{Value, json};

use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use shared::domain::{Email, LaneId, RunStatus, TestItemId};
use shared::ports::Store;
use shared::services::runs::TriggerInput;
use shared::services::{builds, job_versions, parameter_sets, runs, settings, test_items};
use shared::workflow::{ExecutionView, WorkflowError, WorkflowStarter};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Records every operation the client sends; while `contend` is above zero, each
/// TransactWriteItems is not sent on (the request becomes a harmless ListTables) and is
/// answered as DynamoDB answers a transaction that lost to a concurrent one.
#[derive(Debug, Clone, Default)]
struct Wire {
    calls: Arc<Mutex<Vec<String>>>,
    contend: Arc<AtomicUsize>,
    contended_now: Arc<AtomicUsize>,
}

impl Wire {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl Intercept for Wire {
    fn name(&self) -> &'static str {
        "Wire"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        self.calls.lock().unwrap().push(op.clone());
        let contend = op == "TransactWriteItems"
            && self
                .contend
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if contend {
            request
                .headers_mut()
                .insert("x-amz-target", "DynamoDB_20120810.ListTables");
            request.headers_mut().insert("content-length", "2");
            *request.body_mut() = "{}".into();
            self.contended_now.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self
            .contended_now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Ok(());
        }
        let reasons = vec![json!({"Code": "TransactionConflict"}); 3];
        let body = json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
            "CancellationReasons": reasons});
        let response = context.response_mut();
        *response.status_mut() = 400u16.try_into()?;
        response.headers_mut().remove("content-length");
        *response.body_mut() = body.to_string().into();
        Ok(())
    }
}

/// Starts every execution (it records nothing: these tests read the store).
struct Started;

#[async_trait]
impl WorkflowStarter for Started {
    async fn start(&self, _: &str, _: Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn describe(&self, _: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Ok(None)
    }
    async fn stop(&self, _: &str, _: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
}

/// Deps on a fresh table through a [`Wire`]d client, with an item whose job has a
/// selected build, ready to trigger; `None` when moto is not there.
async fn wired() -> Option<(Deps, Wire, TestItemId, tempfile::TempDir)> {
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
            "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
        );
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return None;
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let wire = Wire::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(wire.clone())
        .build();
    let table = format!("crat-test-{}", uuid::Uuid::new_v4());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), table);
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<String, String> = [
        ("CRAT_DATA_DIR", dir.path().to_str().unwrap()),
        (
            "JWT_SECRET",
            "lanes-test-jwt-secret-that-is-long-enough-012",
        ),
        ("ADMIN_PASSWD", "lanes-test-admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(Host::Embedded, &vars).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let deps = Deps::new(config, store, Arc::new(SystemClock)).unwrap();
    deps.workflow.bind(Arc::new(Started)).ok().unwrap();
    let item = ready_item(&deps).await;
    wire.take();
    Some((deps, wire, item, dir))
}

async fn ready_item(deps: &Deps) -> TestItemId {
    let set = parameter_sets::CreateParameterSet {
        name: "defaults".into(),
        description: String::new(),
        params: Some(json!({"service_name": "cds"})),
    };
    parameter_sets::create(deps, "admin@example.com", set)
        .await
        .unwrap();
    settings::patch(
        deps,
        "admin@example.com",
        &json!({"package_download_base_url": "http://packages.test/",
            "external_test_server_url": "http://tests.test/"}),
    )
    .await
    .unwrap();
    let item = test_items::create(
        deps,
        test_items::TestItemInput {
            name: "cds".into(),
            job_name: "CDN_CORE".into(),
            parameter_set_id: None,
            environment_id: None,
            description: String::new(),
            enabled: true,
            notify_emails: Vec::new(),
            trigger_on_new_build: false,
        },
    )
    .await
    .unwrap();
    let body = json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101",
        "PACKAGE_PATH": "CDN/pass/20250613-master-101/el7"});
    let build = builds::record_build(deps, &body).await.unwrap().0;
    job_versions::select(
        deps,
        "user@example.com",
        job_versions::SelectInput {
            job_name: "CDN_CORE".into(),
            build_id: build.id,
            auto_sync: false,
            sync_on_new_build: None,
        },
    )
    .await
    .unwrap();
    TestItemId::from_stored(item.id)
}

fn email(raw: &str) -> Email {
    Email::parse("email", raw).unwrap()
}

fn selected() -> TriggerInput {
    TriggerInput {
        build_info_id: None,
        queue: None,
    }
}

/// Issue 13 review: while the lane item is contended, a cancel of a queued run must not
/// fall through to the live-run path (which wrote the run CANCELLED but left it counted in
/// the queue, so the lane never started a run directly again): it answers 409 `run_busy`
/// and changes nothing; once the contention is over it cancels, and the queue is empty.
#[tokio::test]
async fn cancel_of_a_queued_run_under_contention_is_refused_and_changes_nothing() {
    let Some((deps, wire, item, _dir)) = wired().await else {
        return;
    };
    let first = runs::trigger(&deps, &email("a@example.com"), item, selected())
        .await
        .unwrap();
    let queued = runs::trigger(&deps, &email("b@example.com"), item, selected())
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);

    wire.contend.store(usize::MAX, Ordering::SeqCst);
    let refused = runs::cancel(&deps, &email("b@example.com"), false, queued.id).await;
    wire.contend.store(0, Ordering::SeqCst);
    let err = refused.unwrap_err();
    assert!(
        matches!(
            &err,
            shared::services::ServiceError::Conflict {
                code: "run_busy",
                ..
            }
        ),
        "{err:?}"
    );
    let still = deps.store.get_run(queued.id.get()).await.unwrap().unwrap();
    assert_eq!(still.status, RunStatus::Queued, "nothing written");
    let lane = LaneId::default_lane();
    assert_eq!(deps.store.queued_runs(&lane).await.unwrap().len(), 1);

    let cancelled = runs::cancel(&deps, &email("b@example.com"), false, queued.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(deps.store.queued_runs(&lane).await.unwrap().is_empty());
    // The lane counts no waiting run: once the first ends, a trigger starts at once.
    runs::cancel(&deps, &email("a@example.com"), false, first.id)
        .await
        .unwrap();
    let next = runs::trigger(&deps, &email("c@example.com"), item, selected())
        .await
        .unwrap();
    assert_ne!(next.status, RunStatus::Queued, "{:?}", next.status);
}

/// What a trigger costs on DynamoDB (printed for the README's cost notes, bounded here so
/// it cannot grow unnoticed): on a free lane, and queued behind a busy one.
#[tokio::test]
async fn a_trigger_costs_a_bounded_number_of_calls() {
    let Some((deps, wire, item, _dir)) = wired().await else {
        return;
    };
    runs::trigger(&deps, &email("a@example.com"), item, selected())
        .await
        .unwrap();
    let free = wire.take();
    let queued = runs::trigger(&deps, &email("b@example.com"), item, selected())
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    let busy = wire.take();
    eprintln!("trigger, free lane: {} calls {free:?}", free.len());
    eprintln!("trigger, busy lane: {} calls {busy:?}", busy.len());
    assert!(free.len() <= 10, "free lane: {free:?}");
    assert!(busy.len() <= 17, "busy lane: {busy:?}");
}
