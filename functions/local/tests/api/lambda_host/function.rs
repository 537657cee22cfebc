//! A function process: the real binary run against the Runtime API double, its logs kept
//! for the failure message.

use super::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Everything a function process prints (and what the Runtime API found odd), in order.
#[derive(Clone, Default)]
pub(super) struct Logs(Arc<Mutex<String>>);

impl Logs {
    pub(super) fn push(&self, source: &str, line: &str) {
        let mut logs = self.0.lock().unwrap();
        logs.push_str(&format!("[{source}] {line}\n"));
    }

    pub(super) fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

pub(super) struct FunctionEnv {
    pub(super) endpoint: String,
    pub(super) table: String,
}

pub(super) struct Function {
    pub(super) name: &'static str,
    pub(super) binary: PathBuf,
    pub(super) child: Child,
    pub(super) api: RuntimeApi,
    pub(super) logs: Logs,
    pub(super) readers: Vec<JoinHandle<()>>,
    pub(super) invocations: usize,
    pub(super) started: Instant,
    pub(super) logs_shown: bool,
    pub(super) _home: tempfile::TempDir,
}

impl Function {
    pub(super) async fn start(name: &'static str, env: &FunctionEnv) -> Self {
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
    pub(super) async fn invoke(&mut self, event: Value) -> HttpResponse {
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
    pub(super) async fn fail<T>(&mut self, why: &str) -> T {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        self.fail_now(why)
    }

    pub(super) fn fail_now<T>(&mut self, why: &str) -> T {
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

pub(super) fn read_lines<R>(stream: R, source: String, logs: &Logs) -> JoinHandle<()>
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
pub(super) fn function_binary(name: &str) -> PathBuf {
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
pub(super) fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir), // an absolute path replaces the base
        None => workspace.join("target"),
    }
}
