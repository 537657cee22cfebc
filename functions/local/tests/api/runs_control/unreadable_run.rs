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

    // AND a trigger on its lane answers as on any busy lane, not with a 500: without
    // queueing 409 naming the lock's run, else queued behind the waiting run
    let ops = e.app.user_token("ops@example.com").await;
    let trigger = |body: Value| {
        e.app
            .client
            .post(
                e.app
                    .url(&format!("/api/v1/test-items/{}/deploy-test", e.item_id)),
            )
            .bearer_auth(&ops)
            .json(&body)
            .send()
    };
    let refused = trigger(json!({"build_info_id": e.build_id, "queue": false}))
        .await
        .unwrap();
    let body = common::assert_error(refused, StatusCode::CONFLICT, "run_active").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("run {id} is active")),
        "{message}"
    );
    let queued = trigger(json!({"build_info_id": e.build_id})).await.unwrap();
    assert_eq!(queued.status(), StatusCode::ACCEPTED);
    let queued: Value = queued.json().await.unwrap();
    assert_eq!(
        (queued["status"].as_str(), queued["queue_position"].as_i64()),
        (Some("QUEUED"), Some(2))
    );
    // AND the queue view still answers, with both waiting runs
    let view = e
        .app
        .client
        .get(e.app.url("/api/v1/queue"))
        .bearer_auth(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), StatusCode::OK);
    let view: Value = view.json().await.unwrap();
    assert_eq!(
        view["lanes"][0]["queued"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );

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
