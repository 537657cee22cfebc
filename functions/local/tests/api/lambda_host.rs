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
//! Over 500 lines on purpose: one scenario around one fixture (the Runtime API double and the
//! function processes it drives), which no other test uses.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

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

// ---------------------------------------------------------------------------------------
// API Gateway HTTP API (payload format 2.0) events and responses

const API_ID: &str = "a1b2c3d4e5";

/// An HTTP API v2.0 event as API Gateway sends it to a `$default` route.
fn http_event(
    method: &str,
    path_and_query: &str,
    extra_headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let domain = format!("{API_ID}.execute-api.us-east-1.amazonaws.com");
    let user_agent = "crat-lambda-host-test/1.0";
    let body = body.map(Value::to_string);
    let mut headers = serde_json::Map::new();
    for (k, v) in [
        ("accept", "*/*"),
        ("host", domain.as_str()),
        ("user-agent", user_agent),
        (
            "x-amzn-trace-id",
            "Root=1-67890abc-0123456789abcdef01234567",
        ),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
    ] {
        headers.insert(k.to_owned(), json!(v));
    }
    if let Some(b) = &body {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(b.len().to_string()));
    }
    for (k, v) in extra_headers {
        headers.insert(k.to_ascii_lowercase(), json!(v));
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": user_agent,
            },
            "requestId": format!("{}=", &uuid::Uuid::new_v4().simple().to_string()[..14]),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        // API Gateway sends the parsed form too (lambda_http uses rawQueryString).
        let mut params = serde_json::Map::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(k.to_owned(), json!(v));
        }
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(b) = body {
        event["body"] = json!(b);
    }
    event
}

/// A parsed v2 response: `{statusCode, headers, body, isBase64Encoded}`.
struct HttpResponse {
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Vec<u8>,
    raw: String,
}

impl HttpResponse {
    fn parse(raw: &[u8]) -> Result<Self, String> {
        let raw = String::from_utf8_lossy(raw).into_owned();
        let v: Value = serde_json::from_str(&raw).map_err(|e| format!("not JSON: {e}"))?;
        let status = v["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("no integer statusCode")?;
        let headers = match &v["headers"] {
            Value::Object(h) => h.clone(),
            Value::Null => serde_json::Map::new(),
            other => return Err(format!("headers is not an object: {other}")),
        };
        let text = match &v["body"] {
            Value::String(s) => s.as_str(),
            Value::Null => "",
            other => return Err(format!("body is not a string: {other}")),
        };
        let body = if v["isBase64Encoded"].as_bool().unwrap_or(false) {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("bad base64 body: {e}"))?
        } else {
            text.as_bytes().to_vec()
        };
        Ok(Self {
            status,
            headers,
            body,
            raw,
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {} raw response {}", self.status, self.raw)
    }
}

fn assert_json_content_type(resp: &HttpResponse) {
    let ct = resp.headers.get("content-type").and_then(Value::as_str);
    assert!(
        ct.is_some_and(|c| c.starts_with("application/json")),
        "JSON content type: {resp}"
    );
}

// ---------------------------------------------------------------------------------------
// The Lambda Runtime API (2018-06-01), as much of it as a function uses

enum Outcome {
    Response(Bytes),
    Error { kind: String, body: Bytes },
}

#[derive(Clone)]
struct RuntimeApi {
    queue: mpsc::UnboundedSender<(String, String)>,
    next: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    init_error: Arc<watch::Sender<Option<String>>>,
    function_arn: String,
    logs: Logs,
}

impl RuntimeApi {
    /// Serves the API on 127.0.0.1:0; returns it and its `host:port`.
    async fn start(function: &str, logs: Logs) -> (Self, String) {
        let (queue, rx) = mpsc::unbounded_channel();
        let api = Self {
            queue,
            next: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::default(),
            init_error: Arc::new(watch::channel(None).0),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            logs,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(unexpected)
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (api, addr)
    }

    fn deliver(&self, id: &str, outcome: Outcome) -> StatusCode {
        match self.pending.lock().unwrap().remove(id) {
            Some(tx) => {
                let _ = tx.send(outcome);
                StatusCode::ACCEPTED
            }
            None => {
                self.logs.push(
                    "runtime-api",
                    &format!("outcome for unknown request id {id}"),
                );
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// Blocks until the test queues an event, then hands it out with the invocation headers.
async fn next_invocation(State(api): State<RuntimeApi>) -> Response {
    let Some((id, event)) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let deadline = now + Duration::from_secs(30);
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now.as_secs(),
        &hex[..24],
        &hex[16..],
    );
    (
        [
            ("lambda-runtime-aws-request-id", id),
            (
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            ),
            ("lambda-runtime-invoked-function-arn", api.function_arn),
            ("lambda-runtime-trace-id", trace),
            ("content-type", "application/json".to_owned()),
        ],
        event,
    )
        .into_response()
}

async fn invocation_response(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    api.deliver(&id, Outcome::Response(body))
}

async fn invocation_error(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    api.deliver(&id, Outcome::Error { kind, body })
}

async fn init_error(State(api): State<RuntimeApi>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    api.init_error
        .send_replace(Some(format!("{kind}: {}", String::from_utf8_lossy(&body))));
    StatusCode::ACCEPTED
}

async fn unexpected(State(api): State<RuntimeApi>, method: Method, uri: Uri) -> StatusCode {
    api.logs
        .push("runtime-api", &format!("unexpected request {method} {uri}"));
    StatusCode::NOT_FOUND
}

// ---------------------------------------------------------------------------------------
// A function process

/// Everything a function process prints (and what the Runtime API found odd), in order.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<String>>);

impl Logs {
    fn push(&self, source: &str, line: &str) {
        let mut logs = self.0.lock().unwrap();
        logs.push_str(&format!("[{source}] {line}\n"));
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

struct FunctionEnv {
    endpoint: String,
    table: String,
}

struct Function {
    name: &'static str,
    binary: PathBuf,
    child: Child,
    api: RuntimeApi,
    logs: Logs,
    readers: Vec<JoinHandle<()>>,
    invocations: usize,
    started: Instant,
    logs_shown: bool,
    _home: tempfile::TempDir,
}

impl Function {
    async fn start(name: &'static str, env: &FunctionEnv) -> Self {
        let binary = function_binary(name);
        let logs = Logs::default();
        let (api, runtime_addr) = RuntimeApi::start(name, logs.clone()).await;
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(&binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // A fresh HOME: no ~/.aws profile of the machine leaks in.
            .env("HOME", home.path())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/25/[$LATEST]{}", uuid::Uuid::new_v4().simple()),
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL", &env.endpoint)
            .env("JWT_SECRET", JWT_SECRET)
            .env("ADMIN_PASSWD", ADMIN_PASSWD)
            .env("DYNAMODB_TABLE", &env.table)
            .env("RUST_BACKTRACE", "1")
            .current_dir(home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(filter) = std::env::var("RUST_LOG") {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let readers = vec![
            read_lines(
                child.stdout.take().unwrap(),
                format!("{name} stdout"),
                &logs,
            ),
            read_lines(
                child.stderr.take().unwrap(),
                format!("{name} stderr"),
                &logs,
            ),
        ];
        Self {
            name,
            binary,
            child,
            api,
            logs,
            readers,
            invocations: 0,
            started: Instant::now(),
            logs_shown: false,
            _home: home,
        }
    }

    /// Hands `event` to the function and waits for its answer, failing the test with the
    /// function's output on an init error, an invocation error, an exit or a timeout.
    async fn invoke(&mut self, event: Value) -> HttpResponse {
        let timeout = if self.invocations == 0 {
            FIRST_INVOCATION_TIMEOUT
        } else {
            INVOCATION_TIMEOUT
        };
        self.invocations += 1;
        let what = format!(
            "invocation {} ({} {})",
            self.invocations,
            event["requestContext"]["http"]["method"]
                .as_str()
                .unwrap_or("?"),
            event["rawPath"].as_str().unwrap_or("?")
        );
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.api.pending.lock().unwrap().insert(id.clone(), tx);
        self.api.queue.send((id, event.to_string())).unwrap();
        let mut init_error = self.api.init_error.subscribe();
        let begun = Instant::now();

        enum Waited {
            Done(Outcome),
            InitError(String),
            Exited(String),
            TimedOut,
        }
        let waited = tokio::select! {
            outcome = rx => Waited::Done(outcome.expect("the Runtime API keeps the sender")),
            e = init_error.wait_for(Option::is_some) => {
                Waited::InitError(e.map(|v| v.clone().unwrap_or_default()).unwrap_or_default())
            }
            status = self.child.wait() => Waited::Exited(match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }),
            () = tokio::time::sleep(timeout) => Waited::TimedOut,
        };
        if self.invocations == 1 {
            println!(
                "{}: first invocation settled {:.1?} after spawn ({})",
                self.name,
                self.started.elapsed(),
                self.binary.display()
            );
        }
        match waited {
            Waited::Done(Outcome::Response(body)) => {
                HttpResponse::parse(&body).unwrap_or_else(|e| {
                    let raw = String::from_utf8_lossy(&body).into_owned();
                    self.fail_now(&format!("{what}: unparsable v2 response ({e}): {raw}"))
                })
            }
            Waited::Done(Outcome::Error { kind, body }) => {
                let body = String::from_utf8_lossy(&body).into_owned();
                self.fail(&format!("{what}: function error {kind}: {body}"))
                    .await
            }
            Waited::InitError(body) => {
                self.fail(&format!("{what}: init error posted: {body}"))
                    .await
            }
            Waited::Exited(status) => {
                self.fail(&format!("{what}: the process exited ({status})"))
                    .await
            }
            Waited::TimedOut => {
                self.fail(&format!(
                    "{what}: no answer within {timeout:?} (waited {:.1?})",
                    begun.elapsed()
                ))
                .await
            }
        }
    }

    /// Stops the process, collects the rest of its output and fails with it.
    async fn fail<T>(&mut self, why: &str) -> T {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        self.fail_now(why)
    }

    fn fail_now<T>(&mut self, why: &str) -> T {
        self.logs_shown = true;
        panic!(
            "{} function ({}): {why}\n--- its output ---\n{}",
            self.name,
            self.binary.display(),
            self.logs.text()
        );
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        // A failed assertion elsewhere in the test: show what the function said.
        if std::thread::panicking() && !self.logs_shown {
            let logs = self.logs.text();
            eprintln!(
                "--- output of the {} function ({}) ---\n{}",
                self.name,
                self.binary.display(),
                if logs.is_empty() { "(none)\n" } else { &logs }
            );
        }
    }
}

fn read_lines<R>(stream: R, source: String, logs: &Logs) -> JoinHandle<()>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let logs = logs.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.push(&source, &line);
        }
    })
}

/// `target/lambda-debug/<bin>/bootstrap` (what `make build-lambdas` writes),
/// `target/lambda/<bin>/bootstrap` (a plain `cargo lambda build`) or `target/debug/<bin>`.
/// The newest one wins, so a stale bootstrap never hides a fresh build.
fn function_binary(name: &str) -> PathBuf {
    let target = target_dir();
    let candidates = [
        target.join("lambda-debug").join(name).join("bootstrap"),
        target.join("lambda").join(name).join("bootstrap"),
        target.join("debug").join(name),
    ];
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let chosen = candidates
        .iter()
        .filter_map(|p| modified(p).map(|m| (m, p)))
        .max_by_key(|(m, _)| *m)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| {
            panic!(
                "no {name} function binary: none of {candidates:?} exists; run \
                 `cargo build -p {name}` (or `make build-lambdas`) first"
            )
        });
    println!("{name}: using {}", chosen.display());
    chosen
}

/// `CARGO_TARGET_DIR` (a relative one taken from the workspace root), else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir), // an absolute path replaces the base
        None => workspace.join("target"),
    }
}
