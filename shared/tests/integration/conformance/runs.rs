//! Conformance checks for run records (the lanes' locks and queues: `lanes.rs`).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use shared::domain::{
    Build, Email, JobName, ParameterSet, Params, Run, RunId, RunLock, RunStatus, ServiceName,
    StepName, TestItem,
};
use shared::ports::{Admission, Store, StoreError};

use super::{new_build, t0};

pub fn run(id: i64, item_id: i64) -> Run {
    let item = TestItem {
        id: item_id,
        name: ServiceName::parse("name", "cds").unwrap(),
        job_name: JobName::parse("job_name", "CDN_CORE").unwrap(),
        parameter_set_id: None,
        environment_id: None,
        description: String::new(),
        enabled: true,
        notify_emails: vec![Email::parse("e", "qa@example.com").unwrap()],
        trigger_on_new_build: false,
        created_at: t0(),
        updated_at: t0(),
    };
    let build = Build::new(3, &new_build("CDN_CORE", 101), t0());
    let set = ParameterSet {
        id: 2,
        name: "base".into(),
        description: String::new(),
        params: Params::parse(
            "params",
            &json!({"upgrade_type": "full", "nested": {"a": [1, 2]}}),
        )
        .unwrap(),
        is_default: true,
        version: 4,
        created_at: t0(),
        updated_at: t0(),
        updated_by: None,
    };
    // Each run by its own person: runs of one item and build by one person are duplicates,
    // which only `identical_triggers_admit_one_run_until_it_ends` makes on purpose.
    let by = Email::parse("by", &format!("dev{id}@example.com")).unwrap();
    Run::new(RunId::from_stored(id), &item, &build, &set, &by, t0())
}

pub fn lease() -> DateTime<Utc> {
    t0() + TimeDelta::hours(4)
}

/// Stores `run` holding its lane (never queued): `Err(holder)` when the lane is busy.
pub async fn start(
    store: &Arc<dyn Store>,
    run: &Run,
    lease_until: DateTime<Utc>,
) -> Result<(), Option<RunLock>> {
    match store.admit_run(run, false, lease_until).await.unwrap() {
        Admission::Started => Ok(()),
        Admission::Busy { lock, .. } => Err(lock),
        other => panic!("a start without queueing was {other:?}"),
    }
}

pub async fn runs_round_trip_and_update_by_revision(store: Arc<dyn Store>) {
    let r = run(7, 1);
    store.admit_run(&r, false, lease()).await.unwrap();
    let got = store.get_run(7).await.unwrap().unwrap();
    assert_eq!(got, r);
    assert_eq!(got.params["nested"], json!({"a": [1, 2]}));

    let mut next = got.clone();
    next.begin_step(StepName::Download, RunStatus::Downloading, t0());
    next.revision += 1;
    store.update_run(&next).await.unwrap();
    assert_eq!(store.get_run(7).await.unwrap().unwrap(), next);
    // A writer that read the old revision loses.
    let mut stale = got.clone();
    stale.revision += 1;
    stale.status = RunStatus::Failed;
    assert!(matches!(
        store.update_run(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_run(7).await.unwrap().unwrap().status,
        RunStatus::Downloading
    );
    let mut missing = run(99, 1);
    missing.revision = 2;
    assert!(matches!(
        store.update_run(&missing).await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn runs_list_by_status_and_item(store: Arc<dyn Store>) {
    for id in 1..=6 {
        let mut r = run(id, if id % 2 == 0 { 20 } else { 10 });
        store.admit_run(&r, false, lease()).await.unwrap();
        if id <= 4 {
            r.finish(None, t0());
            r.revision += 1;
            store.update_run(&r).await.unwrap();
        }
        store
            .release_run_lock(&Default::default(), id)
            .await
            .unwrap();
    }
    let ids =
        |p: &shared::ports::Page<Run, i64>| p.items.iter().map(|r| r.id.get()).collect::<Vec<_>>();
    let all = store.list_runs(None, None, 200).await.unwrap();
    assert_eq!(ids(&all), [6, 5, 4, 3, 2, 1]);
    let done = store
        .list_runs(Some(RunStatus::Completed), None, 3)
        .await
        .unwrap();
    assert_eq!(ids(&done), [4, 3, 2]);
    let rest = store
        .list_runs(Some(RunStatus::Completed), done.next, 3)
        .await
        .unwrap();
    assert_eq!(ids(&rest), [1]);
    assert_eq!(rest.next, None);
    let pending = store
        .list_runs(Some(RunStatus::Pending), None, 20)
        .await
        .unwrap();
    assert_eq!(ids(&pending), [6, 5]);
    let item = store.list_runs_of_item(20, None, 2).await.unwrap();
    assert_eq!(ids(&item), [6, 4]);
    assert_eq!(
        ids(&store.list_runs_of_item(20, item.next, 2).await.unwrap()),
        [2]
    );
    assert!(
        store
            .list_runs_of_item(30, None, 2)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

fn execution(id: &str, status: &str) -> statemachine::ExecutionRecord {
    serde_json::from_value(json!({
        "execution_id": id, "status": status, "current_state": "Poll", "input": {"run_id": 1, "failure": null},
        "output": null, "error": null, "cause": null, "started_at": "2026-11-25T10:00:00Z", "stopped_at": null,
        "event_count": 1
    }))
    .unwrap()
}

fn event(id: u64) -> statemachine::HistoryEvent {
    serde_json::from_value(json!({
        "id": id, "type": if id == 1 { "ExecutionStarted" } else { "PassStateEntered" },
        "state": if id == 1 { None } else { Some(format!("S{id}")) },
        "timestamp": "2026-11-25T10:00:00Z", "input": {"run_id": 1, "n": id}
    }))
    .unwrap()
}

/// Reads the whole history `limit` events at a time, in the given order.
async fn read_all(store: &Arc<dyn Store>, id: &str, limit: usize, newest_first: bool) -> Vec<u64> {
    let count = store
        .load_execution(id)
        .await
        .unwrap()
        .map_or(0, |r| r.event_count);
    let mut page = statemachine::HistoryPage {
        after: None,
        limit,
        newest_first,
    };
    let mut ids = Vec::new();
    loop {
        let events = store.load_history(id, page).await.unwrap();
        assert!(events.len() <= limit);
        let next = page.next_after(events.last().map(|e| e.id), count);
        ids.extend(events.iter().map(|e| e.id));
        match next {
            Some(after) => page.after = Some(after),
            None => return ids,
        }
    }
}

pub async fn execution_history_is_appended_and_read_page_by_page(store: Arc<dyn Store>) {
    // GIVEN an execution saved 60 times, each save adding 5 events
    let mut record = execution("run-h", "RUNNING");
    record.event_count = 0;
    for save in 0..60u64 {
        let events: Vec<_> = (1..=5).map(|i| event(save * 5 + i)).collect();
        record.event_count = save * 5 + 5;
        store.save_execution(&record, &events).await.unwrap();
    }
    // THEN the record comes back without its history, counting it
    let loaded = store.load_execution("run-h").await.unwrap().unwrap();
    assert_eq!(loaded.event_count, 300);
    assert!(loaded.events.is_empty());
    assert!(serde_json::to_string(&loaded).unwrap().len() < 1000);
    // AND pages read every event once, in order, either way round
    assert_eq!(
        read_all(&store, "run-h", 7, false).await,
        (1..=300).collect::<Vec<_>>()
    );
    assert_eq!(
        read_all(&store, "run-h", 100, true).await,
        (1..=300).rev().collect::<Vec<_>>()
    );
    let page = store
        .load_history(
            "run-h",
            statemachine::HistoryPage {
                after: Some(298),
                limit: 10,
                newest_first: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(page, vec![event(299), event(300)]);
    // AND a retried save (same events again) changes nothing; events past the record's
    // count (a save that did not land) are not shown
    store.save_execution(&record, &[event(300)]).await.unwrap();
    let mut behind = record.clone();
    behind.event_count = 299;
    store.save_execution(&behind, &[]).await.unwrap();
    assert_eq!(
        read_all(&store, "run-h", 1000, false).await,
        (1..=299).collect::<Vec<_>>()
    );
    assert!(
        store
            .load_history("nope", statemachine::HistoryPage::first(5))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn execution_records_round_trip_and_running_ones_are_listed(store: Arc<dyn Store>) {
    assert_eq!(store.load_execution("run-1").await.unwrap(), None);
    store
        .save_execution(&execution("run-1", "RUNNING"), &[event(1)])
        .await
        .unwrap();
    store
        .save_execution(&execution("run-2", "RUNNING"), &[event(1)])
        .await
        .unwrap();
    store
        .save_execution(&execution("run-3", "SUCCEEDED"), &[event(1)])
        .await
        .unwrap();
    assert_eq!(
        store.load_execution("run-1").await.unwrap().unwrap(),
        execution("run-1", "RUNNING")
    );
    let running: Vec<String> = store
        .list_running_executions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.execution_id)
        .collect();
    assert_eq!(running, ["run-1", "run-2"]);
    // Finishing one takes it off the running list; saving replaces the record.
    store
        .save_execution(&execution("run-1", "FAILED"), &[])
        .await
        .unwrap();
    let running: Vec<String> = store
        .list_running_executions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.execution_id)
        .collect();
    assert_eq!(running, ["run-2"]);
    assert_eq!(
        store
            .load_execution("run-1")
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "FAILED"
    );
}
