//! The cloud's cost goals through the real HTTP handlers on DynamoDB (README "What it
//! costs in the cloud"): an SDK interceptor on the store's client counts the calls of
//! each request. A new build's webhook is one write call; an authenticated GET (the
//! session lookup + its page) at most two calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use reqwest::StatusCode;
use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use shared::ports::Store;

use crate::common::{dynamo_endpoint, token_of, webhook};

/// The operation (`X-Amz-Target`'s last part) of every request the client sends.
#[derive(Debug, Clone, Default)]
struct CountCalls(Arc<Mutex<Vec<String>>>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        self.0.lock().unwrap().push(op);
        Ok(())
    }
}

impl CountCalls {
    /// The calls since the last take, and how many of them write.
    fn take(&self) -> (Vec<String>, usize) {
        let calls = std::mem::take(&mut *self.0.lock().unwrap());
        let writes = calls
            .iter()
            .filter(|c| {
                matches!(
                    c.as_str(),
                    "PutItem"
                        | "UpdateItem"
                        | "DeleteItem"
                        | "BatchWriteItem"
                        | "TransactWriteItems"
                )
            })
            .count();
        (calls, writes)
    }
}

/// The local server's routers on a fresh DynamoDB table whose client counts its calls
/// (no executor, no timers: only the requests' own calls are counted).
async fn counted_server() -> Option<(String, CountCalls, tempfile::TempDir)> {
    let endpoint = dynamo_endpoint()?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let calls = CountCalls::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(calls.clone())
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
            "cloud-calls-jwt-secret-that-is-long-enough-01",
        ),
        ("ADMIN_PASSWD", "cloud-calls-admin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(Host::Embedded, &vars).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let deps = Deps::new(config, store, Arc::new(SystemClock)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = local::app(deps).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    calls.take();
    Some((base, calls, dir))
}

#[tokio::test]
async fn webhook_writes_once_and_an_authenticated_get_makes_two_calls() {
    let Some((base, calls, _dir)) = counted_server().await else {
        return;
    };
    let client = reqwest::Client::new();
    let post = |body| {
        client
            .post(format!("{base}/api/v1/builds"))
            .json(&body)
            .send()
    };

    // GIVEN a known job, WHEN Jenkins posts its next build, THEN one write call
    assert_eq!(
        post(webhook("CDN_CORE", 1)).await.unwrap().status(),
        StatusCode::CREATED
    );
    calls.take();
    let resp = post(webhook("CDN_CORE", 2)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (made, writes) = calls.take();
    assert_eq!(writes, 1, "new build: {made:?}");
    // BatchGetItem (guard, counter, job), the write, the job's version selection, and the
    // job's items a new build starts (a Query of their own index partition: issue 13).
    assert!(made.len() <= 4, "new build: {made:?}");
    // a repeat writes nothing
    let resp = post(webhook("CDN_CORE", 2)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (made, writes) = calls.take();
    assert_eq!(writes, 0, "repeat: {made:?}");

    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "user@example.com"}))
        .send()
        .await
        .unwrap();
    let token = token_of(login).await;
    for path in [
        "/api/v1/builds?job_name=CDN_CORE&limit=20",
        "/api/v1/test-items",
    ] {
        calls.take();
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let (made, writes) = calls.take();
        assert!(made.len() <= 2, "GET {path}: {made:?}");
        assert_eq!(writes, 0, "GET {path}: {made:?}");
    }
}
