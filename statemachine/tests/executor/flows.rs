//! Scripted walks through the deploy-test-shaped definition: each path a run can take.

use crate::common;

use std::sync::Arc;

use common::{Reply, ScriptedInvoker, events_with_states, executor, fast, finished, input, ok};
use serde_json::json;
use statemachine::{ExecutionStatus, ExecutorOptions, MemoryExecutionStore};

#[tokio::test]
async fn happy_path_polls_until_completed_and_finalizes() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "http://pkg/app.tgz"}))),
        ("trigger", ok(json!({"task_id": "t-1", "ignored": true}))),
        ("poll", ok(json!({"status": "running:deploy"}))),
        (
            "poll",
            ok(json!({"status": "completed", "report_url": "http://r"})),
        ),
        ("finalize", ok(json!({"ok": true}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );

    let started = executor.start("exec-1", input(5)).await.unwrap();
    assert_eq!(started.status, ExecutionStatus::Running);
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(
        record.output,
        Some(json!({"status": "completed", "report_url": "http://r"}))
    );
    assert_eq!(
        record.event_types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited", // Download
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited", // Trigger
            "WaitStateEntered",
            "WaitStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited", // Poll: running
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited", // Poll: completed
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited", // Finalize
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    assert_eq!(
        invoker.resources(),
        ["download", "trigger", "poll", "poll", "finalize"]
    );
    assert_eq!(
        invoker.inputs("download"),
        [json!({"run_id": "run-1", "execution": "exec-1"})]
    );
    assert_eq!(
        invoker.inputs("trigger"),
        [json!({"run_id": "run-1", "package_url": "http://pkg/app.tgz"})]
    );
    assert_eq!(
        invoker.inputs("poll")[0],
        json!({"run_id": "run-1", "task_id": "t-1"})
    );
    assert_eq!(
        invoker.inputs("finalize"),
        [
            json!({"run_id": "run-1", "outcome": "completed", "poll": {"status": "completed", "report_url": "http://r"}})
        ]
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
        ("trigger", ok(json!({"task_id": "t-1"}))),
        ("poll", ok(json!({"status": "completed"}))),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(invoker, Arc::new(MemoryExecutionStore::new()), fast());
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    let event = |n: usize| serde_json::to_value(&record.events[n]).unwrap();
    assert_eq!(event(0)["type"], "ExecutionStarted");
    assert_eq!(event(0)["input"], input(1));
    assert_eq!(event(1)["state"], "Download");
    assert_eq!(event(1)["input"], input(1));
    assert_eq!(event(2)["type"], "TaskScheduled");
    assert_eq!(event(2)["resource"], "download");
    assert_eq!(event(3)["output"], json!({"package_url": "u"}));
    assert_eq!(event(4)["output"]["download"], json!({"package_url": "u"}));
    assert!(
        event(4).get("error").is_none(),
        "absent fields are left out"
    );
    // The trigger's ResultSelector kept only task_id.
    assert_eq!(event(8)["output"]["trigger"], json!({"task_id": "t-1"}));
}

#[tokio::test]
async fn transient_error_is_retried_then_succeeds() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail("Crat.Transient")),
        ("download", Reply::Fail("Crat.Transient")),
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", ok(json!({"task_id": "t-1"}))),
        ("poll", Reply::Fail("Crat.Transient")),
        ("poll", ok(json!({"status": "completed"}))),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(
        invoker.resources(),
        [
            "download", "download", "download", "trigger", "poll", "poll", "finalize"
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
async fn retries_exhausted_go_to_catch_and_the_failure_path() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail("Crat.Transient")),
        ("download", Reply::Fail("Crat.Transient")),
        ("download", Reply::Fail("Crat.Transient")),
        ("download", Reply::Fail("Crat.Transient")),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Crat.Transient"));
    assert_eq!(
        record.cause.as_deref(),
        Some("download failed with Crat.Transient")
    );
    assert_eq!(
        invoker.resources(),
        ["download", "download", "download", "download", "finalize"]
    );
    assert_eq!(
        invoker.inputs("finalize"),
        [json!({
            "run_id": "run-1",
            "outcome": "failed",
            "error": {"Error": "Crat.Transient", "Cause": "download failed with Crat.Transient"}
        })]
    );
    assert_eq!(record.current_state.as_deref(), Some("Failed"));
}

#[tokio::test]
async fn uncaught_by_retry_error_takes_the_catch_path_with_exact_history() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail("Crat.PackageNotFound")),
        ("finalize", Reply::Fail("Crat.Transient")),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Crat.PackageNotFound"));
    let expected: Vec<(String, Option<String>)> = [
        ("ExecutionStarted", None),
        ("TaskStateEntered", Some("Download")),
        ("TaskScheduled", Some("Download")),
        ("TaskFailed", Some("Download")),
        ("TaskStateExited", Some("Download")),
        ("TaskStateEntered", Some("FinalizeFailure")),
        ("TaskScheduled", Some("FinalizeFailure")),
        ("TaskFailed", Some("FinalizeFailure")),
        ("TaskScheduled", Some("FinalizeFailure")),
        ("TaskSucceeded", Some("FinalizeFailure")),
        ("TaskStateExited", Some("FinalizeFailure")),
        ("FailStateEntered", Some("Failed")),
        ("ExecutionFailed", None),
    ]
    .into_iter()
    .map(|(t, s)| (t.to_string(), s.map(String::from)))
    .collect();
    assert_eq!(events_with_states(&record), expected);
    let failed = &record.events[3];
    assert_eq!(failed.error.as_deref(), Some("Crat.PackageNotFound"));
    assert_eq!(
        failed.cause.as_deref(),
        Some("download failed with Crat.PackageNotFound")
    );
    let last = record.events.last().unwrap();
    assert_eq!(last.error.as_deref(), Some("Crat.PackageNotFound"));
}

#[tokio::test]
async fn external_failure_status_branches_to_the_failure_path() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", ok(json!({"task_id": "t-1"}))),
        ("poll", ok(json!({"status": "pending"}))),
        (
            "poll",
            ok(json!({"status": "failed", "error": "deploy broke"})),
        ),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Crat.TestServerError"));
    assert_eq!(
        invoker.resources(),
        ["download", "trigger", "poll", "poll", "finalize"]
    );
    assert_eq!(invoker.inputs("finalize")[0]["outcome"], "failed");
    let states: Vec<_> = record
        .events
        .iter()
        .filter_map(|e| e.state.as_deref())
        .collect();
    assert!(states.contains(&"ExternalFailed"), "{states:?}");
}

#[tokio::test]
async fn deadline_flag_branches_to_monitor_timeout() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", ok(json!({"task_id": "t-1"}))),
        (
            "poll",
            ok(json!({"status": "running:test", "deadline_passed": false})),
        ),
        (
            "poll",
            ok(json!({"status": "running:test", "deadline_passed": true})),
        ),
        ("finalize", ok(json!({}))),
    ]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("Crat.Timeout"));
    assert_eq!(record.cause.as_deref(), Some("max_monitor_seconds passed"));
    assert_eq!(invoker.inputs("poll").len(), 2);
}

#[tokio::test]
async fn task_timeout_fails_the_task_with_states_timeout() {
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang), ("finalize", ok(json!({})))]);
    // TimeoutSeconds 60 → 60 ms; the Crat.Transient retrier does not match States.Timeout.
    let options = ExecutorOptions {
        timeout_scale: 0.001,
        ..fast()
    };
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        options,
    );
    executor.start("exec-1", input(1)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    let timed_out = record
        .events
        .iter()
        .find(|e| e.r#type == "TaskTimedOut")
        .unwrap();
    assert_eq!(timed_out.state.as_deref(), Some("Download"));
    assert_eq!(timed_out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(invoker.resources(), ["download", "finalize"]);
}

#[tokio::test]
async fn machine_timeout_ends_the_execution_timed_out() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", ok(json!({"task_id": "t-1"}))),
    ]);
    // Machine TimeoutSeconds 3600 → 180 ms; the 3600 s wait → 3.6 s, so the machine times out first.
    let options = ExecutorOptions {
        timeout_scale: 0.00005,
        ..fast()
    };
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        options,
    );
    executor.start("exec-1", input(3600)).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    assert_eq!(record.event_types().last(), Some(&"ExecutionTimedOut"));
    assert_eq!(record.current_state.as_deref(), Some("WaitBeforePoll"));
    assert_eq!(invoker.resources(), ["download", "trigger"]);
}
