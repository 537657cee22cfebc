//! Lanes and the queue at the service level: a busy lane queues, the queue moves when the
//! active run ends (cancel, force-release, the sweeper's safety net), FIFO.

use std::sync::LazyLock;

use chrono::TimeDelta;

use super::{Fixture, email, item_id, refusal};
use crate::clock::Clock;
use crate::domain::{Email, LaneId, RunStatus};
use crate::services::lane_admin::{self, ReleaseInput};
use crate::services::runs::{self, TriggerInput};

static USER: LazyLock<Email> = LazyLock::new(|| email("user@example.com"));
static OTHER: LazyLock<Email> = LazyLock::new(|| email("other@example.com"));
static THIRD: LazyLock<Email> = LazyLock::new(|| email("third@example.com"));

fn selected() -> TriggerInput {
    TriggerInput::default()
}

#[tokio::test]
async fn a_trigger_on_a_busy_lane_is_queued_with_its_place_and_never_started() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.queue_position),
        (RunStatus::Pending, None)
    );

    let second = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    let third = runs::trigger(&f.state, &THIRD, item_id(&item), selected())
        .await
        .unwrap();

    assert_eq!(
        (second.status, second.queue_position),
        (RunStatus::Queued, Some(1))
    );
    assert_eq!(third.queue_position, Some(2));
    assert_eq!(
        second.estimated_start_at, None,
        "no completed run to estimate from"
    );
    assert_eq!(second.lane, LaneId::default());
    assert_eq!(
        f.workflow.started_ids(),
        std::slice::from_ref(&first.execution_id)
    );
    let view = lane_admin::queue_view(&f.state).await.unwrap();
    assert_eq!(view.lanes.len(), 1);
    assert_eq!(view.lanes[0].active_run.as_ref().unwrap().id, first.id);
    let queued: Vec<_> = view.lanes[0]
        .queued
        .iter()
        .map(|q| (q.id, q.queue_position))
        .collect();
    assert_eq!(queued, [(second.id, Some(1)), (third.id, Some(2))]);
}

#[tokio::test]
async fn the_same_person_queueing_the_same_build_twice_is_refused_naming_the_run() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let active = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    let again = refusal(runs::trigger(&f.state, &USER, item_id(&item), selected()).await);
    assert_eq!(
        (again.status.as_u16(), again.code.as_str()),
        (409, "run_duplicate")
    );
    assert_eq!(again.details.unwrap()["run"]["id"], active.id.get());

    let queued = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    let twice = refusal(runs::trigger(&f.state, &OTHER, item_id(&item), selected()).await);
    assert_eq!(twice.code, "run_duplicate");
    assert_eq!(twice.details.unwrap()["run"]["id"], queued.id.get());
    // Another build of the same item by the same person is not a duplicate.
    let other_build = f.build("CDN_CORE", 102).await;
    let input = TriggerInput {
        build_info_id: Some(crate::domain::BuildId::from_stored(other_build.id)),
        queue: None,
    };
    let third = runs::trigger(&f.state, &OTHER, item_id(&item), input)
        .await
        .unwrap();
    assert_eq!(third.queue_position, Some(2));
}

#[tokio::test]
async fn a_cancelled_queued_run_never_starts_and_the_queue_closes_up() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    let second = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    let third = runs::trigger(&f.state, &THIRD, item_id(&item), selected())
        .await
        .unwrap();

    let not_theirs = refusal(runs::cancel(&f.state, &THIRD, false, second.id).await);
    assert_eq!(not_theirs.code, "not_your_run");
    let cancelled = runs::cancel(&f.state, &OTHER, false, second.id)
        .await
        .unwrap();

    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(
        f.workflow.stopped_ids().is_empty(),
        "it had no execution to stop"
    );
    // WHEN the active run ends THEN the third starts, the cancelled one never does.
    runs::cancel(&f.state, &USER, false, first.id)
        .await
        .unwrap();
    assert_eq!(
        f.workflow.started_ids(),
        [first.execution_id.clone(), third.execution_id.clone()]
    );
    let stored = f
        .state
        .store
        .get_run(second.id.get())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, RunStatus::Cancelled);
    let lock = f
        .state
        .store
        .get_run_lock(&LaneId::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, third.id.get());
    let started = f
        .state
        .store
        .get_run(third.id.get())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.status, RunStatus::Pending);
    assert_eq!(started.queued_at, Some(third.started_at));
}

#[tokio::test]
async fn the_queue_moves_in_order_and_the_estimate_uses_the_median_of_completed_runs() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    // GIVEN three completed runs that took 10, 30 and 20 minutes
    for (who, minutes) in [(&*USER, 10), (&*OTHER, 30), (&*THIRD, 20)] {
        let run = runs::trigger(&f.state, who, item_id(&item), selected())
            .await
            .unwrap();
        f.clock.advance(TimeDelta::minutes(minutes));
        let mut done = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
        done.finish(None, f.clock.now());
        done.revision += 1;
        f.state.store.update_run(&done).await.unwrap();
        f.state
            .store
            .release_run_lock(&done.lane, done.id.get())
            .await
            .unwrap();
    }
    let active = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    f.clock.advance(TimeDelta::minutes(5));
    let first_waiting = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    let second_waiting = runs::trigger(&f.state, &THIRD, item_id(&item), selected())
        .await
        .unwrap();
    // THEN the estimate is the active run's start plus one median (20 min) per place
    assert_eq!(
        first_waiting.estimated_start_at,
        Some(active.started_at + TimeDelta::minutes(20))
    );
    assert_eq!(
        second_waiting.estimated_start_at,
        Some(active.started_at + TimeDelta::minutes(40))
    );
    // WHEN the active one is cancelled THEN the first waiting starts, then the second
    runs::cancel(&f.state, &USER, false, active.id)
        .await
        .unwrap();
    let lock = f
        .state
        .store
        .get_run_lock(&LaneId::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, first_waiting.id.get());
    runs::cancel(&f.state, &OTHER, false, first_waiting.id)
        .await
        .unwrap();
    let lock = f
        .state
        .store
        .get_run_lock(&LaneId::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, second_waiting.id.get());
}

/// `GET /queue` reads each lane's history once (issue 13 review) and still answers what a
/// trigger answers: every queued run's place, and the active run's start plus one median
/// per place.
#[tokio::test]
async fn the_queue_view_gives_each_queued_run_its_place_and_estimate() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    for (who, minutes) in [(&*USER, 10), (&*OTHER, 30), (&*THIRD, 20)] {
        let run = runs::trigger(&f.state, who, item_id(&item), selected())
            .await
            .unwrap();
        f.clock.advance(TimeDelta::minutes(minutes));
        let mut done = f.state.store.get_run(run.id.get()).await.unwrap().unwrap();
        done.finish(None, f.clock.now());
        done.revision += 1;
        f.state.store.update_run(&done).await.unwrap();
        f.state
            .store
            .release_run_lock(&done.lane, done.id.get())
            .await
            .unwrap();
    }
    let active = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    f.clock.advance(TimeDelta::minutes(5));
    let mut waiting = Vec::new();
    for who in [&*OTHER, &*THIRD, &email("fourth@example.com")] {
        let run = runs::trigger(&f.state, who, item_id(&item), selected())
            .await
            .unwrap();
        waiting.push((run.id, run.queue_position, run.estimated_start_at));
    }

    let view = lane_admin::queue_view(&f.state).await.unwrap();
    let lane = &view.lanes[0];
    assert_eq!(lane.active_run.as_ref().map(|r| r.id), Some(active.id));
    let shown: Vec<_> = lane
        .queued
        .iter()
        .map(|q| (q.run.id, q.queue_position, q.estimated_start_at))
        .collect();
    assert_eq!(shown, waiting, "as each trigger answered");
    let expected: Vec<_> = (1..=3)
        .map(|place| {
            (
                Some(place),
                Some(active.started_at + TimeDelta::minutes(20 * place as i64)),
            )
        })
        .collect();
    let got: Vec<_> = shown.iter().map(|s| (s.1, s.2)).collect();
    assert_eq!(got, expected);
    for (place, q) in lane.queued.iter().enumerate() {
        assert_eq!(
            q.estimated_start_at,
            crate::services::lanes::estimate_start(&f.state, &lane.id, place + 1)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn an_admin_force_release_fails_the_stuck_run_and_starts_the_next() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let stuck = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    let next = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    let admin = email("admin@example.com");
    let lane = LaneId::default();
    let blank = ReleaseInput {
        reason: "  ".into(),
    };
    let refused = refusal(lane_admin::force_release(&f.state, &admin, &lane, blank).await);
    assert_eq!(refused.field.as_deref(), Some("reason"));

    let reason = ReleaseInput {
        reason: "test server rebooted".into(),
    };
    let released = lane_admin::force_release(&f.state, &admin, &lane, reason)
        .await
        .unwrap();

    assert_eq!(released.id, stuck.id);
    assert_eq!(released.status, RunStatus::Failed);
    assert_eq!(
        released.error_message.as_deref(),
        Some("released by admin@example.com: test server rebooted")
    );
    assert!(
        released.notification.is_some(),
        "the failure mail was handled"
    );
    assert_eq!(
        f.workflow.stopped_ids(),
        std::slice::from_ref(&stuck.execution_id)
    );
    assert_eq!(
        f.workflow.started_ids(),
        [stuck.execution_id.clone(), next.execution_id.clone()]
    );
    let lock = f.state.store.get_run_lock(&lane).await.unwrap().unwrap();
    assert_eq!(lock.run_id, next.id.get());
    // A lane without an active run has nothing to release.
    let other_lane = LaneId::parse("id", "7").unwrap();
    let reason = ReleaseInput {
        reason: "why not".into(),
    };
    let free = refusal(lane_admin::force_release(&f.state, &admin, &other_lane, reason).await);
    assert_eq!(
        (free.status.as_u16(), free.code.as_str()),
        (409, "lane_free")
    );
}

#[tokio::test]
async fn the_sweeper_starts_the_head_of_a_lane_left_free() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let first = runs::trigger(&f.state, &USER, item_id(&item), selected())
        .await
        .unwrap();
    let waiting = runs::trigger(&f.state, &OTHER, item_id(&item), selected())
        .await
        .unwrap();
    // GIVEN the active run ended and freed the lane, but nothing started the next (a crash
    // between the two)
    let mut done = f
        .state
        .store
        .get_run(first.id.get())
        .await
        .unwrap()
        .unwrap();
    done.finish(None, f.clock.now());
    done.revision += 1;
    f.state.store.update_run(&done).await.unwrap();
    f.state
        .store
        .release_run_lock(&done.lane, done.id.get())
        .await
        .unwrap();
    // A waiting run is not stale however long it waits.
    f.clock.advance(TimeDelta::days(3));

    let failed = runs::sweep_stale(&f.state).await.unwrap();

    assert!(failed.is_empty());
    let started = f
        .state
        .store
        .get_run(waiting.id.get())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started.status, RunStatus::Pending);
    assert_eq!(started.started_at, f.clock.now());
    assert_eq!(
        f.workflow.started_ids(),
        [first.execution_id.clone(), waiting.execution_id.clone()]
    );
}

#[tokio::test]
async fn a_new_build_starts_each_item_that_asks_once_and_a_repeat_starts_none() {
    use crate::services::{builds, new_build, test_items};
    let f = Fixture::new();
    let (_, _) = f.ready_item().await; // cds on CDN_CORE, not asking
    let mut input = Fixture::item_input("sds", "CDN_CORE");
    input.trigger_on_new_build = true;
    let asking = test_items::create(&f.state, input).await.unwrap();
    let body = serde_json::json!({"BUILD_USER": "dev@example.com", "JOB_NAME": "CDN_CORE",
        "BUILD_NUMBER": "202", "PACKAGE_PATH": "CDN/pass/20250613-master-202/el7"});

    let (build, created) = builds::record_build(&f.state, &body).await.unwrap();
    assert!(created);
    let again = builds::record_build(&f.state, &body).await.unwrap();
    assert!(!again.1, "a repeat");

    let runs = f.state.store.list_runs(None, None, 10).await.unwrap().items;
    assert_eq!(runs.len(), 1, "exactly one run: {runs:?}");
    let run = &runs[0];
    assert_eq!(
        (run.test_item_id.get(), run.build_info_id.get()),
        (asking.id, build.id)
    );
    assert!(run.started_by_webhook);
    assert_eq!(run.triggered_by.as_str(), "dev@example.com");
    assert_eq!(run.status, RunStatus::Pending);
    // A second new build while that one runs queues behind it.
    let next = serde_json::json!({"BUILD_USER": "jenkins", "JOB_NAME": "CDN_CORE",
        "BUILD_NUMBER": "203", "PACKAGE_PATH": "CDN/pass/20250613-master-203/el7"});
    builds::record_build(&f.state, &next).await.unwrap();
    let queued = f.state.store.queued_runs(&LaneId::default()).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].triggered_by.as_str(),
        new_build::NOBODY,
        "no user, no notify_emails"
    );
}

#[test]
fn a_webhook_run_is_for_the_build_user_else_the_first_notify_address_else_nobody() {
    use crate::domain::{Build, NewBuild, Settings, TestItem};
    use crate::services::new_build::{NOBODY, triggered_by};
    let build = |user: &str| {
        let new = NewBuild::from_webhook(&serde_json::json!({"BUILD_USER": user, "JOB_NAME": "J",
            "BUILD_NUMBER": "1", "PACKAGE_PATH": "CDN/pass/x/el7"}))
        .unwrap();
        Build::new(1, &new, super::t0())
    };
    let item: TestItem =
        serde_json::from_value(serde_json::json!({"id": 1, "name": "cds", "job_name": "J",
        "parameter_set_id": null, "description": "", "enabled": true,
        "notify_emails": ["qa@example.com", "lead@example.com"],
        "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z"}))
        .unwrap();
    let settings = Settings {
        allowed_email_domains: vec!["example.com".into()],
        ..Settings::default()
    };
    assert_eq!(
        triggered_by(&build("dev@example.com"), &item, &settings).as_str(),
        "dev@example.com"
    );
    assert_eq!(
        triggered_by(&build("dev@other.org"), &item, &settings).as_str(),
        "qa@example.com"
    );
    assert_eq!(
        triggered_by(&build("jenkins"), &item, &settings).as_str(),
        "qa@example.com"
    );
    let mut alone = item.clone();
    alone.notify_emails.clear();
    assert_eq!(
        triggered_by(&build("jenkins"), &alone, &settings).as_str(),
        NOBODY
    );
}
