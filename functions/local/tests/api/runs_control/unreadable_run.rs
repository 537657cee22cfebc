//! Finalize of a run whose record cannot be read (issue 13 review): the lane is released
//! by the run's id, so the record cannot hold its lane forever, and the queue moves on.

use super::*;
use chrono::TimeDelta;
use shared::clock::Clock;
use shared::domain::{Run, RunId, RunStatus};
use shared::ports::{Admission, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finalize_frees_the_lane_of_a_run_whose_record_cannot_be_read() {
    let e = env().await;
    let store = &e.app.state.store;
    let item = store.get_test_item(e.item_id).await.unwrap().unwrap();
    let build = store.get_build(e.build_id).await.unwrap().unwrap();
    let set = store.get_parameter_set(e.set_id).await.unwrap().unwrap();
    let now = e.app.clock.now();
    let lease = now + TimeDelta::hours(3);
    let new_run = |id: i64, by: &str| {
        let by = Email::parse("by", by).unwrap();
        let mut run = Run::new(RunId::from_stored(id), &item, &build, &set, &by, now);
        run.status = RunStatus::Monitoring;
        run
    };
    let id = store.next_id("runs").await.unwrap();
    let active = new_run(id, "dev@example.com");
    assert_eq!(
        store.admit_run(&active, false, lease).await.unwrap(),
        Admission::Started
    );
    let waiting = store.next_id("runs").await.unwrap();
    assert_eq!(
        store
            .admit_run(&new_run(waiting, "qa@example.com"), true, lease)
            .await
            .unwrap(),
        Admission::Queued { position: 1 }
    );
    // GIVEN the active run's record no longer reads (a hand edit, a bug)
    super::stale_runs::sqlite(
        &e.app,
        &format!("UPDATE runs SET json = '{{\"id\": {id}}}' WHERE id = {id};"),
    );
    assert!(matches!(
        store.get_run(id).await,
        Err(StoreError::Corrupt(_))
    ));
    let deps = e.app.state.clone();
    let input = |finalize_error: Option<Value>| finalize::FinalizeInput {
        run_id: id,
        failure: None,
        finalize_error,
    };

    // WHEN its Finalize runs THEN it errs (the run cannot be finished), but the lane is
    // released and the queued run holds it now
    let err = finalize::handle(&deps, input(None)).await.unwrap_err();
    assert!(!err.message.is_empty(), "{err:?}");
    let holder = || async {
        store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .map(|l| l.run_id)
    };
    assert_eq!(holder().await, Some(waiting), "the queue moved on");

    // AND the last resort (the ASL's ReleaseLock) errs the same and leaves the new holder
    let finalize_error = json!({"Error": "States.TaskFailed", "Cause": err.message});
    finalize::handle(&deps, input(Some(finalize_error)))
        .await
        .unwrap_err();
    assert_eq!(holder().await, Some(waiting));
}
