//! A DynamoDB client on moto whose every request passes a [`Wire`]: it records each
//! operation (to count what a path costs) and can answer transactions as contended
//! (moto never does). For `store_dynamodb_calls` and `store_dynamodb_lanes`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::json;

use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use shared::ports::Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// How many of `calls` write.
pub fn writes(calls: &[String]) -> usize {
    calls
        .iter()
        .filter(|c| WRITES.contains(&c.as_str()))
        .count()
}

/// Records the operation (`X-Amz-Target`'s last part) of every request the client sends;
/// while [`Wire::contend`] is above zero, each TransactWriteItems is not sent on (the
/// request becomes a harmless ListTables) and is answered as DynamoDB answers a
/// transaction that lost to a concurrent one.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    calls: Arc<Mutex<Vec<String>>>,
    contend: Arc<AtomicUsize>,
    contended_now: Arc<AtomicUsize>,
}

impl Wire {
    /// The calls since the last take.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Answers the next `transactions` TransactWriteItems as contended.
    pub fn contend(&self, transactions: usize) {
        self.contend.store(transactions, Ordering::SeqCst);
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

/// A wired store's `Deps`, its data folder, and the store's own client and table (to
/// write items past every check).
pub struct Wired {
    pub deps: Deps,
    pub wire: Wire,
    pub dir: tempfile::TempDir,
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

/// Deps on a fresh moto table through a [`Wire`]d client (nothing recorded yet); `None`
/// when moto is not there.
pub async fn wired_deps() -> Option<Wired> {
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
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let store = DynamoStore::new(client.clone(), table.clone());
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<String, String> = [
        ("CRAT_DATA_DIR", dir.path().to_str().unwrap()),
        (
            "JWT_SECRET",
            "wired-test-jwt-secret-that-is-long-enough-0123",
        ),
        ("ADMIN_PASSWD", "wired-test-admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(Host::Embedded, &vars).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let deps = Deps::new(config, store, Arc::new(SystemClock)).unwrap();
    wire.take();
    Some(Wired {
        deps,
        wire,
        dir,
        client,
        table,
    })
}
