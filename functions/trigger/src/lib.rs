//! Task: ask the test server to deploy and test the run's package
//! (`POST {external_test_server_url}/api/deploy_and_test`). Idempotent: a run that already
//! has a `task_id` never posts again, and once a POST may have reached the server (any
//! answer, a timeout, a connection broken after sending, a lost invocation) it is never
//! sent again: only a request that could not connect is retried.

use shared::tasks::ErrorName;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::Deps;
use shared::domain::{Run, RunStatus, StepName, StepStatus, TaskId, TriggerDetails, timing};
use shared::services::environments::on_run_test_server;
use shared::tasks::http::{MAX_ANSWER_BYTES, read_capped};
use shared::tasks::{RunRef, TaskError, ensure_live, excerpt, note_step_error, update_run};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TriggerOutput {
    pub task_id: TaskId,
    /// For the Wait state before each poll (the settings at trigger time).
    pub poll_interval_seconds: u32,
}

/// The body the test server gets: the parameter set's params, then CRAT's fields.
/// `service_name` is the item's name unless the params set it; `testplan` only on a re-run
/// of only the failures.
pub fn request_body(run: &Run) -> Value {
    let mut body: Map<String, Value> = run.params.clone();
    body.entry("service_name")
        .or_insert_with(|| Value::from(run.test_item_name.clone()));
    body.insert("package_url".into(), Value::from(run.package_url.clone()));
    body.insert(
        "package_path".into(),
        Value::from(run.build.package_path.as_str()),
    );
    body.insert(
        "package_sha256".into(),
        Value::from(run.package_sha256.clone()),
    );
    body.insert("job_name".into(), Value::from(run.build.job_name.as_str()));
    body.insert(
        "build_number".into(),
        Value::from(run.build.build_number.get()),
    );
    body.insert("run_id".into(), Value::from(run.id.get()));
    // A re-run of only the failures: the test server writes this to a file and runs the
    // suite with ALLURE_TESTPLAN_PATH pointing at it.
    if let Some(plan) = &run.test_plan {
        body.insert("testplan".into(), plan.allure_json());
    }
    Value::Object(body)
}

/// Why a second POST is never made, for every error after one may have arrived.
const NOT_AGAIN: &str = "it may have created the task, so CRAT does not post again (the body's run_id lets the test server de-duplicate); re-run when the test server is healthy";

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &Deps, input: RunRef) -> Result<TriggerOutput, TaskError> {
    let state = deps;
    let settings = state.settings().await?;
    let current_interval = timing::poll_interval(settings.poll_interval_seconds);
    let now = state.clock.now();
    let run = update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        if run.task_id.is_none() {
            run.begin_step(StepName::Trigger, RunStatus::Testing, now);
            // The Wait's interval for this run, fixed now: poll bounds the deadline by it.
            run.edit_details(|d: &mut TriggerDetails| {
                d.poll_interval_seconds
                    .get_or_insert(u64::from(current_interval));
            });
        }
        Ok(())
    })
    .await?;
    // The interval this run was triggered with (the same on every re-invocation), not a
    // later settings change.
    let poll_interval_seconds = timing::run_poll_interval(&run).unwrap_or(current_interval);
    if let Some(task_id) = run.task_id {
        tracing::info!(%task_id, "already triggered; not posting again");
        return Ok(TriggerOutput {
            task_id,
            poll_interval_seconds,
        });
    }
    let fail = |e: TaskError| note_step_error(state, input.run_id, StepName::Trigger, e);
    // The run's environment's test server (the settings' for the default environment).
    let settings = on_run_test_server(state, settings, &run).await?;
    let Some(base) = settings.external_test_server_url else {
        return Err(fail(TaskError::new(
            ErrorName::ConfigError,
            "external_test_server_url is not set; an admin sets it in the settings",
        ))
        .await);
    };
    let url = format!("{base}/api/deploy_and_test");
    let timeout = Duration::from_secs(u64::from(settings.poll_request_timeout_seconds));
    // Check and set `post_sent_at` in one revision-conditional write (re-run on a
    // conflict): of two invocations racing here exactly one finds no marker and posts. It is
    // removed again only when the request certainly did not reach the server (no
    // connection); a re-invoked trigger that finds it (a crash, a Lambda timeout or a retry
    // after the POST left) does not post again.
    let marked = update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        run.edit_details(|d: &mut TriggerDetails| {
            if let Some(sent) = d.post_sent_at {
                let sent = sent.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                return Err(TaskError::new(
                    ErrorName::TestServerError,
                    format!(
                        "an earlier attempt posted this run to the test server at {sent} and its answer was lost; {NOT_AGAIN}"
                    ),
                ));
            }
            d.post_sent_at = Some(now);
            Ok(())
        })?;
        // Where the task is: every poll of this run asks this server.
        run.test_server_url = Some(base.clone());
        Ok(())
    })
    .await;
    let run = match marked {
        Ok(run) => run,
        Err(e) if e.name == ErrorName::TestServerError => return Err(fail(e).await),
        Err(e) => return Err(e),
    };
    let task_id = match post(&deps.http, &url, &request_body(&run), timeout).await {
        Ok(id) => id,
        Err(e) => {
            if e.name == ErrorName::Transient {
                // Nothing reached the server: a retry may post, once the marker is gone.
                persist(|| {
                    update_run(state, input.run_id, |run| {
                        run.edit_details(|d: &mut TriggerDetails| d.post_sent_at = None);
                        Ok(())
                    })
                })
                .await?;
            }
            return Err(fail(e).await);
        }
    };
    let done = state.clock.now();
    // The test server has the task: a store hiccup now must not fail a healthy run (a
    // retry by the state machine would find the marker and refuse), so keep trying here.
    persist(|| {
        update_run(state, input.run_id, |run| {
            ensure_live(run)?;
            run.task_id = Some(task_id.clone());
            run.finish_step(StepName::Trigger, StepStatus::Succeeded, None, done);
            run.edit_details(|d: &mut TriggerDetails| {
                d.task_id = Some(task_id.to_string());
            });
            Ok(())
        })
    })
    .await?;
    tracing::info!(%task_id, "test server accepted the run");
    Ok(TriggerOutput {
        task_id,
        poll_interval_seconds,
    })
}

/// Pauses between the attempts of [`persist`]: about 30 s in all.
const PERSIST_BACKOFF_MS: [u64; 9] = timing::TRIGGER_PERSIST_BACKOFF_MS;

/// Runs a store write until it succeeds, retrying only a store that is unavailable or busy
/// (`Crat.Transient`, `Crat.StoreBusy`) with [`PERSIST_BACKOFF_MS`] between attempts;
/// any other error (the run ended, ...) and the last failure are returned.
async fn persist<T, F, Fut>(mut write: F) -> Result<T, TaskError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TaskError>>,
{
    let mut pauses = PERSIST_BACKOFF_MS.iter();
    loop {
        match write().await {
            Err(e) if matches!(e.name, ErrorName::Transient | ErrorName::StoreBusy) => {
                let Some(ms) = pauses.next() else {
                    return Err(e);
                };
                tracing::warn!(error = %e, retry_in_ms = ms, "store write failed; retrying");
                tokio::time::sleep(Duration::from_millis(*ms)).await;
            }
            other => return other,
        }
    }
}

/// One POST. Only an error before any byte could reach the server (no connection: refused,
/// unreachable, DNS, TLS handshake) is `Crat.Transient` and retried; every answer that is
/// not a task id, a timeout or a broken connection after sending is `Crat.TestServerError`,
/// since the server may have created the task (a proxy's 502/504 can come after it did).
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    timeout: Duration,
) -> Result<TaskId, TaskError> {
    let response = http
        .post(url)
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                // Nothing reached the server: safe to retry.
                TaskError::new(
                    ErrorName::Transient,
                    format!("cannot reach the test server at {url}: connection failed"),
                )
            } else if e.is_timeout() {
                TaskError::new(
                    ErrorName::TestServerError,
                    format!(
                        "the test server at {url} did not answer within {} s; {NOT_AGAIN}",
                        timeout.as_secs()
                    ),
                )
            } else {
                TaskError::new(
                    ErrorName::TestServerError,
                    format!("the request to the test server at {url} broke off; {NOT_AGAIN}"),
                )
            }
        })?;
    let status = response.status();
    let text = match read_capped(response, MAX_ANSWER_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            return Err(TaskError::new(
                ErrorName::TestServerError,
                format!("the test server answered {status} to POST {url}, but {e}; {NOT_AGAIN}"),
            ));
        }
    };
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TaskError::new(
            ErrorName::TestServerError,
            format!("the test server answered {status} to POST {url}; {NOT_AGAIN}"),
        ));
    }
    if !status.is_success() {
        return Err(TaskError::new(
            ErrorName::TestServerError,
            format!(
                "the test server refused the run: {status} {}",
                excerpt(&text)
            ),
        ));
    }
    let parsed: Value = serde_json::from_str(&text).map_err(|_| {
        TaskError::new(
            ErrorName::TestServerError,
            format!(
                "the test server answered {status} with a body that is not JSON: {}",
                excerpt(&text)
            ),
        )
    })?;
    let task_id = match &parsed["task_id"] {
        Value::String(s) => TaskId::parse("task_id", s).ok(),
        Value::Number(n) => TaskId::parse("task_id", &n.to_string()).ok(),
        _ => None,
    };
    task_id.ok_or_else(|| {
        TaskError::new(
            ErrorName::TestServerError,
            format!(
                "the test server's answer has no usable task_id: {}",
                excerpt(&text)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A real HTTP server on 127.0.0.1 that answers every request with `answer` (raw
    /// HTTP/1.1 bytes) and counts the requests it read.
    async fn canned(answer: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/api/deploy_and_test",
            listener.local_addr().unwrap()
        );
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.write_all(&answer).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (url, count)
    }

    fn answer(status: &str, body: &[u8]) -> Vec<u8> {
        let mut a = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        a.extend_from_slice(body);
        a
    }

    const T: Duration = Duration::from_secs(5);

    /// Run 3 of item `cds` (build CDN_CORE #5, params `{"upgrade_type": "full"}`).
    fn a_run() -> Run {
        let t = "2026-01-01T00:00:00Z";
        let item = serde_json::from_value(serde_json::json!({
            "id": 1, "name": "cds", "job_name": "CDN_CORE", "parameter_set_id": null,
            "description": "", "enabled": true, "notify_emails": [], "created_at": t,
            "updated_at": t
        }))
        .unwrap();
        let build = serde_json::from_value(serde_json::json!({
            "id": 2, "job_name": "CDN_CORE", "build_number": 5, "build_user": null,
            "package_path": "CDN/x", "created_at": t
        }))
        .unwrap();
        let set = serde_json::from_value(serde_json::json!({
            "id": 1, "name": "base", "description": "", "params": {"upgrade_type": "full"},
            "is_default": true, "version": 1, "created_at": t, "updated_at": t,
            "updated_by": null
        }))
        .unwrap();
        let by = shared::domain::Email::parse("by", "dev@example.com").unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        Run::new(
            shared::domain::RunId::from_stored(3),
            &item,
            &build,
            &set,
            &by,
            at,
        )
    }

    #[test]
    fn the_body_carries_a_test_plan_only_for_a_rerun_of_the_failures() {
        use shared::domain::{TestCase, TestId, TestPlan, TestStatus};
        let mut run = a_run();
        let whole = request_body(&run);
        assert_eq!(whole["upgrade_type"], "full");
        assert_eq!(whole["service_name"], "cds");
        assert_eq!(whole["run_id"], 3);
        assert!(whole.get("testplan").is_none(), "{whole}");

        let case = |id: &str, status, full_name: Option<&str>| TestCase {
            id: TestId::from_history_id(id),
            name: id.into(),
            suite: vec![],
            status,
            duration_ms: None,
            message: None,
            full_name: full_name.map(str::to_owned),
            flaky: false,
            retries: 0,
        };
        let cases = [
            case("a", TestStatus::Failed, Some("tests.test_api#test_a")),
            case("b", TestStatus::Passed, Some("tests.test_api#test_b")),
            case("c", TestStatus::Broken, None),
        ];
        run.test_plan = Some(TestPlan::of_failures(2, &cases).unwrap());
        let planned = request_body(&run);
        assert_eq!(
            planned["testplan"],
            serde_json::json!({"version": "1.0", "tests": [
                {"selector": "tests.test_api#test_a"}, {"id": "c"}]})
        );
        assert_eq!(planned["run_id"], 3, "CRAT's fields are all there too");
    }

    #[tokio::test]
    async fn only_a_request_that_never_connected_is_transient() {
        let http = reqwest::Client::new();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = post(
            &http,
            &format!("http://{closed}/api/deploy_and_test"),
            &Value::Null,
            T,
        )
        .await
        .unwrap_err();
        assert_eq!(e.name, ErrorName::Transient, "{e:?}");
        for status in [
            "502 Bad Gateway",
            "504 Gateway Timeout",
            "500 Internal Server Error",
            "429 Too Many Requests",
        ] {
            let (url, count) = canned(answer(status, b"{}")).await;
            let e = post(&http, &url, &Value::Null, T).await.unwrap_err();
            assert_eq!(e.name, ErrorName::TestServerError, "{status}: {e:?}");
            assert!(e.message.contains("run_id"), "{}", e.message);
            assert_eq!(count.load(Ordering::SeqCst), 1, "{status}");
        }
        let (url, _) = canned(answer("200 OK", br#"{"task_id":"t-1"}"#)).await;
        assert_eq!(
            post(&http, &url, &Value::Null, T).await.unwrap().as_str(),
            "t-1"
        );
    }

    #[tokio::test]
    async fn an_answer_over_one_mib_is_refused_unread() {
        let http = reqwest::Client::new();
        let big = format!(
            "{{\"task_id\":\"t\",\"pad\":\"{}\"}}",
            "x".repeat(MAX_ANSWER_BYTES)
        );
        let (url, _) = canned(answer("200 OK", big.as_bytes())).await;
        let e = post(&http, &url, &Value::Null, T).await.unwrap_err();
        assert_eq!(e.name, ErrorName::TestServerError);
        assert!(
            e.message.contains("larger than 1048576 bytes"),
            "{}",
            e.message
        );
        // Without a Content-Length (chunked/close-delimited) it is cut while reading.
        let mut raw =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                .to_vec();
        raw.extend_from_slice(big.as_bytes());
        let (url, _) = canned(raw).await;
        let e = post(&http, &url, &Value::Null, T).await.unwrap_err();
        assert!(e.message.contains("larger than"), "{}", e.message);
    }

    /// Review: a store hiccup after the POST is retried in-process, not handed to the
    /// state machine (whose retry would find the marker and fail a healthy run).
    #[tokio::test]
    async fn a_store_hiccup_after_the_post_is_retried_in_process() {
        let calls = AtomicUsize::new(0);
        let saved = persist(|| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(TaskError::new(ErrorName::Transient, "store down")),
                    1 => Err(TaskError::new(ErrorName::StoreBusy, "conflicts")),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(saved.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Anything but an unavailable/busy store is returned at once.
        let calls = AtomicUsize::new(0);
        let e = persist(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(TaskError::new(ErrorName::RunEnded, "cancelled")) }
        })
        .await
        .unwrap_err();
        assert_eq!(e.name, ErrorName::RunEnded);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Bounded: about 30 s of pauses, then the last error.
        let total: u64 = PERSIST_BACKOFF_MS.iter().sum();
        assert!((25_000..=35_000).contains(&total), "{total}");
    }

    #[test]
    fn task_ids_are_path_safe() {
        assert!(TaskId::parse("task_id", "3f2a-b_c.9").is_ok());
        for bad in ["", "../x", "a/b", "a b", "x?y", &"x".repeat(129)] {
            assert!(TaskId::parse("task_id", bad).is_err(), "{bad:?}");
        }
    }
}
