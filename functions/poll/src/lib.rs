//! Task: ask the test server how the run's task is doing (`GET /api/tasks/{task_id}`).
//! Transient trouble (timeouts, 5xx, refused connections, unreadable answers) is recorded
//! on the MONITOR step (`last_error`, and since when the polls fail in a row:
//! `unreachable_since`, `failed_polls`) and tolerated until the test server has been
//! unreachable for `max_unreachable_seconds`, or `max_monitor_seconds` have passed since
//! monitoring began; either way the outcome is then `deadline`, with a message saying which.

use shared::services::environments::on_run_test_server;
use shared::tasks::ErrorName;
use std::time::Duration;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::Deps;
use shared::domain::settings::MAX_REPORT_URL_CHARS;
use shared::domain::{PollDetails, RunStatus, Settings, StepName, StepStatus, timing};
use shared::tasks::http::{BodyError, MAX_ANSWER_BYTES, read_capped};
use shared::tasks::{RunRef, TaskError, bounded, ensure_live, excerpt, update_run};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Keep polling.
    Running,
    Completed,
    Failed,
    /// No result within `max_monitor_seconds`.
    Deadline,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct PollOutput {
    pub outcome: Outcome,
    /// The external phase, e.g. `running:test`.
    pub phase: Option<String>,
    /// For failed/deadline: what to tell people. Always present (null otherwise) so the
    /// state machine can read it without a missing-path error.
    pub error: Option<String>,
    pub poll_interval_seconds: u32,
}

/// What the test server said, as far as CRAT is concerned.
#[derive(Debug, PartialEq)]
enum Answer {
    Phase(String),
    Completed {
        report_url: Option<String>,
    },
    Failed(String),
    /// Could not get a usable answer this time.
    Trouble(String),
}

fn read_answer(status: reqwest::StatusCode, body: &str) -> Answer {
    if !status.is_success() {
        return Answer::Trouble(format!("the test server answered {status}"));
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Answer::Trouble("the test server's answer is not JSON".into());
    };
    match v["status"].as_str() {
        Some("completed") => Answer::Completed {
            report_url: v["report_url"].as_str().map(str::to_owned),
        },
        Some("failed") => Answer::Failed(
            v["error"]
                .as_str()
                .map(excerpt)
                .unwrap_or_else(|| "no error text given".into()),
        ),
        Some(p @ ("pending" | "running:deploy" | "running:test")) => Answer::Phase(p.to_owned()),
        Some(p) if p.starts_with("running") => Answer::Phase(excerpt(p)),
        Some(other) => Answer::Trouble(format!(
            "the test server reported an unknown status {:?}",
            excerpt(other)
        )),
        None => Answer::Trouble("the test server's answer has no status".into()),
    }
}

/// The report link as kept on the run (cut to [`MAX_REPORT_URL_CHARS`]), and why it will
/// not be read (`None`: it will be), by the one rule notify applies too
/// ([`Settings::report_refusal`]). An off-origin link is kept with the reason, never
/// dropped (the run page and the mail show both).
fn report_link(settings: &Settings, report_url: &str) -> (String, Option<String>) {
    let link = bounded(report_url, MAX_REPORT_URL_CHARS);
    let refusal = settings.report_refusal(&link);
    (link, refusal)
}

/// One GET of the task's status, read as an [`Answer`]; the body is read only up to
/// [`MAX_ANSWER_BYTES`] (a bigger answer is trouble, never held in memory whole).
async fn ask(http: &reqwest::Client, url: &str, timeout: Duration) -> Answer {
    match http.get(url).timeout(timeout).send().await {
        Ok(resp) => {
            let status = resp.status();
            match read_capped(resp, MAX_ANSWER_BYTES).await {
                Ok(body) => read_answer(status, &String::from_utf8_lossy(&body)),
                Err(BodyError::TimedOut) => Answer::Trouble(format!(
                    "the test server did not finish its answer within {} s",
                    timeout.as_secs()
                )),
                Err(e) => Answer::Trouble(format!("the test server's answer is unusable: {e}")),
            }
        }
        Err(e) if e.is_timeout() => Answer::Trouble(format!(
            "the test server did not answer within {} s",
            timeout.as_secs()
        )),
        Err(_) => Answer::Trouble("cannot reach the test server".into()),
    }
}

fn no_test_server() -> TaskError {
    TaskError::new(
        ErrorName::ConfigError,
        "external_test_server_url is not set; an admin sets it in the settings",
    )
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &Deps, input: RunRef) -> Result<PollOutput, TaskError> {
    let state = deps;
    let settings = state.settings().await?;
    let now = state.clock.now();
    // The test server that has the run's task: the one trigger posted to (its
    // environment's), or the settings' for a run triggered before that was recorded.
    let mut server = None;
    // Enter MONITORING (once) and fix the deadline, bounded by the interval the run's Wait
    // uses (the one trigger fixed) so the polls fit the history and the machine's timeout.
    let mut entered = false;
    let mut max_monitor = TimeDelta::seconds(i64::from(settings.max_monitor_seconds));
    let mut poll_interval_seconds = timing::poll_interval(settings.poll_interval_seconds);
    let run = update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        server = run
            .test_server_url
            .clone()
            .or_else(|| settings.external_test_server_url.clone());
        if server.is_none() {
            return Err(no_test_server());
        }
        poll_interval_seconds = timing::run_poll_interval(run)
            .unwrap_or_else(|| timing::poll_interval(settings.poll_interval_seconds));
        let (monitor, clamped) =
            timing::monitor_seconds(settings.max_monitor_seconds, poll_interval_seconds);
        max_monitor = TimeDelta::seconds(i64::from(monitor));
        entered = run.status != RunStatus::Monitoring;
        if entered {
            run.begin_step(StepName::Monitor, RunStatus::Monitoring, now);
            if let Some(why) = &clamped {
                tracing::warn!(reason = %why, "monitoring deadline clamped");
            }
            run.edit_details(|d: &mut PollDetails| {
                d.deadline = Some(now + max_monitor);
                d.deadline_clamped = clamped;
            });
        }
        Ok(())
    })
    .await?;
    if entered {
        // The lease now counts from the deadline just fixed (shared::domain::timing), so a
        // slow download cannot eat into monitoring, nor a settings change move one but not
        // the other.
        // A failed renewal is not the run's failure: the lease from the start still covers a
        // healthy run unless max_monitor_seconds was raised meanwhile, and even a lapsed lease
        // never admits a second run while this one is live (services::runs::start).
        let lease_until = timing::lease_until(&run, settings.max_monitor_seconds);
        match state
            .store
            .renew_run_lock(&run.lane, run.id.get(), lease_until)
            .await
        {
            Ok(true) => tracing::info!(%lease_until, "run lock lease renewed"),
            Ok(false) => {
                tracing::warn!("the run does not hold the run lock; its lease was not renewed")
            }
            Err(e) => tracing::warn!(error = %e, "the run lock's lease could not be renewed"),
        }
    }
    let task_id = run.task_id.clone().ok_or_else(|| {
        TaskError::new(ErrorName::TestServerError, "the run has no task id to poll")
    })?;
    let deadline = timing::monitoring_deadline(&run).unwrap_or(now + max_monitor);

    let Some(server) = server else {
        return Err(no_test_server());
    };
    let url = format!("{server}/api/tasks/{task_id}");
    let timeout = Duration::from_secs(u64::from(settings.poll_request_timeout_seconds));
    let answer = ask(&deps.http, &url, timeout).await;
    // A report link is judged by the origins of the run's environment (read only then).
    let settings = match answer {
        Answer::Completed { .. } => on_run_test_server(state, settings, &run).await?,
        _ => settings,
    };

    let polled_at = state.clock.now();
    let past_deadline = polled_at >= deadline;
    let max_unreachable = TimeDelta::seconds(i64::from(settings.max_unreachable_seconds));
    let mut output = PollOutput {
        outcome: Outcome::Running,
        phase: None,
        error: None,
        poll_interval_seconds,
    };
    update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        let phase = match &answer {
            Answer::Phase(phase) => Some(phase.clone()),
            Answer::Completed { .. } => Some("completed".to_owned()),
            Answer::Failed(_) => Some("failed".to_owned()),
            Answer::Trouble(_) => None,
        };
        // A trouble is kept until the test server answers again (a failure report keeps it);
        // so is the streak of failed polls, which any answer ends.
        let (last_error, unreachable) = run.edit_details(|d: &mut PollDetails| {
            d.last_poll_at = Some(polled_at);
            d.polls = Some(d.polls.unwrap_or(0) + 1);
            match &answer {
                Answer::Trouble(why) => {
                    d.last_error = Some(why.clone());
                    let since = *d.unreachable_since.get_or_insert(polled_at);
                    d.failed_polls = Some(d.failed_polls.unwrap_or(0) + 1);
                    d.unreachable_until = Some((since + max_unreachable).min(deadline));
                }
                Answer::Failed(_) | Answer::Phase(_) | Answer::Completed { .. } => {
                    d.phase.clone_from(&phase);
                    if !matches!(answer, Answer::Failed(_)) {
                        d.last_error = None;
                    }
                    d.unreachable_since = None;
                    d.failed_polls = None;
                    d.unreachable_until = None;
                }
            }
            let streak = d.unreachable_since.zip(d.failed_polls);
            (d.last_error.clone(), streak)
        });
        output = PollOutput {
            outcome: Outcome::Running,
            phase,
            error: None,
            poll_interval_seconds,
        };
        match &answer {
            Answer::Phase(_) | Answer::Trouble(_) => {}
            Answer::Completed { report_url } => {
                output.outcome = Outcome::Completed;
                if let Some(u) = report_url {
                    let (link, refused) = report_link(&settings, u);
                    if let Some(why) = &refused {
                        tracing::warn!(report_url = %excerpt(&link), reason = %why, "report link not read");
                    }
                    run.report_url = Some(link);
                    run.report_refused = refused;
                }
                run.finish_step(StepName::Monitor, StepStatus::Succeeded, None, polled_at);
                return Ok(());
            }
            Answer::Failed(why) => {
                let message = format!("the test server reports the run failed: {why}");
                run.finish_step(
                    StepName::Monitor,
                    StepStatus::Failed,
                    Some(message.clone()),
                    polled_at,
                );
                output.outcome = Outcome::Failed;
                output.error = Some(message);
                return Ok(());
            }
        }
        let unreachable_too_long = unreachable
            .filter(|(since, _)| polled_at - *since >= max_unreachable)
            .map(|(since, failed_polls)| {
                format!(
                    "the test server has been unreachable since {} ({failed_polls} failed polls in a row, \
                     max_unreachable_seconds is {}; last problem: {})",
                    since.format("%Y-%m-%d %H:%M:%S UTC"),
                    max_unreachable.num_seconds(),
                    last_error.as_deref().unwrap_or("none recorded"),
                )
            });
        if let Some(message) = unreachable_too_long.filter(|_| !past_deadline) {
            run.finish_step(
                StepName::Monitor,
                StepStatus::Failed,
                Some(message.clone()),
                polled_at,
            );
            output.outcome = Outcome::Deadline;
            output.error = Some(message);
        } else if past_deadline {
            let message = match last_error {
                Some(last) => format!(
                    "no result from the test server within {} s (last problem: {last})",
                    max_monitor.num_seconds()
                ),
                None => format!(
                    "no result from the test server within {} s",
                    max_monitor.num_seconds()
                ),
            };
            run.finish_step(
                StepName::Monitor,
                StepStatus::Failed,
                Some(message.clone()),
                polled_at,
            );
            output.outcome = Outcome::Deadline;
            output.error = Some(message);
        }
        Ok(())
    })
    .await?;
    tracing::info!(outcome = ?output.outcome, phase = ?output.phase, "polled");
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn answers_are_read_strictly() {
        let ok = StatusCode::OK;
        assert_eq!(
            read_answer(ok, r#"{"status":"running:test"}"#),
            Answer::Phase("running:test".into())
        );
        assert_eq!(
            read_answer(ok, r#"{"status":"pending"}"#),
            Answer::Phase("pending".into())
        );
        assert_eq!(
            read_answer(ok, r#"{"status":"completed","report_url":"http://h/r/"}"#),
            Answer::Completed {
                report_url: Some("http://h/r/".into())
            }
        );
        assert_eq!(
            read_answer(ok, r#"{"status":"failed","error":"deploy failed"}"#),
            Answer::Failed("deploy failed".into())
        );
        assert!(matches!(read_answer(ok, "<html>"), Answer::Trouble(_)));
        assert!(matches!(
            read_answer(ok, r#"{"status":"exploded"}"#),
            Answer::Trouble(_)
        ));
        assert!(matches!(
            read_answer(ok, r#"{"state":"completed"}"#),
            Answer::Trouble(_)
        ));
        assert!(matches!(
            read_answer(StatusCode::BAD_GATEWAY, "{}"),
            Answer::Trouble(_)
        ));
    }

    #[tokio::test]
    async fn an_answer_over_one_mib_is_trouble_not_memory() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/tasks/t", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    // No Content-Length: the cap must hold while reading, too.
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"status\":\"running:test\",\"pad\":\"")
                        .await;
                    let chunk = vec![b'x'; 64 * 1024];
                    for _ in 0..64 {
                        if sock.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let answer = ask(&reqwest::Client::new(), &url, Duration::from_secs(5)).await;
        let Answer::Trouble(why) = answer else {
            panic!("{answer:?}")
        };
        assert!(why.contains("larger than 1048576 bytes"), "{why}");
    }

    #[test]
    fn report_links_are_kept_and_refused_off_the_allowed_origins() {
        let settings = Settings::default()
            .patched(&serde_json::json!({"external_test_server_url": "http://127.0.0.1:9000"}))
            .unwrap();
        assert_eq!(
            report_link(&settings, "http://127.0.0.1:9000/reports/1/"),
            ("http://127.0.0.1:9000/reports/1/".into(), None)
        );
        for off in [
            "http://127.0.0.1:9001/reports/1/",
            "http://169.254.169.254/latest/",
            "file:///etc/passwd",
        ] {
            let (link, why) = report_link(&settings, off);
            assert_eq!(link, off);
            assert!(why.unwrap().starts_with("report not read: "), "{off}");
        }
        let long = format!("http://127.0.0.1:9000/{}", "x".repeat(3000));
        let (link, why) = report_link(&settings, &long);
        assert!(link.chars().count() <= MAX_REPORT_URL_CHARS + 1);
        assert!(why.unwrap().contains("longer than 2048"));
        let listed = settings
            .patched(&serde_json::json!({"report_origins": ["http://127.0.0.1:9001"]}))
            .unwrap();
        assert_eq!(
            report_link(&listed, "http://127.0.0.1:9001/reports/1/").1,
            None
        );
    }
}
