//! The Lambda host path answers like the local one.
//!
//! Runs the REAL `builds`, `auth` and `meta` function binaries (the `cargo lambda build`
//! bootstraps, or the plain `cargo build` binaries) as child processes against a Lambda
//! Runtime API that this test implements itself (a small axum server on 127.0.0.1:0), feeds
//! them hand-written API Gateway HTTP API (payload v2.0) events, and parses their v2
//! responses. The functions use a fresh table on the DynamoDB endpoint of the test run
//! (moto). Then the in-process local server is started on the same table with the same
//! secrets, and the same requests must get the identical status and JSON there.
//!
//! Here: the scenario, the DynamoDB store and the local server; `api_gateway` (events and
//! responses), `runtime_api` (the Runtime API double) and `function` (a function process)
//! are its fixture.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};

mod api_gateway;
mod function;
mod runtime_api;
use api_gateway::*;
use function::*;
use runtime_api::*;

const JWT_SECRET: &str = "a-lambda-test-secret-that-is-long-enough-0123456789";
const ADMIN_PASSWD: &str = "lambda-test-admin-password";
const FIRST_INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

fn jenkins_body() -> Value {
    json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": "CDN_CORE",
        "PACKAGE_PATH": "CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7",
        "BUILD_NUMBER": "101"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_binaries_answer_like_the_local_server() {
    let Some(endpoint) = common::dynamo_endpoint() else {
        return;
    };
    let table = format!("crat-lambda-test-{}", uuid::Uuid::new_v4());
    let store = dynamo_store(&endpoint, &table).await;

    // Start all three at once so their cold starts overlap.
    let env = FunctionEnv {
        endpoint: endpoint.clone(),
        table: table.clone(),
    };
    let mut builds = Function::start("builds", &env).await;
    let mut auth = Function::start("auth", &env).await;
    let mut meta = Function::start("meta", &env).await;

    // The Jenkins webhook: created, then idempotent.
    let created = builds
        .invoke(http_event(
            "POST",
            "/api/v1/builds",
            &[],
            Some(&jenkins_body()),
        ))
        .await;
    assert_eq!(created.status, 201, "first webhook post: {created}");
    assert_json_content_type(&created);
    assert!(
        created.headers.contains_key("x-request-id"),
        "request id header: {created}"
    );
    let created_body = created.json();
    let id = created_body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("integer id: {created}"));
    assert_eq!(created_body["job_name"], "CDN_CORE", "{created}");
    assert_eq!(created_body["build_number"], 101, "{created}");

    let repeat = builds
        .invoke(http_event(
            "POST",
            "/api/v1/builds",
            &[],
            Some(&jenkins_body()),
        ))
        .await;
    assert_eq!(repeat.status, 200, "repeated webhook post: {repeat}");
    assert_eq!(repeat.json()["id"], id, "same build: {repeat}");

    let mut invalid_body = jenkins_body();
    invalid_body["BUILD_NUMBER"] = json!("0");
    let invalid = builds
        .invoke(http_event(
            "POST",
            "/api/v1/builds",
            &[],
            Some(&invalid_body),
        ))
        .await;
    assert_eq!(invalid.status, 400, "invalid webhook post: {invalid}");
    assert_eq!(
        invalid.json()["error"]["field"],
        "BUILD_NUMBER",
        "{invalid}"
    );

    // Login through the auth function, then the token works in the builds function.
    let login = auth
        .invoke(http_event(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(&json!({"email": "dev@example.com"})),
        ))
        .await;
    assert_eq!(login.status, 200, "login: {login}");
    let token = login.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("a token: {login}"))
        .to_owned();
    let bearer = format!("Bearer {token}");

    let list_path = "/api/v1/builds?job_name=CDN_CORE&limit=10";
    let listed = builds
        .invoke(http_event(
            "GET",
            list_path,
            &[("authorization", &bearer)],
            None,
        ))
        .await;
    assert_eq!(listed.status, 200, "list builds: {listed}");
    let listed_body = listed.json();
    let items = listed_body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one build listed: {listed}");
    assert_eq!(items[0]["id"], id, "{listed}");
    assert_eq!(items[0]["job_name"], "CDN_CORE", "{listed}");

    let anonymous = builds.invoke(http_event("GET", list_path, &[], None)).await;
    assert_eq!(
        anonymous.status, 401,
        "list builds without a token: {anonymous}"
    );
    assert_eq!(
        anonymous.json()["error"]["code"],
        "unauthorized",
        "{anonymous}"
    );

    let health = meta.invoke(http_event("GET", "/healthz", &[], None)).await;
    assert_eq!(health.status, 200, "healthz: {health}");
    assert_eq!(health.json()["status"], "ok", "{health}");
    assert!(health.json()["version"].is_string(), "{health}");

    // The local server on the same table and secrets answers identically.
    let local = LocalServer::start(store, &table).await;
    let (status, body) = local.get(list_path, Some(&token)).await;
    assert_eq!(status, listed.status, "local list status vs Lambda");
    assert_eq!(body, listed_body, "local list body vs Lambda");
    let (status, body) = local.get(list_path, None).await;
    assert_eq!(status, anonymous.status, "local anonymous status vs Lambda");
    assert_eq!(body, anonymous.json(), "local anonymous body vs Lambda");
    let (status, body) = local.post_json("/api/v1/builds", &invalid_body).await;
    assert_eq!(
        status, invalid.status,
        "local invalid webhook status vs Lambda"
    );
    assert_eq!(body, invalid.json(), "local invalid webhook body vs Lambda");
    let (status, body) = local.post_json("/api/v1/builds", &jenkins_body()).await;
    assert_eq!(status, 200, "local repeat of the Lambda-created build");
    assert_eq!(body, created_body, "local repeat returns the stored build");
    let (status, body) = local.get("/healthz", None).await;
    assert_eq!(status, health.status, "local healthz status vs Lambda");
    assert_eq!(body, health.json(), "local healthz body vs Lambda");

    // Every other HTTP function answers one route under Lambda as the local server does.
    for (name, path) in [
        ("test-items", "/api/v1/test-items"),
        ("environments", "/api/v1/environments"),
        ("parameter-sets", "/api/v1/parameter-sets"),
        ("job-versions", "/api/v1/job-versions"),
        ("settings", "/api/v1/settings"),
        ("deploy-runs", "/api/v1/deploy-test-runs?limit=5"),
    ] {
        let mut function = Function::start(name, &env).await;
        let answer = function
            .invoke(http_event("GET", path, &[("authorization", &bearer)], None))
            .await;
        assert_eq!(answer.status, 200, "{name} {path}: {answer}");
        let (status, body) = local.get(path, Some(&token)).await;
        assert_eq!(
            (status, body),
            (answer.status, answer.json()),
            "{name}: local vs Lambda"
        );
        println!(
            "{name}: {} invocations via {}",
            function.invocations,
            function.binary.display()
        );
    }

    // A Jenkins folder job. API Gateway HTTP APIs hand Lambda a DECODED rawPath: the local
    // `team%2FCDN_CORE` arrives as `team/CDN_CORE`. The function answers that form as the
    // local server answers the encoded one.
    let folder = builds
        .invoke(http_event(
            "POST",
            "/api/v1/builds",
            &[],
            Some(&json!({"JOB_NAME": "team/CDN_CORE", "BUILD_NUMBER": "7",
                "PACKAGE_PATH": "CDN/pass/team-7/el7"})),
        ))
        .await;
    assert_eq!(folder.status, 201, "folder job webhook: {folder}");
    let mut jobs = Function::start("job-versions", &env).await;
    let synced = jobs
        .invoke(http_event(
            "POST",
            "/api/v1/job-versions/team/CDN_CORE/sync",
            &[("authorization", &bearer)],
            None,
        ))
        .await;
    assert_eq!(synced.status, 200, "decoded sync: {synced}");
    assert_eq!(synced.json()["job_name"], "team/CDN_CORE", "{synced}");
    assert_eq!(synced.json()["build_id"], folder.json()["id"], "{synced}");
    let read = jobs
        .invoke(http_event(
            "GET",
            "/api/v1/job-versions/team/CDN_CORE",
            &[("authorization", &bearer)],
            None,
        ))
        .await;
    assert_eq!(read.status, 200, "decoded read: {read}");
    let (status, body) = local
        .get("/api/v1/job-versions/team%2FCDN_CORE", Some(&token))
        .await;
    assert_eq!(
        (status, body),
        (read.status, read.json()),
        "job-versions: local (encoded) vs Lambda (decoded)"
    );

    for f in [&builds, &auth, &meta] {
        println!(
            "{}: {} invocations via {}",
            f.name,
            f.invocations,
            f.binary.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// DynamoDB and the local server

async fn dynamo_store(endpoint: &str, table: &str) -> DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    store
        .create_table_if_missing()
        .await
        .expect("create table on the DynamoDB endpoint");
    store
}

struct LocalServer {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl LocalServer {
    /// `local::app` on 127.0.0.1:0, on `store`, with the secrets the functions got.
    async fn start(store: DynamoStore, table: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vars: HashMap<String, String> = [
            ("CRAT_DATA_DIR", dir.path().to_str().unwrap()),
            ("CRAT_STORE", "dynamodb"),
            ("DYNAMODB_TABLE", table),
            ("JWT_SECRET", JWT_SECRET),
            ("ADMIN_PASSWD", ADMIN_PASSWD),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let config = Config::from_vars(Host::Embedded, &vars).unwrap();
        let state = Deps::new(config, Arc::new(store), Arc::new(SystemClock)).unwrap();
        // Like a Lambda without STATE_MACHINE_ARN: only the read paths are compared.
        state
            .workflow
            .bind(Arc::new(shared::workflow::NoWorkflow))
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = local::app(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::read(self.client.post(format!("{}{path}", self.base)).json(body)).await
    }

    async fn read(req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = tokio::time::timeout(INVOCATION_TIMEOUT, req.send())
            .await
            .expect("local server answers in time")
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("local server body is not JSON ({e}): {text}"));
        (status, body)
    }
}
