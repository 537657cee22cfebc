//! The stale-run sweeper and the last-resort finalize: only stale runs fail, their live
//! executions stop, the lock is freed and mail goes once.

use super::*;
use crate::common;
use chrono::TimeDelta;
use common::{TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{Run, RunId, RunStatus, timing};
use shared::tasks::ErrorName;
use shared::tasks::RunRef;
use shared::workflow::WorkflowStarter;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_sweeper_stops_the_live_execution_of_a_stale_run() {
    let e = env().await;
    // The execution will sit in WaitBeforePoll for an hour (72 s at the test time scale).
    let r = e
        .app
        .client
        .put(e.app.url("/api/v1/settings"))
        .bearer_auth(&e.admin)
        .json(&json!({"poll_interval_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    e.until(id, "the test server took the task", |r| {
        r["task_id"].is_string()
    })
    .await;
    assert_eq!(e.execution(id).await["status"], "RUNNING");

    // GIVEN the process driving it looks dead (far past any deadline) WHEN the sweeper the
    // local server's timer runs (the same deps) sweeps THEN the run fails, its execution is
    // stopped and the lock is free.
    e.app.clock.advance(TimeDelta::days(30));
    let report = sweeper::handle(&e.app.local.deps, Value::Null)
        .await
        .unwrap();
    assert_eq!(report.failed_runs, [id]);
    // (30 days on, the sessions have expired: log in again.)
    let user = e.app.user_token("dev@example.com").await;
    let read = |path: String| {
        let (app, user) = (&e.app, user.clone());
        async move {
            app.get(&path, Some(&user))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let run = read(format!("/api/v1/deploy-test-runs/{id}")).await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(
        run["error_message"],
        "Test timeout - automatically failed by cleanup"
    );
    let exec = read(format!("/api/v1/deploy-test-runs/{id}/execution")).await;
    assert_eq!(exec["status"], "ABORTED", "{exec}");
    let last = exec["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "ExecutionAborted", "{exec}");
    assert!(
        e.app
            .state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none(),
        "lock released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_healthy_slow_run_outlives_cleanup_and_keeps_the_lock() {
    let e = env().await;
    // The execution waits an hour (72 s here) before its first poll; this test makes that
    // first poll itself, on the settable clock, and runs the sweeper at each point.
    let r = e
        .app
        .client
        .put(e.app.url("/api/v1/settings"))
        .bearer_auth(&e.admin)
        .json(&json!({"poll_interval_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    e.until(id, "the test server took the task", |r| {
        r["task_id"].is_string()
    })
    .await;
    let second_trigger = || async {
        e.app
            .client
            .post(
                e.app
                    .url(&format!("/api/v1/test-items/{}/deploy-test", e.item_id)),
            )
            .bearer_auth(&e.user)
            .json(&json!({"build_info_id": e.build_id, "queue": false}))
            .send()
            .await
            .unwrap()
    };
    let sweep = || async {
        sweeper::handle(&e.app.local.deps, Value::Null)
            .await
            .unwrap()
            .failed_runs
    };

    // GIVEN download and trigger took 4 h (slow, but within their Task limits and retries)
    e.app.clock.advance(TimeDelta::hours(4));
    assert_eq!(sweep().await, Vec::<i64>::new());
    // WHEN monitoring begins (poll's first call) THEN the lease counts from its deadline.
    let polled = poll::handle(&e.app.local.deps, RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(polled.outcome, poll::Outcome::Running);
    let run = e.app.state.store.get_run(id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Monitoring);
    let deadline = timing::monitoring_deadline(&run).unwrap();
    assert_eq!(deadline, e.app.clock.now() + TimeDelta::seconds(10_800));
    let lock = e
        .app
        .state
        .store
        .get_run_lock(&Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lock.run_id, id);
    assert_eq!(lock.lease_until, timing::lease_until(&run, 10_800));
    assert!(lock.lease_until > deadline, "the lease outlasts monitoring");

    // Monitoring 2 h 59 min in (the run is 7 h old, older than max_monitor + 2 h): cleanup
    // leaves it alone, the lock holds, a second trigger is refused.
    e.app.clock.advance(TimeDelta::seconds(10_800 - 60));
    assert_eq!(
        sweep().await,
        Vec::<i64>::new(),
        "a healthy slow run is not failed"
    );
    assert_error(second_trigger().await, StatusCode::CONFLICT, "run_active").await;
    // Raising max_monitor_seconds now moves neither its deadline nor its lease.
    let r = e
        .app
        .client
        .put(e.app.url("/api/v1/settings"))
        .bearer_auth(&e.admin)
        .json(&json!({"max_monitor_seconds": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let run = e.app.state.store.get_run(id).await.unwrap().unwrap();
    assert_eq!(timing::lease_until(&run, 60), lock.lease_until);
    assert_eq!(sweep().await, Vec::<i64>::new());

    // GIVEN the lease lapsed while the run still looks live (no sweep yet) WHEN someone
    // triggers THEN 409 naming it: a lapsed lease never lets a second run start beside it.
    let lapse = lock.lease_until - e.app.clock.now() + TimeDelta::seconds(1);
    e.app.clock.advance(lapse);
    let body = assert_error(second_trigger().await, StatusCode::CONFLICT, "run_active").await;
    assert_eq!(body["error"]["details"]["active_run"]["id"], id, "{body}");
    assert_eq!(
        e.app
            .state
            .store
            .list_runs(None, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1,
        "no second run"
    );
    // The sweeper (same rule) fails it; then a trigger starts at once.
    assert_eq!(sweep().await, [id]);
    assert_eq!(
        e.app
            .state
            .store
            .get_run(id)
            .await
            .unwrap()
            .unwrap()
            .error_message
            .as_deref(),
        Some("Test timeout - automatically failed by cleanup")
    );
    let next = second_trigger().await;
    assert_eq!(next.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sweeper_fails_only_stale_runs_and_mails_once() {
    let e = env().await;
    // A run whose process died long ago: live status, lock held, no execution driving it.
    let stale_id = e.app.state.store.next_id("runs").await.unwrap();
    let item = e
        .app
        .state
        .store
        .get_test_item(e.item_id)
        .await
        .unwrap()
        .unwrap();
    let build = e
        .app
        .state
        .store
        .get_build(e.build_id)
        .await
        .unwrap()
        .unwrap();
    let set = e
        .app
        .state
        .store
        .get_parameter_set(e.set_id)
        .await
        .unwrap()
        .unwrap();
    let mut stale = Run::new(
        RunId::from_stored(stale_id),
        &item,
        &build,
        &set,
        &dev(),
        e.app.clock.now(),
    );
    stale.status = RunStatus::Monitoring;
    e.app
        .state
        .store
        .admit_run(&stale, false, e.app.clock.now() + TimeDelta::days(1))
        .await
        .unwrap();

    // Not yet past the timing rule's lease (monitoring never began: from its start):
    // untouched. (This used to be max_monitor_seconds + 2 h after the start, a margin that
    // Download's own retries could outlast.)
    let lease_until = timing::lease_until(&stale, 10_800);
    e.app.clock.advance(lease_until - e.app.clock.now());
    let report = sweeper::handle(&e.app.local.deps, Value::Null)
        .await
        .unwrap();
    assert!(report.failed_runs.is_empty());
    assert_eq!(e.run(stale_id).await["status"], "MONITORING");

    e.app.clock.advance(TimeDelta::seconds(1));
    let report = sweeper::handle(&e.app.local.deps, Value::Null)
        .await
        .unwrap();
    assert_eq!(report.failed_runs, [stale_id]);
    let user = e.app.user_token("dev@example.com").await;
    let run: Value = e
        .app
        .get(&format!("/api/v1/deploy-test-runs/{stale_id}"), Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "FAILED");
    assert_eq!(
        run["error_message"],
        "Test timeout - automatically failed by cleanup"
    );
    assert_eq!(run["notification"]["status"], "SENT");
    assert!(
        e.app
            .state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none(),
        "lock released"
    );
    let mails = e.outbox();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Test timeout - automatically failed by cleanup")
            || mails[0].contains("automatically failed"),
        "failure mail"
    );
    // Sweeping again changes nothing and mails nothing.
    let report = sweeper::handle(&e.app.local.deps, Value::Null)
        .await
        .unwrap();
    assert!(report.failed_runs.is_empty());
    assert_eq!(e.outbox().len(), 1);

    // A healthy run started now is not touched by a sweep.
    let user = e.app.user_token("dev@example.com").await;
    e.peers.test_control(json!({"test_seconds": 600})).await;
    let live = e.trigger(&user).await["id"].as_i64().unwrap();
    let report = sweeper::handle(&e.app.local.deps, Value::Null)
        .await
        .unwrap();
    assert!(report.failed_runs.is_empty());
    // (A newer login of dev@example.com replaced e.user's session: read with `user`.)
    let run: Value = e
        .app
        .get(&format!("/api/v1/deploy-test-runs/{live}"), Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !RunStatus::parse("s", run["status"].as_str().unwrap())
            .unwrap()
            .is_terminal(),
        "{run}"
    );
}

/// Runs `sql` on the test app's SQLite file through another connection (python3's
/// sqlite3), as an operator or a second process would.
pub(super) fn sqlite(app: &TestApp, sql: &str) {
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10); c.executescript(sys.argv[2])",
        ])
        .arg(app.dir.path().join("crat.db"))
        .arg(sql)
        .status()
        .unwrap();
    assert!(status.success(), "{sql}");
}

/// Review: the last-resort Finalize (the ASL's ReleaseLock, `finalize_error` set) frees
/// the lock even when the run itself cannot be written, and calling it again is harmless.
/// The real SQLite store refuses every update of `runs` (a trigger) while `run_lock`
/// stays writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_resort_finalize_frees_the_lock_when_the_run_cannot_be_written() {
    let e = env().await;
    let store = &e.app.state.store;
    let item = store.get_test_item(e.item_id).await.unwrap().unwrap();
    let build = store.get_build(e.build_id).await.unwrap().unwrap();
    let set = store.get_parameter_set(e.set_id).await.unwrap().unwrap();
    let now = e.app.clock.now();
    let new_run = |id: i64| {
        let mut run = Run::new(RunId::from_stored(id), &item, &build, &set, &dev(), now);
        run.status = RunStatus::Monitoring;
        run
    };
    let id = store.next_id("runs").await.unwrap();
    store
        .admit_run(&new_run(id), false, now + TimeDelta::hours(3))
        .await
        .unwrap();
    let deps = e.app.state.clone();
    let input = |finalize_error: Option<Value>| finalize::FinalizeInput {
        run_id: id,
        failure: None,
        finalize_error,
    };
    let finalize_error =
        json!({"Error": ErrorName::Transient.as_str(), "Cause": "the store is down"});
    sqlite(
        &e.app,
        "CREATE TRIGGER refuse_run_updates BEFORE UPDATE ON runs \
         BEGIN SELECT RAISE(ABORT, 'runs are read-only'); END;",
    );

    // The ordinary Finalize fails before it releases: the lock is still held.
    finalize::handle(&deps, input(None)).await.unwrap_err();
    assert_eq!(
        store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .unwrap()
            .run_id,
        id
    );

    // WHEN the last resort runs while the run still cannot be written
    let err = finalize::handle(&deps, input(Some(finalize_error.clone())))
        .await
        .unwrap_err();

    // THEN it errs, but the lock is free; the run is unchanged (its write was refused)
    assert!(!err.message.is_empty(), "{err:?}");
    assert!(
        store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none(),
        "lock released"
    );
    assert_eq!(
        store.get_run(id).await.unwrap().unwrap().status,
        RunStatus::Monitoring
    );

    // AND another person's run may take the lock (the same person's run of the same build
    // and item would be a duplicate of the unfinished one); calling the last resort again
    // does not free it
    let other = store.next_id("runs").await.unwrap();
    let mut other_run = new_run(other);
    other_run.triggered_by = Email::parse("email", "qa@example.com").unwrap();
    assert_eq!(
        store
            .admit_run(&other_run, false, now + TimeDelta::hours(3))
            .await
            .unwrap(),
        shared::ports::Admission::Started
    );
    finalize::handle(&deps, input(Some(finalize_error.clone())))
        .await
        .unwrap_err();
    assert_eq!(
        store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .unwrap()
            .run_id,
        other
    );

    // AND once the store takes writes again, it marks the run FAILED, and repeats harmlessly
    sqlite(&e.app, "DROP TRIGGER refuse_run_updates;");
    let mut finished_at = None;
    for _ in 0..2 {
        let out = finalize::handle(&deps, input(Some(finalize_error.clone())))
            .await
            .unwrap();
        assert_eq!(out.status, RunStatus::Failed);
        let run = store.get_run(id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert!(
            run.error_message
                .as_deref()
                .is_some_and(|m| m.contains("the store is down")),
            "{run:?}"
        );
        assert!(run.finished_at.is_some());
        assert!(
            finished_at.is_none() || finished_at == run.finished_at,
            "unchanged"
        );
        finished_at = run.finished_at;
        assert_eq!(
            store
                .get_run_lock(&Default::default())
                .await
                .unwrap()
                .unwrap()
                .run_id,
            other
        );
    }
}

/// Issue 11: the timers get the host's one `Deps`, whose workflow is the embedded executor
/// (a copy without it left stale runs' executions running).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_servers_sweeper_timer_stops_the_live_execution_of_a_stale_run() {
    let e = env().await;
    // The execution will sit in WaitBeforePoll for an hour (72 s at the test time scale).
    let r = e
        .app
        .client
        .put(e.app.url("/api/v1/settings"))
        .bearer_auth(&e.admin)
        .json(&json!({"poll_interval_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    e.until(id, "the test server took the task", |r| {
        r["task_id"].is_string()
    })
    .await;
    assert_eq!(e.execution(id).await["status"], "RUNNING");

    // GIVEN the run looks dead (far past any deadline) WHEN the local server's timers start
    // (as `local::serve` starts them: each runs once at once) THEN the sweeper fails the run
    // AND stops its execution in the embedded executor.
    e.app.clock.advance(TimeDelta::days(30));
    let timers = local::spawn_timers(&e.app.local.deps);
    let store = &e.app.state.store;
    let mut run = None;
    for _ in 0..500 {
        let now = store.get_run(id).await.unwrap().unwrap();
        if now.status.is_terminal()
            && store
                .get_run_lock(&Default::default())
                .await
                .unwrap()
                .is_none()
        {
            run = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in timers {
        t.abort();
    }
    let run = run.expect("the sweeper timer failed the stale run and released the lock");
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(
        run.error_message.as_deref(),
        Some("Test timeout - automatically failed by cleanup")
    );
    let exec = e
        .app
        .state
        .workflow
        .describe(&run.execution_id)
        .await
        .unwrap()
        .expect("the execution exists");
    let last = exec.events.last().map(|ev| ev.event_type.as_str());
    assert_eq!(
        (exec.status.as_str(), last),
        ("ABORTED", Some("ExecutionAborted")),
        "the execution in {:?}",
        exec.current_state
    );
}
