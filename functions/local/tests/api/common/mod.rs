//! A real local server on 127.0.0.1:0 for each test, on either store, with a settable clock.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use shared::Deps;
use shared::adapters::{DynamoStore, SqliteStore};
use shared::clock::ManualClock;
use shared::config::{Config, Host};
use shared::ports::Store;

pub mod binary;
pub mod peers;

/// moto serves one request at a time. The tests that keep it busy for minutes (a 100-run
/// burst, a 3-hour run on simulated time) take turns, so that one's load does not starve
/// the other past its wall-clock patience.
static MOTO_MARATHON: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(Default::default);

/// Waits for the turn of a minutes-long test on `backend` (only DynamoDB's take turns).
pub async fn marathon_turn(backend: Backend) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    match backend {
        Backend::Dynamo => Some(MOTO_MARATHON.lock().await),
        Backend::Sqlite => None,
    }
}

pub const ADMIN_PASSWORD: &str = "test-admin-password";
/// State machine waits and retry intervals run at this fraction of real time in tests.
pub const TIME_SCALE: f64 = 0.02;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Dynamo,
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    pub state: Deps,
    pub local: local::Local,
    pub dir: tempfile::TempDir,
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// The DynamoDB endpoint of the test run, or `None` to skip (see shared/tests/integration/store_dynamodb.rs).
pub fn dynamo_endpoint() -> Option<String> {
    match std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") {
        Ok(e) => Some(e),
        Err(_) => {
            assert!(
                std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
                "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
            );
            eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
            None
        }
    }
}

async fn dynamo_store(endpoint: String) -> DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        format!("crat-test-{}", uuid::Uuid::new_v4()),
    );
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    store
}

/// Simulated time for the executor: the app's settable clock, where waiting until a
/// time moves the clock there at once. Hours of Wait states run in the time their
/// tasks and saves take, and the poll deadline (read from the same clock) sees them.
pub struct SimulatedClock(pub Arc<ManualClock>);

impl statemachine::Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        shared::clock::Clock::now(self.0.as_ref())
    }

    fn sleep_until(
        &self,
        at: DateTime<Utc>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.0.advance_to(at);
        Box::pin(tokio::task::yield_now())
    }
}

impl TestApp {
    /// Starts a server; `None` when the backend is DynamoDB and no endpoint is configured.
    pub async fn start(backend: Backend, extra_env: &[(&str, &str)]) -> Option<Self> {
        Self::start_with(backend, extra_env, false).await
    }

    /// A server whose executor runs on simulated time ([`SimulatedClock`], waits at full
    /// length): a 3-hour run takes as long as its polls and saves, not 3 hours.
    pub async fn start_simulated(backend: Backend, extra_env: &[(&str, &str)]) -> Option<Self> {
        Self::start_with(backend, extra_env, true).await
    }

    async fn start_with(
        backend: Backend,
        extra_env: &[(&str, &str)],
        simulated: bool,
    ) -> Option<Self> {
        // A simulated run makes thousands of durable saves: keep its file in memory
        // (tmpfs) where there is one, so fsync does not set the pace.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if simulated && shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        // Simulated time runs waits at full length; real time at TIME_SCALE.
        let scale = if simulated { 1.0 } else { TIME_SCALE };
        let mut vars: HashMap<String, String> = HashMap::from([
            ("CRAT_DATA_DIR".into(), dir.path().to_str().unwrap().into()),
            ("CRAT_TIME_SCALE".into(), scale.to_string()),
            ("ADMIN_PASSWD".into(), ADMIN_PASSWORD.into()),
            (
                "JWT_SECRET".into(),
                "a-test-secret-that-is-long-enough-0123456789".into(),
            ),
        ]);
        vars.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config = Config::from_vars(Host::Embedded, &vars).unwrap();
        let store: Arc<dyn Store> = match backend {
            Backend::Sqlite => Arc::new(SqliteStore::open(dir.path()).unwrap()),
            Backend::Dynamo => Arc::new(dynamo_store(dynamo_endpoint()?).await),
        };
        let clock = Arc::new(ManualClock::new(t0()));
        let deps = Deps::new(config, store, clock.clone()).unwrap();
        let executor_clock = simulated.then(|| {
            let sim: Arc<dyn statemachine::Clock> = Arc::new(SimulatedClock(clock.clone()));
            sim
        });
        let local = local::assemble_with(deps, executor_clock).await.unwrap();
        let state = local.deps.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = local::app(state.clone());
        // With the peer address, as `local::serve` does (the login limit counts per IP).
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Some(Self {
            base,
            client: Client::new(),
            clock,
            state,
            local,
            dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn login(&self, email: &str, password: Option<&str>) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn user_token(&self, email: &str) -> String {
        token_of(self.login(email, None).await).await
    }

    pub async fn admin_token(&self) -> String {
        token_of(self.login("admin@example.com", Some(ADMIN_PASSWORD)).await).await
    }

    pub async fn post_build(&self, job: &str, number: i64) -> Response {
        self.post_json("/api/v1/builds", &webhook(job, number))
            .await
    }
}

pub async fn token_of(resp: Response) -> String {
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

pub fn webhook(job: &str, number: i64) -> Value {
    json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": job,
        "PACKAGE_PATH": format!("CDN/pass/20250613-master-{number}/el7"), "BUILD_NUMBER": number.to_string()})
}

/// Asserts an error response: status, code, and (when given) the named field.
pub async fn assert_error(resp: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}

/// Instantiates each listed async test fn(Backend) once per backend.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::common::Backend::Sqlite).await }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::common::Backend::Dynamo).await }
            )*
        }
    };
}
