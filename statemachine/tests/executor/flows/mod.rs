//! Scripted walks through the deployed deploy-test definition: each path a run can take.
//! Every path ends in Finalize (or its last-resort ReleaseLock), then Notify, then the
//! Outcome choice: the execution succeeds only when nothing failed.
//!
//! The last-resort path and timeouts have their modules.

use crate::common;
use common::error_name::ErrorName;
use common::{
    Reply, ScriptedInvoker, events_with_states, executor, fast, finished, input, ok, polled,
    triggered,
};
use serde_json::json;
use statemachine::{ExecutionStatus, ExecutorOptions, MemoryExecutionStore};
use std::sync::Arc;

mod last_resort;
mod timeouts;

const RUN_FAILED_CAUSE: &str =
    "The deploy-test run failed; its record names the failing step and the error.";

/// The `(type, state)` events of one Task state that succeeded at the first attempt.
fn task_succeeded(state: &str) -> Vec<(&'static str, Option<&str>)> {
    [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskSucceeded",
        "TaskStateExited",
    ]
    .map(|t| (t, Some(state)))
    .to_vec()
}

fn owned(events: Vec<(&str, Option<&str>)>) -> Vec<(String, Option<String>)> {
    events
        .into_iter()
        .map(|(t, s)| (t.to_string(), s.map(String::from)))
        .collect()
}

#[tokio::test]
async fn happy_path_polls_until_completed_finalizes_and_notifies() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "http://pkg/app.tgz"}))),
        ("trigger", triggered("t-1", 5)),
        ("poll", polled("running")),
        (
            "poll",
            ok(json!({"outcome": "completed", "report_url": "http://r"})),
        ),
        ("finalize", ok(json!({"status": "COMPLETED"}))),
        ("notify", ok(json!({"sent": true}))),
        ("announce", ok(json!({"chat": 2}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );

    let started = executor.start("exec-1", input()).await.unwrap();
    assert_eq!(started.status, ExecutionStatus::Running);
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(
        record.output,
        Some(json!({
            "run_id": 1,
            "failure": null,
            "download": {"package_url": "http://pkg/app.tgz"},
            "trigger": {"task_id": "t-1", "poll_interval_seconds": 5},
            "poll": {"outcome": "completed", "report_url": "http://r"},
            "finalize": {"status": "COMPLETED"},
            "notify": {"sent": true},
            "announce": {"chat": 2}
        }))
    );
    // Announce asks the notify function for its chat part, after the mail.
    assert_eq!(
        invoker.inputs("announce"),
        [json!({"run_id": 1, "part": "chat"})]
    );
    let mut expected = vec![("ExecutionStarted", None)];
    expected.extend(task_succeeded("Download"));
    expected.extend(task_succeeded("Trigger"));
    for _ in 0..2 {
        expected.push(("WaitStateEntered", Some("WaitBeforePoll")));
        expected.push(("WaitStateExited", Some("WaitBeforePoll")));
        expected.extend(task_succeeded("Poll"));
        expected.push(("ChoiceStateEntered", Some("CheckPoll")));
        expected.push(("ChoiceStateExited", Some("CheckPoll")));
    }
    expected.extend(task_succeeded("Finalize"));
    expected.extend(task_succeeded("Notify"));
    expected.extend(task_succeeded("Announce"));
    expected.push(("ChoiceStateEntered", Some("Outcome")));
    expected.push(("ChoiceStateExited", Some("Outcome")));
    expected.push(("SucceedStateEntered", Some("Done")));
    expected.push(("SucceedStateExited", Some("Done")));
    expected.push(("ExecutionSucceeded", None));
    assert_eq!(events_with_states(&record), owned(expected));
    assert_eq!(
        invoker.resources(),
        [
            "download", "trigger", "poll", "poll", "finalize", "notify", "announce"
        ]
    );
    // Every task gets the run id alone (it reads the rest from the run record); Finalize
    // also gets the failure, null on this path.
    for resource in ["download", "trigger", "notify"] {
        assert_eq!(
            invoker.inputs(resource),
            [json!({"run_id": 1})],
            "{resource}"
        );
    }
    assert_eq!(invoker.inputs("poll"), vec![json!({"run_id": 1}); 2]);
    assert_eq!(
        invoker.inputs("finalize"),
        [json!({"run_id": 1, "failure": null})]
    );
    let ids: Vec<u64> = record.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=record.events.len() as u64).collect::<Vec<_>>());
    assert!(record.cursor.is_none() && record.stopped_at.is_some());
    assert_eq!(record.current_state.as_deref(), Some("Done"));
}

#[tokio::test]
async fn history_events_carry_inputs_outputs_and_resources() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(invoker, Arc::new(MemoryExecutionStore::new()), fast());
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    let event = |n: usize| serde_json::to_value(&record.events[n]).unwrap();
    assert_eq!(event(0)["type"], "ExecutionStarted");
    assert_eq!(event(0)["input"], input());
    assert_eq!(event(1)["state"], "Download");
    assert_eq!(event(1)["input"], input());
    assert_eq!(event(2)["type"], "TaskScheduled");
    assert_eq!(event(2)["resource"], "download");
    assert_eq!(event(3)["output"], json!({"package_url": "u"}));
    assert_eq!(event(4)["output"]["download"], json!({"package_url": "u"}));
    assert!(
        event(4).get("error").is_none(),
        "absent fields are left out"
    );
    // The trigger's result lands whole at its ResultPath, beside what came before.
    assert_eq!(
        event(8)["output"]["trigger"],
        json!({"task_id": "t-1", "poll_interval_seconds": 1})
    );
    assert_eq!(event(8)["output"]["download"], json!({"package_url": "u"}));
}

#[tokio::test]
async fn transient_errors_are_retried_then_succeed() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail(ErrorName::Transient.as_str())),
        ("download", Reply::Fail(ErrorName::StoreBusy.as_str())),
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", Reply::Fail("Lambda.TooManyRequestsException")),
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(
        invoker.resources(),
        [
            "download", "download", "download", "trigger", "poll", "poll", "finalize", "notify",
            "announce"
        ]
    );
    let download: Vec<_> = record
        .events
        .iter()
        .filter(|e| e.state.as_deref() == Some("Download"))
        .map(|e| e.r#type.as_str())
        .collect();
    assert_eq!(
        download,
        [
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
        ]
    );
}

#[tokio::test]
async fn retries_exhausted_go_to_catch_then_finalize_with_the_failure() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail(ErrorName::Transient.as_str())),
        ("download", Reply::Fail(ErrorName::Transient.as_str())),
        ("download", Reply::Fail(ErrorName::Transient.as_str())),
        ("download", Reply::Fail(ErrorName::Transient.as_str())),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    // The run record names the failing step; the execution just says the run failed.
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    assert_eq!(record.cause.as_deref(), Some(RUN_FAILED_CAUSE));
    assert_eq!(
        invoker.resources(),
        [
            "download", "download", "download", "download", "finalize", "notify", "announce"
        ]
    );
    assert_eq!(
        invoker.inputs("finalize"),
        [json!({
            "run_id": 1,
            "failure": {"Error": ErrorName::Transient.as_str(), "Cause": "download failed with Crat.Transient"}
        })]
    );
    assert_eq!(record.current_state.as_deref(), Some("RunFailed"));
}

#[tokio::test]
async fn an_error_no_retrier_names_takes_the_catch_path_with_exact_history() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail(ErrorName::PackageNotFound.as_str())),
        ("finalize", Reply::Fail(ErrorName::StoreBusy.as_str())),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    let mut expected = vec![
        ("ExecutionStarted", None),
        ("TaskStateEntered", Some("Download")),
        ("TaskScheduled", Some("Download")),
        ("TaskFailed", Some("Download")),
        ("TaskStateExited", Some("Download")),
        ("TaskStateEntered", Some("Finalize")),
        ("TaskScheduled", Some("Finalize")),
        ("TaskFailed", Some("Finalize")),
        ("TaskScheduled", Some("Finalize")),
        ("TaskSucceeded", Some("Finalize")),
        ("TaskStateExited", Some("Finalize")),
    ];
    expected.extend(task_succeeded("Notify"));
    expected.extend(task_succeeded("Announce"));
    expected.extend([
        ("ChoiceStateEntered", Some("Outcome")),
        ("ChoiceStateExited", Some("Outcome")),
        ("FailStateEntered", Some("RunFailed")),
        ("ExecutionFailed", None),
    ]);
    assert_eq!(events_with_states(&record), owned(expected));
    let failed = &record.events[3];
    assert_eq!(
        failed.error.as_deref(),
        Some(ErrorName::PackageNotFound.as_str())
    );
    assert_eq!(
        failed.cause.as_deref(),
        Some(format!("download failed with {}", ErrorName::PackageNotFound).as_str())
    );
    assert_eq!(
        invoker.inputs("finalize")[1]["failure"]["Error"],
        ErrorName::PackageNotFound.as_str()
    );
    let last = record.events.last().unwrap();
    assert_eq!(last.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
}

#[tokio::test]
async fn a_failed_test_passes_its_error_to_finalize() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", polled("pending")),
        (
            "poll",
            ok(json!({"outcome": "failed", "error": "deploy broke"})),
        ),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    assert_eq!(
        invoker.resources(),
        [
            "download", "trigger", "poll", "poll", "finalize", "notify", "announce"
        ]
    );
    assert_eq!(
        invoker.inputs("finalize"),
        [
            json!({"run_id": 1, "failure": {"Error": ErrorName::TestFailed.as_str(), "Cause": "deploy broke"}})
        ]
    );
    let states: Vec<_> = record
        .events
        .iter()
        .filter_map(|e| e.state.as_deref())
        .collect();
    assert!(states.contains(&"TestFailed"), "{states:?}");
}

#[tokio::test]
async fn a_passed_deadline_branches_to_monitor_timed_out() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", polled("running")),
        (
            "poll",
            ok(json!({"outcome": "deadline", "error": "max_monitor_seconds passed"})),
        ),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    assert_eq!(invoker.inputs("poll").len(), 2);
    assert_eq!(
        invoker.inputs("finalize")[0]["failure"],
        json!({"Error": ErrorName::Timeout.as_str(), "Cause": "max_monitor_seconds passed"})
    );
    assert!(
        events_with_states(&record)
            .iter()
            .any(|(_, s)| s.as_deref() == Some("MonitorTimedOut"))
    );
}

#[tokio::test]
async fn a_mail_that_cannot_be_sent_does_not_change_the_outcome() {
    // 1 + 4 retries of Crat.MailTransient, then Notify's catch.
    let mut script = vec![
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
    ];
    script.extend(std::iter::repeat_n(
        ("notify", Reply::Fail(ErrorName::MailTransient.as_str())),
        5,
    ));
    let invoker = ScriptedInvoker::new(&script);
    // Retry intervals 30 s × 2ⁿ → 3 ms × 2ⁿ.
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        ExecutorOptions::scaled(0.0001),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(invoker.inputs("notify").len(), 5);
    let output = record.output.unwrap();
    assert_eq!(
        output["notify_error"]["Error"],
        ErrorName::MailTransient.as_str()
    );
    assert_eq!(record.current_state.as_deref(), Some("Done"));
}
