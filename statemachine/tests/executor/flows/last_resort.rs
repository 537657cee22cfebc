//! When Finalize keeps failing: ReleaseLock frees the lock and fails the run, and says so
//! when it fails too.

use crate::common;
use common::error_name::ErrorName;
use common::{Reply, ScriptedInvoker, events_with_states, executor, finished, input, ok};
use serde_json::json;
use statemachine::{ExecutionStatus, ExecutorOptions, MemoryExecutionStore};
use std::sync::Arc;

#[tokio::test]
async fn a_finalize_that_keeps_failing_releases_the_lock_and_fails_the_run() {
    // Finalize: 1 + 8 retries (States.ALL), then its catch → ReleaseLock (also Finalize).
    let mut script = vec![("download", Reply::Fail(ErrorName::PackageNotFound.as_str()))];
    script.extend(std::iter::repeat_n(
        ("finalize", Reply::Fail(ErrorName::StoreBusy.as_str())),
        9,
    ));
    script.push(("finalize", ok(json!({"lock_released": true}))));
    script.push(("notify", ok(json!({}))));
    let invoker = ScriptedInvoker::new(&script);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        ExecutorOptions::scaled(0.0001),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed, "{record:#?}");
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    let finalize = invoker.inputs("finalize");
    assert_eq!(finalize.len(), 10);
    let release = &finalize[9];
    assert_eq!(
        release["failure"]["Error"],
        ErrorName::PackageNotFound.as_str()
    );
    assert_eq!(
        release["finalize_error"]["Error"],
        ErrorName::StoreBusy.as_str()
    );
    assert_eq!(invoker.inputs("notify").len(), 1, "the mail still goes out");
    assert!(
        events_with_states(&record)
            .iter()
            .any(|(t, s)| t == "TaskSucceeded" && s.as_deref() == Some("ReleaseLock"))
    );
}

#[tokio::test]
async fn when_release_lock_fails_too_the_execution_says_so() {
    let invoker = ScriptedInvoker::new(
        &std::iter::once(("download", Reply::Fail(ErrorName::PackageNotFound.as_str())))
            .chain(std::iter::repeat_n(
                ("finalize", Reply::Fail(ErrorName::StoreBusy.as_str())),
                18,
            ))
            .collect::<Vec<_>>(),
    );
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        ExecutorOptions::scaled(0.0001),
    );
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Failed, "{record:#?}");
    assert_eq!(
        record.error.as_deref(),
        Some(ErrorName::FinalizeFailed.as_str())
    );
    assert_eq!(record.current_state.as_deref(), Some("FinalizeFailed"));
    assert_eq!(invoker.inputs("finalize").len(), 18);
    assert!(invoker.inputs("notify").is_empty());
}
