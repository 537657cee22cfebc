//! Trigger, cancel, re-run and the sweeper: one run at a time, with its snapshot.

use std::sync::LazyLock;
use std::sync::atomic::Ordering;

use chrono::TimeDelta;
use serde_json::json;

use super::{Fixture, email, item_id, refusal};
use crate::clock::Clock;
use crate::domain::{
    BuildId, Email, NotificationStatus, RunId, RunStatus, StepName, StepStatus, TestItemId,
};
use crate::services::runs::{self, TriggerInput};
use crate::services::test_items;
use crate::tasks::RunRef;

static USER: LazyLock<Email> = LazyLock::new(|| email("user@example.com"));
static OTHER: LazyLock<Email> = LazyLock::new(|| email("other@example.com"));

fn selected() -> TriggerInput {
    TriggerInput::default()
}

/// The selected build, refused with 409 instead of queued when the lane is busy.
fn fail_fast() -> TriggerInput {
    TriggerInput {
        queue: Some(false),
        ..TriggerInput::default()
    }
}

#[tokio::test]
async fn trigger_starts_a_pending_run_of_the_selected_build_holding_the_lock() {
    let f = Fixture::new();
    let (item, build) = f.ready_item().await;

    let run = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();

    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.test_item_id, item.id);
    assert_eq!(run.build_info_id, build.id);
    assert_eq!(run.triggered_by, *USER);
    assert_eq!(run.params["service_name"], "cds");
    let stored = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Pending);
    let lock = f
        .state
        .store
        .get_run_lock(&Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, run.id.get());
    let started = f.workflow.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].0, run.execution_id);
    assert_eq!(started[0].1, json!({"run_id": run.id, "failure": null}));
}

#[tokio::test]
async fn trigger_with_a_build_id_tests_that_build() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let older = f.build("CDN_CORE", 99).await;

    let input = TriggerInput {
        build_info_id: Some(BuildId::from_stored(older.id)),
        queue: None,
    };
    let run = runs::trigger(&f.state, &USER, item_id(&item), input)
        .await
        .unwrap();

    assert_eq!(run.build_info_id, older.id);
}

#[tokio::test]
async fn a_second_trigger_without_queueing_is_refused_naming_the_active_run() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();

    let second = runs::trigger(&f.state, &OTHER, item_id(&item), fail_fast()).await;

    let refused = refusal(second);
    assert_eq!(refused.status.as_u16(), 409);
    assert_eq!(refused.code, "run_active");
    assert_eq!(
        refused.details.unwrap()["active_run"]["id"],
        json!(first.id)
    );
    assert_eq!(
        f.workflow.started_ids(),
        std::slice::from_ref(&first.execution_id)
    );
}

#[tokio::test]
async fn trigger_refuses_what_cannot_run() {
    let f = Fixture::new();
    // Nothing yet: no item.
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, TestItemId::from_stored(999), selected()).await)
            .code,
        "not_found"
    );

    let item = f.test_item("cds", "CDN_CORE").await;
    // The job has no selected build and none is named.
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, item_id(&item), selected()).await).code,
        "no_selected_build"
    );
    let unknown_build = TriggerInput {
        build_info_id: Some(BuildId::from_stored(999)),
        queue: None,
    };
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, item_id(&item), unknown_build).await).code,
        "build_not_found"
    );
    let other_job = f.build("OTHER_JOB", 5).await;
    let wrong_job = TriggerInput {
        build_info_id: Some(BuildId::from_stored(other_job.id)),
        queue: None,
    };
    let refused = refusal(runs::trigger(&f.state, &USER, item_id(&item), wrong_job).await);
    assert_eq!(
        (refused.status.as_u16(), refused.code.as_str()),
        (422, "build_not_in_job")
    );

    let build = f.build("CDN_CORE", 101).await;
    let this_build = || TriggerInput {
        build_info_id: Some(BuildId::from_stored(build.id)),
        queue: None,
    };
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, item_id(&item), this_build()).await).code,
        "no_parameter_set"
    );
    f.parameter_set("defaults").await;
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, item_id(&item), this_build()).await).code,
        "settings_incomplete"
    );
    f.complete_settings().await;
    let mut disabled = Fixture::item_input("cds", "CDN_CORE");
    disabled.enabled = false;
    test_items::update(&f.state, item_id(&item), disabled)
        .await
        .unwrap();
    assert_eq!(
        refusal(runs::trigger(&f.state, &USER, item_id(&item), this_build()).await).code,
        "test_item_disabled"
    );
    // None of the refusals left a run, a lock or an execution behind.
    assert!(
        f.state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none()
    );
    assert!(f.workflow.started_ids().is_empty());
}

#[tokio::test]
async fn a_run_whose_execution_cannot_start_is_failed_and_frees_the_lock() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    f.workflow.refuse_starts.store(true, Ordering::SeqCst);

    let refused = refusal(runs::trigger(&f.state, &USER, item_id(&item), selected()).await);
    assert_eq!(refused.status.as_u16(), 500);

    let failed = f.state.store.list_runs(None, None, 10).await.unwrap().items;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, RunStatus::Failed);
    // The lock is free: the next trigger runs.
    f.workflow.refuse_starts.store(false, Ordering::SeqCst);
    runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lock_left_by_an_ended_run_is_released_by_the_next_trigger() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    // It ended, but its finalize never released the lock.
    let mut ended = f
        .state
        .store
        .get_run(first.id.get())
        .await
        .unwrap()
        .unwrap();
    ended.finish(None, f.clock.now());
    ended.revision += 1;
    f.state.store.update_run(&ended).await.unwrap();

    let next = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();

    let lock = f
        .state
        .store
        .get_run_lock(&Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, next.id.get());
}

#[tokio::test]
async fn a_live_run_past_its_lease_still_blocks_a_trigger() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    f.clock.advance(TimeDelta::days(2));

    let refused = refusal(runs::trigger(&f.state, &USER, item_id(&item), fail_fast()).await);
    assert_eq!(refused.code, "run_active");
    // Queueing waits behind it: it never starts beside the live run.
    let queued = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    assert_eq!(
        (queued.status, queued.queue_position),
        (RunStatus::Queued, Some(1))
    );
    assert_eq!(f.workflow.started_ids().len(), 1);
}

#[tokio::test]
async fn the_trigger_or_an_admin_cancels_once_and_the_execution_stops() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let run = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();

    let not_theirs = refusal(runs::cancel(&f.state, &OTHER, false, run.id).await);
    assert_eq!(
        (not_theirs.status.as_u16(), not_theirs.code.as_str()),
        (403, "not_your_run")
    );
    assert_eq!(
        refusal(runs::cancel(&f.state, &USER, false, RunId::from_stored(999)).await).code,
        "not_found"
    );

    let cancelled = runs::cancel(&f.state, &OTHER, true, run.id).await.unwrap();

    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(
        f.state
            .store
            .get_run(run.id.get())
            .await
            .unwrap()
            .unwrap()
            .status,
        RunStatus::Cancelled
    );
    assert_eq!(
        f.workflow.stopped_ids(),
        std::slice::from_ref(&run.execution_id)
    );
    assert!(
        f.state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none()
    );
    let again = refusal(runs::cancel(&f.state, &USER, false, run.id).await);
    assert_eq!(
        (again.status.as_u16(), again.code.as_str()),
        (409, "run_ended")
    );
}

#[tokio::test]
async fn a_rerun_repeats_the_build_and_parameter_snapshot_under_the_new_user() {
    let f = Fixture::new();
    let (item, build) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    // One at a time applies to re-runs too: it waits in the queue (cancelled here).
    let waiting = runs::rerun(&f.state, &OTHER, first.id).await.unwrap();
    assert_eq!(
        (waiting.status, waiting.queue_position),
        (RunStatus::Queued, Some(1))
    );
    runs::cancel(&f.state, &OTHER, false, waiting.id)
        .await
        .unwrap();
    runs::cancel(&f.state, &USER, false, first.id)
        .await
        .unwrap();
    // A newer selection does not change what a re-run tests.
    f.build("CDN_CORE", 102).await;

    let again = runs::rerun(&f.state, &OTHER, first.id).await.unwrap();

    assert_ne!(again.id, first.id);
    assert_ne!(again.execution_id, first.execution_id);
    assert_eq!(again.status, RunStatus::Pending);
    assert_eq!(again.triggered_by, *OTHER);
    assert_eq!(again.build_info_id, build.id);
    assert_eq!(again.parameter_set_id, first.parameter_set_id);
    assert_eq!(again.parameter_set_version, first.parameter_set_version);
    assert_eq!(again.params, first.params);
    assert_eq!(
        f.workflow.started_ids(),
        [first.execution_id.clone(), again.execution_id.clone()]
    );
    assert_eq!(
        refusal(runs::rerun(&f.state, &OTHER, RunId::from_stored(999)).await).code,
        "not_found"
    );
}

#[tokio::test]
async fn a_rerun_follows_the_trigger_rules_of_today() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    runs::cancel(&f.state, &USER, false, first.id)
        .await
        .unwrap();
    let mut disabled = Fixture::item_input("cds", "CDN_CORE");
    disabled.enabled = false;
    test_items::update(&f.state, item_id(&item), disabled)
        .await
        .unwrap();

    let refused = refusal(runs::rerun(&f.state, &USER, first.id).await);

    assert_eq!(refused.code, "test_item_disabled");
}

#[tokio::test]
async fn the_sweeper_fails_only_runs_past_their_lease() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let run = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    assert!(runs::sweep_stale(&f.state).await.unwrap().is_empty());

    f.clock.advance(TimeDelta::days(2));
    let failed = runs::sweep_stale(&f.state).await.unwrap();

    assert_eq!(failed.iter().map(|r| r.id).collect::<Vec<_>>(), [run.id]);
    let stored = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Failed);
    assert_eq!(stored.error_message.as_deref(), Some(runs::SWEEPER_MESSAGE));
    assert_eq!(
        f.workflow.stopped_ids(),
        std::slice::from_ref(&run.execution_id)
    );
    assert!(
        f.state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none()
    );
    // Nothing is live any more: a second sweep does nothing.
    assert!(runs::sweep_stale(&f.state).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_result_mail_is_recorded_skipped_when_no_mail_server_is_configured() {
    // GIVEN a run that ended, on a host without a mail server
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let run = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    let mut ended = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    ended.finish(None, f.clock.now());
    ended.revision += 1;
    f.state.store.update_run(&ended).await.unwrap();
    let mut without_mail = f.state.clone();
    without_mail.mailer = None;

    // WHEN the notify task runs
    let out = crate::mail::handle(
        &without_mail,
        RunRef {
            run_id: run.id.get(),
        },
    )
    .await
    .unwrap();

    // THEN the run says why no mail went out, and the step is skipped
    assert_eq!(out.status, NotificationStatus::Skipped);
    let stored = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    let notification = stored.notification.clone().unwrap();
    assert_eq!(
        (
            notification.status,
            notification.error.as_deref(),
            notification.attempts
        ),
        (
            NotificationStatus::Skipped,
            Some("no mail server is configured (EMAIL_SEND_SERVER)"),
            0
        )
    );
    let step = stored.step(StepName::Notify).unwrap();
    assert_eq!(
        (step.status, step.error.as_deref()),
        (
            StepStatus::Skipped,
            Some("no mail server is configured (EMAIL_SEND_SERVER)")
        )
    );
}

#[tokio::test]
async fn a_run_change_that_changes_nothing_writes_nothing() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let run = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap()
        .run;

    let same = crate::tasks::update_run(&f.state, run.id.get(), |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(same, run);
    let stored = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    assert_eq!(stored.revision, run.revision, "no write, no new revision");

    let changed = crate::tasks::update_run(&f.state, run.id.get(), |r| {
        r.report_url = Some("http://127.0.0.1/report/".into());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(changed.revision, run.revision + 1);
    let stored = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
    assert_eq!(stored, changed);
}
