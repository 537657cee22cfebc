//! A store that is down for a while: the execution is not stranded, and a stop returns
//! promptly while its abort lands later.

use crate::common;
use common::{ScriptedInvoker, fast, finished, input, ok, polled, triggered};
use serde_json::json;
use statemachine::{
    ExecutionStatus, ExecutionStore, ExecutionStoreError, ExecutorError, ExecutorOptions,
    HistoryPage, MemoryExecutionStore,
};
use std::sync::Arc;
use std::time::Duration;

/// A store that refuses every save from the `from`-th to the `until`-th (1-based), as a
/// database that is briefly unreachable would.
struct FlakyStore {
    inner: MemoryExecutionStore,
    saves: std::sync::atomic::AtomicUsize,
    from: usize,
    until: usize,
    /// Set when the store is back: every save from then on succeeds.
    back: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl ExecutionStore for FlakyStore {
    async fn save_execution(
        &self,
        record: &statemachine::ExecutionRecord,
        new_events: &[statemachine::HistoryEvent],
    ) -> Result<(), ExecutionStoreError> {
        let n = self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if (self.from..=self.until).contains(&n)
            && !self.back.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ExecutionStoreError::Unavailable(format!(
                "store unavailable (save {n})"
            )));
        }
        self.inner.save_execution(record, new_events).await
    }
    async fn load_execution(
        &self,
        id: &str,
    ) -> Result<Option<statemachine::ExecutionRecord>, ExecutionStoreError> {
        self.inner.load_execution(id).await
    }
    async fn list_running_executions(
        &self,
    ) -> Result<Vec<statemachine::ExecutionRecord>, ExecutionStoreError> {
        self.inner.list_running_executions().await
    }
    async fn load_history(
        &self,
        id: &str,
        page: HistoryPage,
    ) -> Result<Vec<statemachine::HistoryEvent>, ExecutionStoreError> {
        self.inner.load_history(id, page).await
    }
}

#[tokio::test]
async fn a_store_that_is_down_for_a_while_does_not_strand_the_execution() {
    // GIVEN a store that refuses 40 saves in a row right after the start (the old
    // driver gave up after 5 and left the execution RUNNING until a restart)
    let store = Arc::new(FlakyStore {
        inner: MemoryExecutionStore::new(),
        saves: Default::default(),
        from: 2,
        until: 41,
        back: Default::default(),
    });
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
        ("poll", polled("completed")),
        ("finalize", ok(json!({}))),
        ("notify", ok(json!({}))),
        ("announce", ok(json!({}))),
    ]);
    let options = ExecutorOptions {
        save_backoff: Duration::from_millis(1),
        save_backoff_max: Duration::from_millis(5),
        save_patience: Duration::from_millis(20),
        ..fast()
    };
    let executor = statemachine::Executor::new(
        common::deploy_test(),
        invoker.clone(),
        store.clone(),
        options,
    );

    // WHEN it runs
    executor.start("exec-1", input()).await.unwrap();
    let record = finished(&executor, "exec-1").await;

    // THEN it still ends, Finalize ran once, and no transition was lost
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
    assert_eq!(
        invoker.resources(),
        [
            "download", "trigger", "poll", "finalize", "notify", "announce"
        ]
    );
    let ids: Vec<u64> = record.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=record.event_count).collect::<Vec<_>>());
    assert!(store.saves.load(std::sync::atomic::Ordering::SeqCst) > 41);
}

#[tokio::test]
async fn a_stop_while_the_store_is_down_returns_promptly_and_the_abort_lands_later() {
    // GIVEN an execution whose first transition cannot be saved: the store is down from
    // the second save on, and the driver keeps retrying (the old stop waited for it,
    // holding cancel and the sweeper for the whole outage)
    let store = Arc::new(FlakyStore {
        inner: MemoryExecutionStore::new(),
        saves: Default::default(),
        from: 2,
        until: usize::MAX,
        back: Default::default(),
    });
    let invoker = ScriptedInvoker::new(&[
        ("download", ok(json!({"package_url": "u"}))),
        ("trigger", triggered("t-1", 1)),
    ]);
    let options = ExecutorOptions {
        save_backoff: Duration::from_millis(20),
        save_backoff_max: Duration::from_millis(20),
        ..fast()
    };
    let executor = Arc::new(statemachine::Executor::new(
        common::deploy_test(),
        invoker.clone(),
        store.clone(),
        options,
    ));
    executor.start("exec-1", input()).await.unwrap();
    let saved = store.inner.load_execution("exec-1").await.unwrap().unwrap();
    while store.saves.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // WHEN it is stopped while the store is still down
    let stopped = tokio::time::timeout(
        Duration::from_secs(2),
        executor.stop("exec-1", None, Some("operator".into())),
    )
    .await
    .expect("stop returns while the store is down");

    // THEN the stop reports the store's failure, and nothing further runs (the
    // unsaved first transition would have scheduled Download)
    assert!(
        matches!(stopped, Err(ExecutorError::Store(_))),
        "{stopped:?}"
    );
    assert!(invoker.resources().is_empty());
    let still = store.inner.load_execution("exec-1").await.unwrap().unwrap();
    assert_eq!(still.status, ExecutionStatus::Running);

    // AND once the store is back the execution is ABORTED, continuing from the last
    // saved record: consecutive ids, the unsaved transition never happened
    store.back.store(true, std::sync::atomic::Ordering::SeqCst);
    let record = tokio::time::timeout(
        Duration::from_secs(5),
        executor.wait_finished("exec-1", Duration::from_secs(5)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(record.status, ExecutionStatus::Aborted, "{record:#?}");
    let ids: Vec<u64> = record.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=record.event_count).collect::<Vec<_>>());
    assert_eq!(record.event_count, saved.event_count + 1);
    assert_eq!(record.events.last().unwrap().r#type, "ExecutionAborted");
    assert!(record.events.iter().all(|e| e.r#type != "TaskScheduled"));
    assert!(invoker.resources().is_empty());

    // AND a second stop changes nothing
    let again = executor.stop("exec-1", None, None).await.unwrap();
    assert_eq!(again.status, ExecutionStatus::Aborted);
    assert_eq!(again.event_count, record.event_count);
}
