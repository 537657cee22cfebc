//! Task and machine TimeoutSeconds on the deployed definition.

use crate::common;
use common::error_name::ErrorName;
use common::{Reply, ScriptedInvoker, executor, fast, finished, input, ok, triggered};
use serde_json::json;
use statemachine::{ExecutionStatus, ExecutorOptions, MemoryExecutionStore};
use std::sync::Arc;

#[tokio::test]
async fn task_timeout_fails_the_task_with_states_timeout() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Hang),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    // Download's TimeoutSeconds 960 → 96 ms; no retrier names States.Timeout, the catch does.
    let options = ExecutorOptions {
        timeout_scale: 0.0001,
        ..fast()
    };
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        options,
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    let timed_out = record
        .events
        .iter()
        .find(|e| e.r#type == "TaskTimedOut")
        .unwrap();
    assert_eq!(timed_out.state.as_deref(), Some("Download"));
    assert_eq!(timed_out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(
        invoker.resources(),
        ["download", "finalize", "notify", "announce"]
    );
    assert_eq!(
        invoker.inputs("finalize")[0]["failure"]["Error"],
        "States.Timeout"
    );
}

#[tokio::test]
async fn machine_timeout_ends_the_execution_timed_out() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 3600)),
    ]);
    // Machine TimeoutSeconds 180000 → 180 ms; the 3600 s wait → 3.6 s, so the machine
    // times out first (the sweeper then fails the run and frees its lock).
    let options = ExecutorOptions {
        timeout_scale: 0.000001,
        ..fast()
    };
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        options,
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(record.error.as_deref(), Some("States.Timeout"));
    assert_eq!(record.event_types().last(), Some(&"ExecutionTimedOut"));
    assert_eq!(record.current_state.as_deref(), Some("WaitBeforePoll"));
    assert_eq!(invoker.resources(), ["download", "trigger"]);
}
