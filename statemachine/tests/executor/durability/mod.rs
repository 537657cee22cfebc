//! Stopping, restarting and resuming: what survives in the store is enough to go on.
//!
//! A store that is down for a while has its module.

use crate::common;
use common::error_name::ErrorName;
use common::{
    Reply, ScriptedInvoker, executor, fast, finished, input, ok, polled, stored_until, triggered,
};
use serde_json::json;
use statemachine::{
    ExecutionStatus, ExecutionStore, ExecutorError, ExecutorOptions, HistoryPage,
    MemoryExecutionStore, Pending,
};
use std::sync::Arc;
use std::time::Duration;

mod store_outages;

fn is_waiting(record: &statemachine::ExecutionRecord) -> bool {
    record
        .cursor
        .as_ref()
        .is_some_and(|c| matches!(c.pending, Pending::WaitUntil { .. }))
}

fn scheduled_count(record: &statemachine::ExecutionRecord, state: &str) -> usize {
    record
        .events
        .iter()
        .filter(|e| e.r#type == "TaskScheduled" && e.state.as_deref() == Some(state))
        .count()
}

#[test]
fn the_executor_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<statemachine::Executor>();
    shareable::<statemachine::Definition>();
    shareable::<statemachine::ExecutionRecord>();
}

#[tokio::test]
async fn a_running_record_without_a_cursor_is_failed_on_resume() {
    let store = Arc::new(MemoryExecutionStore::new());
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang)]);
    let first = executor(invoker.clone(), store.clone(), fast());
    first.start("exec-1", input()).await.unwrap();
    invoker.wait_called("download", 1).await;
    drop(first);
    let mut broken = store.load_execution("exec-1").await.unwrap().unwrap();
    broken.cursor = None;
    store.save_execution(&broken, &[]).await.unwrap();

    let second = executor(ScriptedInvoker::new(&[]), store.clone(), fast());
    second.resume_all().await.unwrap();
    let record = finished(&second, "exec-1").await;
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn abort_during_a_wait_runs_no_further_task() {
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 5)),
        ("poll", polled("completed")),
    ]);
    let store = Arc::new(MemoryExecutionStore::new());
    // 5 s wait × 0.01 = 50 ms.
    let executor = executor(
        invoker.clone(),
        store.clone(),
        ExecutorOptions::scaled(0.01),
    );
    executor.start("exec-1", input()).await.unwrap();
    stored_until(&store, "exec-1", is_waiting).await;

    let stopped = executor
        .stop(
            "exec-1",
            Some(ErrorName::Cancelled.as_str().into()),
            Some("cancelled by alice".into()),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(
        stopped.error.as_deref(),
        Some(ErrorName::Cancelled.as_str())
    );
    assert_eq!(stopped.current_state.as_deref(), Some("WaitBeforePoll"));
    let last = stopped.events.last().unwrap();
    assert_eq!(last.r#type, "ExecutionAborted");
    assert_eq!(last.cause.as_deref(), Some("cancelled by alice"));

    // Well past the wait's end: the poll never ran and the record did not change.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(invoker.resources(), ["download", "trigger"]);
    assert_eq!(
        executor.describe("exec-1").await.unwrap(),
        Some(stopped.clone())
    );

    let again = executor.stop("exec-1", None, None).await.unwrap();
    assert_eq!(again, stopped, "stopping twice changes nothing");
}

#[tokio::test]
async fn abort_drops_an_in_flight_task() {
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang)]);
    let store = Arc::new(MemoryExecutionStore::new());
    let executor = executor(invoker.clone(), store.clone(), fast());
    executor.start("exec-1", input()).await.unwrap();
    invoker.wait_called("download", 1).await;

    let stopped = executor.stop("exec-1", None, None).await.unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(
        stopped.event_types(),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "ExecutionAborted"
        ]
    );
    assert_eq!(
        executor
            .wait_finished("exec-1", Duration::from_secs(1))
            .await
            .unwrap(),
        stopped
    );
}

#[tokio::test]
async fn stopping_a_finished_execution_changes_nothing() {
    let invoker = ScriptedInvoker::new(&[
        ("download", Reply::Fail(ErrorName::PackageNotFound.as_str())),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let executor = executor(invoker, Arc::new(MemoryExecutionStore::new()), fast());
    executor.start("exec-1", input()).await.unwrap();
    let failed = finished(&executor, "exec-1").await;
    assert_eq!(executor.stop("exec-1", None, None).await.unwrap(), failed);
    assert_eq!(
        executor.stop("nope", None, None).await,
        Err(ExecutorError::NotFound("nope".to_string()))
    );
}

#[tokio::test]
async fn starting_an_existing_id_returns_the_existing_execution() {
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang)]);
    let executor = executor(
        invoker.clone(),
        Arc::new(MemoryExecutionStore::new()),
        fast(),
    );
    let first = executor.start("exec-1", input()).await.unwrap();
    invoker.wait_called("download", 1).await;

    let second = executor
        .start("exec-1", json!({"different": true}))
        .await
        .unwrap();
    assert_eq!(second.input, first.input);
    assert_eq!(second.execution_id, "exec-1");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(invoker.resources(), ["download"], "no second driver");
}

#[tokio::test]
async fn describe_and_wait_finished_on_unknown_or_unfinished_executions() {
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang)]);
    let executor = executor(invoker, Arc::new(MemoryExecutionStore::new()), fast());
    assert_eq!(executor.describe("nope").await.unwrap(), None);
    assert_eq!(
        executor
            .wait_finished("nope", Duration::from_millis(10))
            .await,
        Err(ExecutorError::NotFound("nope".to_string()))
    );
    executor.start("exec-1", input()).await.unwrap();
    assert_eq!(
        executor
            .wait_finished("exec-1", Duration::from_millis(30))
            .await,
        Err(ExecutorError::WaitTimedOut("exec-1".to_string()))
    );
}

#[tokio::test]
async fn resume_after_a_crash_during_a_wait_finishes_the_rest_once() {
    let store = Arc::new(MemoryExecutionStore::new());
    let before = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 60)),
    ]);
    // 60 s wait × 0.001 = 60 ms: long enough to crash inside it.
    let first = executor(before.clone(), store.clone(), fast());
    first.start("exec-1", input()).await.unwrap();
    let waiting = stored_until(&store, "exec-1", is_waiting).await;
    drop(first);

    let after = ScriptedInvoker::new(&[
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let second = executor(after.clone(), store.clone(), fast());
    assert_eq!(second.resume_all().await.unwrap(), 1);
    assert_eq!(second.resume_all().await.unwrap(), 0, "already driven");
    let record = finished(&second, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(before.resources(), ["download", "trigger"]);
    assert_eq!(
        after.resources(),
        ["poll", "finalize", "notify", "announce"]
    );
    assert_eq!(after.inputs("poll"), [json!({"run_id": 1})]);
    assert_eq!(
        record.events[..waiting.events.len()],
        waiting.events[..],
        "history is kept"
    );
    assert_eq!(
        record
            .event_types()
            .iter()
            .filter(|t| **t == "ExecutionStarted")
            .count(),
        1
    );
}

#[tokio::test]
async fn resume_after_a_crash_with_a_task_in_flight_invokes_it_again() {
    let store = Arc::new(MemoryExecutionStore::new());
    let before = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", Reply::Hang),
    ]);
    let first = executor(before.clone(), store.clone(), fast());
    first.start("exec-1", input()).await.unwrap();
    before.wait_called("trigger", 1).await;
    let in_flight = stored_until(&store, "exec-1", |r| scheduled_count(r, "Trigger") == 1).await;
    assert!(matches!(
        in_flight.cursor.unwrap().pending,
        Pending::Invoke { .. }
    ));
    drop(first);

    let after = ScriptedInvoker::new(&[
        ("trigger", triggered("t-2", 1)),
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let second = executor(after.clone(), store.clone(), fast());
    assert_eq!(second.resume_all().await.unwrap(), 1);
    let record = finished(&second, "exec-1").await;

    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(before.resources(), ["download", "trigger"]);
    assert_eq!(
        after.resources(),
        ["trigger", "poll", "finalize", "notify", "announce"],
        "download is not repeated"
    );
    assert_eq!(
        after.inputs("trigger"),
        before.inputs("trigger"),
        "same input on the re-invoke"
    );
    assert_eq!(scheduled_count(&record, "Trigger"), 1);
    assert_eq!(scheduled_count(&record, "Download"), 1);
}

#[tokio::test]
async fn a_resumed_wait_sleeps_only_what_is_left() {
    let store = Arc::new(MemoryExecutionStore::new());
    let before = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 3600)),
    ]);
    // 3600 s × 0.00003 = 108 ms.
    let first = executor(before, store.clone(), ExecutorOptions::scaled(0.00003));
    first.start("exec-1", input()).await.unwrap();
    let waiting = stored_until(&store, "exec-1", is_waiting).await;
    drop(first);
    let Pending::WaitUntil { until } = waiting.cursor.unwrap().pending else {
        unreachable!()
    };

    // The new executor waits 1000× longer per second, but the deadline is already fixed.
    let after = ScriptedInvoker::new(&[
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let second = executor(after, store.clone(), ExecutorOptions::scaled(0.1));
    second.resume_all().await.unwrap();
    let record = finished(&second, "exec-1").await;
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    let exited = record
        .events
        .iter()
        .find(|e| e.r#type == "WaitStateExited")
        .unwrap();
    assert!(
        exited.timestamp >= until,
        "the wait ran to its persisted end"
    );
    assert!((exited.timestamp - until).num_milliseconds() < 2000);
}

#[tokio::test]
async fn stopping_an_execution_nobody_drives_marks_it_aborted() {
    let store = Arc::new(MemoryExecutionStore::new());
    let invoker = ScriptedInvoker::new(&[("download", Reply::Hang)]);
    let first = executor(invoker.clone(), store.clone(), fast());
    first.start("exec-1", input()).await.unwrap();
    invoker.wait_called("download", 1).await;
    drop(first);

    let second = executor(ScriptedInvoker::new(&[]), store.clone(), fast());
    let stopped = second
        .stop("exec-1", None, Some("operator".into()))
        .await
        .unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(second.resume_all().await.unwrap(), 0);
}

#[tokio::test]
async fn history_is_appended_so_the_record_stays_small_and_pages_read_it_all() {
    // GIVEN an execution that polls 300 times
    let store = Arc::new(MemoryExecutionStore::new());
    let mut script = vec![
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
    ];
    script.extend(std::iter::repeat_n(("poll", polled("running")), 299));
    script.push(("poll", polled("completed")));
    script.push(("finalize", ok(json!({}))));
    script.push(("notify", ok(json!({}))));
    let invoker = ScriptedInvoker::new(&script);
    let executor = executor(invoker, store.clone(), ExecutorOptions::scaled(0.0));
    executor.start("exec-1", input()).await.unwrap();
    let first_size = stored_until(&store, "exec-1", |_| true).await;
    let small = store.record_size("exec-1").unwrap();
    let record = executor
        .wait_finished("exec-1", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert!(record.event_count > 1200, "{}", record.event_count);
    assert_eq!(first_size.events.len(), first_size.event_count as usize);

    // THEN the stored record (what every transition rewrites) does not grow with the history
    let stored = store.record_size("exec-1").unwrap();
    assert!(
        stored < 4 * small.max(1000),
        "record {stored} bytes after {} events",
        record.event_count
    );

    // AND reading page by page, either way round, gives exactly the whole history
    for newest_first in [false, true] {
        let mut page = HistoryPage {
            after: None,
            limit: 97,
            newest_first,
        };
        let mut read = Vec::new();
        loop {
            let events = executor.history("exec-1", page).await.unwrap();
            assert!(events.len() <= 97);
            let next = page.next_after(events.last().map(|e| e.id), record.event_count);
            read.extend(events);
            match next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        if newest_first {
            read.reverse();
        }
        assert_eq!(read, record.events);
    }
    assert!(
        executor
            .history("nope", HistoryPage::first(10))
            .await
            .unwrap()
            .is_empty()
    );
}
