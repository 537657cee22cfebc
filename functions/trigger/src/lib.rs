//! Task: ask the test server to deploy and test the run's package
//! (`POST {external_test_server_url}/api/deploy_and_test`). Idempotent: a run that already
//! has a `task_id` never posts again.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::domain::{Run, RunStatus, StepName, StepStatus};
use shared::tasks::{
    RunRef, TaskDeps, TaskError, ensure_live, excerpt, note_step_error, update_run,
};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct TriggerOutput {
    pub task_id: String,
    /// For the Wait state before each poll (the settings at trigger time).
    pub poll_interval_seconds: u32,
}

/// The body the test server gets: the parameter set's params, then CRAT's fields.
/// `service_name` is the item's name unless the params set it.
pub fn request_body(run: &Run) -> Value {
    let mut body: Map<String, Value> = run.params.clone();
    body.entry("service_name")
        .or_insert_with(|| Value::from(run.test_item_name.clone()));
    body.insert("package_url".into(), Value::from(run.package_url.clone()));
    body.insert(
        "package_path".into(),
        Value::from(run.build.package_path.clone()),
    );
    body.insert(
        "package_sha256".into(),
        Value::from(run.package_sha256.clone()),
    );
    body.insert("job_name".into(), Value::from(run.build.job_name.clone()));
    body.insert("build_number".into(), Value::from(run.build.build_number));
    body.insert("run_id".into(), Value::from(run.id));
    Value::Object(body)
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &TaskDeps, input: RunRef) -> Result<TriggerOutput, TaskError> {
    let state = &deps.state;
    let settings = state.settings().await?;
    let poll_interval_seconds = settings.poll_interval_seconds;
    let now = state.clock.now();
    let run = update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        if run.task_id.is_none() {
            run.begin_step(StepName::Trigger, RunStatus::Testing, now);
        }
        Ok(())
    })
    .await?;
    if let Some(task_id) = run.task_id {
        tracing::info!(%task_id, "already triggered; not posting again");
        return Ok(TriggerOutput {
            task_id,
            poll_interval_seconds,
        });
    }
    let fail = |e: TaskError| note_step_error(state, input.run_id, StepName::Trigger, e);
    let Some(base) = settings.external_test_server_url else {
        return Err(fail(TaskError::new(
            TaskError::CONFIG,
            "external_test_server_url is not set; an admin sets it in the settings",
        ))
        .await);
    };
    let url = format!("{base}/api/deploy_and_test");
    let timeout = Duration::from_secs(u64::from(settings.poll_request_timeout_seconds));
    let task_id = match post(deps, &url, &request_body(&run), timeout).await {
        Ok(id) => id,
        Err(e) => return Err(fail(e).await),
    };
    let done = state.clock.now();
    update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        run.task_id = Some(task_id.clone());
        run.finish_step(StepName::Trigger, StepStatus::Succeeded, None, done);
        run.step_mut(StepName::Trigger)
            .details
            .insert("task_id".into(), Value::from(task_id.clone()));
        Ok(())
    })
    .await?;
    tracing::info!(%task_id, "test server accepted the run");
    Ok(TriggerOutput {
        task_id,
        poll_interval_seconds,
    })
}

async fn post(
    deps: &TaskDeps,
    url: &str,
    body: &Value,
    timeout: Duration,
) -> Result<String, TaskError> {
    let response = deps
        .http
        .post(url)
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                // Nothing reached the server: safe to retry.
                TaskError::new(
                    TaskError::TRANSIENT,
                    format!("cannot reach the test server at {url}: connection failed"),
                )
            } else if e.is_timeout() {
                // The server may have created a task: do not post again.
                TaskError::new(
                    TaskError::TEST_SERVER,
                    format!(
                        "the test server at {url} did not answer within {} s",
                        timeout.as_secs()
                    ),
                )
            } else {
                TaskError::new(
                    TaskError::TEST_SERVER,
                    format!("request to the test server at {url} failed"),
                )
            }
        })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TaskError::new(
            TaskError::TRANSIENT,
            format!("the test server answered {status} to POST {url}"),
        ));
    }
    if !status.is_success() {
        return Err(TaskError::new(
            TaskError::TEST_SERVER,
            format!(
                "the test server refused the run: {status} {}",
                excerpt(&text)
            ),
        ));
    }
    let parsed: Value = serde_json::from_str(&text).map_err(|_| {
        TaskError::new(
            TaskError::TEST_SERVER,
            format!(
                "the test server answered {status} with a body that is not JSON: {}",
                excerpt(&text)
            ),
        )
    })?;
    match &parsed["task_id"] {
        Value::String(s) if valid_task_id(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(TaskError::new(
            TaskError::TEST_SERVER,
            format!(
                "the test server's answer has no usable task_id: {}",
                excerpt(&text)
            ),
        )),
    }
}

/// A task id goes into a URL path: keep it to a safe, bounded alphabet.
fn valid_task_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_path_safe() {
        assert!(valid_task_id("3f2a-b_c.9"));
        for bad in ["", "../x", "a/b", "a b", "x?y", &"x".repeat(129)] {
            assert!(!valid_task_id(bad), "{bad:?}");
        }
    }
}
