//! Long monitored runs on simulated time: the history stays within Step Functions' limits
//! and reads page by page; the bounds hold on the values a run uses.

use super::*;
use crate::common;
use chrono::TimeDelta;
use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// A 3-hour monitored run polled every 5 s (2,160 polls), on simulated time: the history
/// stays under Step Functions' 25,000 events, the stored record stays small, the run ends
/// with Finalize and mail, and the history reads page by page.
async fn a_three_hour_run_at_five_second_polls(backend: Backend) {
    let _turn = common::marathon_turn(backend).await;
    let started_wall = std::time::Instant::now();
    let Some(app) = TestApp::start_simulated(backend, &[]).await else {
        return;
    };
    let f = setup_with(app).await.unwrap();
    let admin = f.app.admin_token().await;
    let r = f
        .app
        .client
        .put(f.app.url("/api/v1/settings"))
        .bearer_auth(&admin)
        .json(&json!({"poll_interval_seconds": 5, "max_monitor_seconds": 11_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // The test server's task runs "forever" in real time; the test ends it after 3 h of
    // simulated time.
    f.peers
        .test_control(json!({"pending_seconds": 0, "deploy_seconds": 0, "test_seconds": 1e9}))
        .await;
    let t0 = f.app.clock.now();
    let id = f.started().await;
    let three_hours = TimeDelta::hours(3);
    loop {
        if f.app.clock.now() - t0 >= three_hours {
            break;
        }
        assert!(
            started_wall.elapsed() < Duration::from_secs(400),
            "3 simulated hours not reached; at {}",
            f.app.clock.now() - t0
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let task_id = f.peers.tasks().await[0]["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.peers.pin_task(&task_id, "completed").await;
    let (run, _, _) = f.watch(id).await;

    // THEN the run completed after 3 simulated hours, Finalize released the lock, the
    // mail went out
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(f.lock_is_free().await);
    assert_eq!(run["steps"][3]["status"], "SUCCEEDED", "{run}");
    assert!(run["notification"].is_object(), "{run}");
    let polls = f.peers.tasks().await[0]["polls"].as_u64().unwrap();
    assert!(polls >= 2_150, "polled {polls} times");

    // AND the history is under the Step Functions limit, the record without it is small
    let exec = f.execution_done(id).await;
    assert_eq!(exec["status"], "SUCCEEDED", "{}", exec["status"]);
    let (events, pages) = history_pages(&f, id, 1000, "oldest").await;
    let n = events.len() as u64;
    assert!(
        n < shared::domain::STEP_FUNCTIONS_HISTORY_LIMIT,
        "{n} events"
    );
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=n).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");
    let entered: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "TaskStateEntered")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(
        &entered[entered.len() - 3..],
        ["Finalize", "Notify", "Announce"]
    );
    let (newest, _) = history_pages(&f, id, 777, "newest").await;
    let mut newest_ids: Vec<u64> = newest.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    newest_ids.reverse();
    assert_eq!(
        newest_ids, ids,
        "newest first reads the same history backwards"
    );
    let record = f
        .app
        .state
        .store
        .load_execution(run["execution_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.event_count, n);
    let record_bytes = serde_json::to_string(&record).unwrap().len();
    assert!(record_bytes < 16 * 1024, "record {record_bytes} bytes");
    let per_poll = n as f64 / polls as f64;
    eprintln!(
        "3 h simulated at 5 s polls ({backend:?}): {polls} polls, {n} events ({per_poll:.2}/poll), \
         {pages} pages of 1000, record {record_bytes} bytes, {:.1} s wall",
        started_wall.elapsed().as_secs_f64()
    );
}

mod three_hours {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        a_three_hour_run_at_five_second_polls(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb() {
        a_three_hour_run_at_five_second_polls(Backend::Dynamo).await
    }
}

/// Review (issue 10): the bounds hold on the values a run USES, not only at PATCH. The
/// Wait's interval is the one trigger recorded (the already-triggered path returns the
/// same, not the current setting), and poll clamps the deadline so the poll cycles fit
/// the history limit and the machine's timeout, saying so on the MONITOR step. Settings
/// stored before the bounds (1 s polls, 7 days, 2 h intervals) are clamped when read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_uses_bounded_values_fixed_at_trigger() {
    use shared::domain::{MAX_POLL_CYCLES, RunStatus, StepName, StepStatus, timing};
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let id = f.started().await;
    let (run, _, _) = f.watch(id).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["steps"][1]["details"]["poll_interval_seconds"], 5,
        "trigger records the interval it returned: {run}"
    );
    let deps = f.app.state.clone();
    // Back to just after the trigger: task id kept, monitoring not begun.
    let back_to_triggered = |clear_task: bool| {
        let state = f.app.state.clone();
        async move {
            shared::tasks::update_run(&state, id, |run| {
                run.status = RunStatus::Testing;
                run.finished_at = None;
                if clear_task {
                    run.task_id = None;
                    run.step_mut(StepName::Trigger).details.clear();
                }
                let m = run.step_mut(StepName::Monitor);
                m.details.clear();
                m.status = StepStatus::Pending;
                m.started_at = None;
                m.finished_at = None;
                Ok(())
            })
            .await
            .unwrap();
        }
    };
    let put = |change: fn(&mut shared::domain::Settings)| {
        let state = f.app.state.clone();
        async move {
            let (mut s, version) = state.store.get_settings().await.unwrap();
            change(&mut s);
            state.store.put_settings(&s, version).await.unwrap();
        }
    };
    let deadline_after = |run: &shared::domain::Run, now: chrono::DateTime<chrono::Utc>| {
        (timing::monitoring_deadline(run).unwrap() - now).num_seconds()
    };

    // GIVEN triggered at 5 s, THEN settings changed to 60 s and 39 h during the download
    back_to_triggered(false).await;
    put(|s| {
        s.poll_interval_seconds = 60;
        s.max_monitor_seconds = timing::MAX_MONITOR_SECONDS_LIMIT;
    })
    .await;
    // WHEN trigger is re-invoked (already triggered) and poll begins monitoring
    let again = trigger::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(again.poll_interval_seconds, 5, "the recorded interval");
    let now = f.app.clock.now();
    poll::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    // THEN the deadline allows at most MAX_POLL_CYCLES polls at 5 s, and says why
    let stored = f.app.state.store.get_run(id).await.unwrap().unwrap();
    let left = deadline_after(&stored, now);
    let cap = (MAX_POLL_CYCLES * 5) as i64;
    assert!((cap - 5..=cap).contains(&left), "{left} s, want {cap}");
    let why = stored.step(StepName::Monitor).unwrap().details["deadline_clamped"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        why.contains("max_monitor_seconds") && why.contains("12000"),
        "{why}"
    );

    // GIVEN settings stored before the bounds: 2 h polls and 7 days of monitoring
    back_to_triggered(true).await;
    put(|s| {
        s.poll_interval_seconds = 7200;
        s.max_monitor_seconds = 7 * 86_400;
    })
    .await;
    let fresh = trigger::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(
        fresh.poll_interval_seconds,
        timing::MAX_POLL_INTERVAL_SECONDS,
        "clamped to the settings' range"
    );
    let now = f.app.clock.now();
    let out = poll::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(out.poll_interval_seconds, timing::MAX_POLL_INTERVAL_SECONDS);
    let stored = f.app.state.store.get_run(id).await.unwrap().unwrap();
    let left = deadline_after(&stored, now);
    let limit = i64::from(timing::MAX_MONITOR_SECONDS_LIMIT);
    assert!(
        (limit - 5..=limit).contains(&left),
        "{left} s, want {limit}"
    );
    assert!(
        stored.step(StepName::Monitor).unwrap().details["deadline_clamped"].is_string(),
        "{:?}",
        stored.step(StepName::Monitor)
    );

    // AND settings within the bounds are not clamped, nor noted
    back_to_triggered(true).await;
    put(|s| {
        s.poll_interval_seconds = 0;
        s.max_monitor_seconds = 600;
    })
    .await;
    let zero = trigger::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(zero.poll_interval_seconds, 1, "a stored 0 is read as 1");
    let now = f.app.clock.now();
    poll::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap();
    let stored = f.app.state.store.get_run(id).await.unwrap().unwrap();
    let left = deadline_after(&stored, now);
    assert!((595..=600).contains(&left), "{left}");
    assert!(
        stored
            .step(StepName::Monitor)
            .unwrap()
            .details
            .get("deadline_clamped")
            .is_none(),
        "{:?}",
        stored.step(StepName::Monitor)
    );
}
