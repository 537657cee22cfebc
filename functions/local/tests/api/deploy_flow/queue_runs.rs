//! The queue end to end on the local server with a fast test-server double: a burst of
//! triggers on one lane gets one active run and the rest queued at distinct places, and
//! they then run one after another in trigger order, never two at once, nothing lost.

use super::*;
use shared::domain::{LaneId, Run, RunStatus};

/// Every run of the store, oldest first, once all `count` have ended (and mailed).
async fn all_ended(f: &Flow, count: usize, patience: Duration) -> Vec<Run> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let runs = f
            .app
            .state
            .store
            .list_runs(None, None, 500)
            .await
            .unwrap()
            .items;
        let ended = runs
            .iter()
            .filter(|r| r.status.is_terminal() && r.notification.is_some())
            .count();
        if runs.len() == count && ended == count {
            let mut runs = runs;
            runs.reverse();
            return runs;
        }
        let waiting = runs
            .iter()
            .filter(|r| r.status == RunStatus::Queued)
            .count();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ended} of {count} ended, {waiting} still queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The fixture's clock stands still; here it moves with real time (a millisecond a
/// millisecond) so the runs' started/finished times order them.
fn keep_time(f: &std::sync::Arc<Flow>) -> tokio::task::JoinHandle<()> {
    let f = f.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        loop {
            tick.tick().await;
            f.app.clock.advance(chrono::TimeDelta::milliseconds(1));
        }
    })
}

/// The runs in the order they started: each started no earlier than the one before ended.
/// The test clock moves in whole milliseconds and stalls when its ticking task is starved,
/// so runs can share a start: a run that began and ended within one reading comes first,
/// then queue order (the first run never queued). Ids do not break ties: they are taken
/// before admission, so concurrent triggers can queue in another order.
fn assert_one_at_a_time(runs: &[Run]) -> Vec<i64> {
    let mut by_start: Vec<&Run> = runs.iter().collect();
    by_start.sort_by_key(|r| (r.started_at, r.finished_at, r.queue_seq));
    for pair in by_start.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        let ended = before.finished_at.expect("ended");
        assert!(
            after.started_at >= ended,
            "run {} started at {} before run {} ended at {ended}:\n{}\n{}",
            after.id,
            after.started_at,
            before.id,
            serde_json::to_string(after).unwrap(),
            serde_json::to_string(before).unwrap()
        );
    }
    by_start.iter().map(|r| r.id.get()).collect()
}

/// Pins the test server's first task completed (waiting for it to exist): the first run
/// tests until the burst of triggers is over, however long that takes on the store.
async fn release_first_task(f: &Flow) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let task_id = loop {
        if let Some(task) = f.peers.tasks().await.first() {
            break task["task_id"].as_str().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first run never reached the test server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    f.peers.pin_task(&task_id, "completed").await;
}

async fn a_burst_of_triggers_queues_and_runs_in_order(backend: Backend, count: usize) {
    let _turn = crate::common::marathon_turn(backend).await;
    let Some(f) = setup(backend).await else {
        return;
    };
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // The first run tests until the burst is over (so no run leaves the queue while places
    // are handed out); every later task is instant.
    f.peers
        .test_control(json!({"test_seconds": 3600, "deploy_seconds": 0, "pending_seconds": 0}))
        .await;
    let mut tokens = Vec::new();
    for i in 0..count {
        tokens.push(f.app.user_token(&format!("dev{i}@example.com")).await);
    }
    let f = std::sync::Arc::new(f);
    let ticking = keep_time(&f);
    let mut tasks = Vec::new();
    for token in tokens {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let r = f
                .app
                .client
                .post(
                    f.app
                        .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
                )
                .bearer_auth(&token)
                .json(&json!({"build_info_id": f.build_id}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut active = Vec::new();
    let mut places = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        match body["status"].as_str().unwrap() {
            "QUEUED" => places.push((
                body["queue_position"].as_u64().unwrap(),
                body["id"].as_i64().unwrap(),
            )),
            _ => {
                assert!(body["queue_position"].is_null(), "{body}");
                active.push(body["id"].as_i64().unwrap());
            }
        }
    }
    assert_eq!(active.len(), 1, "exactly one active: {active:?}");
    places.sort();
    let positions: Vec<u64> = places.iter().map(|p| p.0).collect();
    assert_eq!(
        positions,
        (1..count as u64).collect::<Vec<_>>(),
        "distinct places"
    );
    f.peers.test_control(json!({"test_seconds": 0})).await;
    // The queue as people see it, while the first is still testing.
    let queue: Value = f
        .app
        .get("/api/v1/queue", Some(&f.user))
        .await
        .json()
        .await
        .unwrap();
    let lane = &queue["lanes"][0];
    assert_eq!(lane["id"], "default");
    // Those still waiting, in queue order, numbered from 1.
    let shown: Vec<(u64, i64)> = lane["queued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["queue_position"].as_u64().unwrap(),
                q["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let left = places.len() - shown.len();
    let expected: Vec<(u64, i64)> = places[left..]
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64 + 1, p.1))
        .collect();
    assert_eq!(shown, expected, "{queue}");
    release_first_task(&f).await;

    let runs = all_ended(&f, count, Duration::from_secs(40 * count as u64)).await;
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Completed),
        "all completed"
    );
    ticking.abort();
    let order = assert_one_at_a_time(&runs);
    let expected: Vec<i64> = active
        .iter()
        .copied()
        .chain(places.iter().map(|p| p.1))
        .collect();
    assert_eq!(order, expected, "they ran in trigger (queue) order");
    assert!(
        f.app
            .state
            .store
            .get_run_lock(&LaneId::default())
            .await
            .unwrap()
            .is_none()
    );
}

mod burst {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        a_burst_of_triggers_queues_and_runs_in_order(Backend::Sqlite, 100).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb() {
        a_burst_of_triggers_queues_and_runs_in_order(Backend::Dynamo, 100).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_fast_duplicate_and_a_cancelled_queued_run_over_http() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.test_control(json!({"test_seconds": 2})).await;
    let first = f.started().await;
    let fail_fast = f
        .trigger_with(json!({"build_info_id": f.build_id, "queue": false}))
        .await;
    let body = assert_error(fail_fast, StatusCode::CONFLICT, "run_active").await;
    assert_eq!(body["error"]["details"]["active_run"]["id"], first);
    let duplicate = f.trigger().await;
    let body = assert_error(duplicate, StatusCode::CONFLICT, "run_duplicate").await;
    assert_eq!(body["error"]["details"]["run"]["id"], first);

    let other = f.app.user_token("qa@example.com").await;
    let queued: Value = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
        )
        .bearer_auth(&other)
        .json(&json!({"build_info_id": f.build_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&queued["status"], &queued["queue_position"]),
        (&json!("QUEUED"), &json!(1)),
        "{queued}"
    );
    let id = queued["id"].as_i64().unwrap();
    assert_eq!(
        id,
        first + 1,
        "the refused triggers (busy lane, duplicate) took no run id"
    );
    let not_yours = f
        .app
        .client
        .post(f.app.url(&format!("/api/v1/deploy-test-runs/{id}/cancel")))
        .bearer_auth(&f.user)
        .send()
        .await
        .unwrap();
    assert_error(not_yours, StatusCode::FORBIDDEN, "not_your_run").await;
    let cancelled: Value = f
        .app
        .client
        .post(f.app.url(&format!("/api/v1/deploy-test-runs/{id}/cancel")))
        .bearer_auth(&other)
        .json(&json!({"build_info_id": f.build_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["outcome"], "cancelled");
    let (done, _, _) = f.watch(first).await;
    assert_eq!(done["status"], "COMPLETED");
    let never = f.run(id).await;
    assert_eq!(never["status"], "CANCELLED");
    assert!(
        never["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["started_at"].is_null()),
        "it never started: {never}"
    );
    assert_eq!(
        f.peers.tasks().await.len(),
        1,
        "one task at the test server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_force_release_ends_a_stuck_run_and_the_queue_moves() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // The first run's test never ends (for this test's length).
    f.peers.test_control(json!({"test_seconds": 600})).await;
    let stuck = f.started().await;
    let other = f.app.user_token("qa@example.com").await;
    let queued: Value = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
        )
        .bearer_auth(&other)
        .json(&json!({"build_info_id": f.build_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = queued["id"].as_i64().unwrap();
    f.peers.test_control(json!({"test_seconds": 0})).await;
    let release = |token: String, body: Value| {
        let req = f
            .app
            .client
            .post(f.app.url("/api/v1/environments/default/release"))
            .bearer_auth(token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let by_user = release(f.user.clone(), json!({"reason": "mine"})).await;
    assert_eq!(by_user.status(), StatusCode::FORBIDDEN);
    let admin = f.app.admin_token().await;
    let no_reason = release(admin.clone(), json!({})).await;
    let body = assert_error(no_reason, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["error"]["field"], "reason");
    let released = release(admin.clone(), json!({"reason": "test server hung"})).await;
    assert_eq!(released.status(), StatusCode::OK);
    let run: Value = released.json().await.unwrap();
    assert_eq!(
        (run["id"].as_i64(), &run["status"]),
        (Some(stuck), &json!("FAILED"))
    );
    assert_eq!(
        run["error_message"],
        "released by admin@example.com: test server hung"
    );
    let (ended, _, _) = f.watch(stuck).await;
    assert_eq!(
        ended["notification"]["status"], "SENT",
        "failure mail: {ended}"
    );
    let (after, _, _) = f.watch(next).await;
    assert_eq!(after["status"], "COMPLETED", "{after}");
    let again = release(admin, json!({"reason": "again"})).await;
    assert_error(again, StatusCode::CONFLICT, "lane_free").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_lanes_run_in_parallel_and_queue_apart() {
    // GIVEN item cds on the default lane and item sds on environment A's test server
    let f = std::sync::Arc::new(setup(Backend::Sqlite).await.unwrap());
    let ticking = keep_time(&f);
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.add_package(PKG_DIR, "sds-1.0.0.tar.gz");
    f.peers.test_control(json!({"test_seconds": 1})).await;
    let args = [
        "--deploy-seconds",
        "0",
        "--test-seconds",
        "1",
        "--pending-seconds",
        "0",
    ];
    let server_a = common::peers::start_peer("test_server.py", &args).await;
    let admin = f.app.admin_token().await;
    let post = |path: &str, token: &str, body: Value| {
        let req = f
            .app
            .client
            .post(f.app.url(path))
            .bearer_auth(token)
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let env = post(
        "/api/v1/environments",
        &admin,
        json!({"name": "A", "external_test_server_url": server_a.url}),
    )
    .await;
    let sds = post(
        "/api/v1/test-items",
        &admin,
        json!({"name": "sds", "job_name": "CDN_CORE", "environment_id": env["id"]}),
    )
    .await;
    let trigger = |item: i64, token: String| {
        post(
            &format!("/api/v1/test-items/{item}/deploy-test"),
            &token,
            json!({"build_info_id": f.build_id}),
        )
    };
    // WHEN both are triggered, and a second person triggers sds
    let on_default = trigger(f.item_id, f.user.clone()).await;
    let on_a = trigger(sds["id"].as_i64().unwrap(), f.user.clone()).await;
    let other = f.app.user_token("qa@example.com").await;
    let behind_a = trigger(sds["id"].as_i64().unwrap(), other).await;
    // THEN both lanes start at once; the third waits in lane A only
    assert_eq!(
        (&on_default["status"], &on_a["status"]),
        (&json!("PENDING"), &json!("PENDING"))
    );
    assert_eq!(on_a["lane"], env["id"].to_string());
    assert_eq!(
        (&behind_a["status"], &behind_a["queue_position"]),
        (&json!("QUEUED"), &json!(1))
    );
    let queue: Value = f
        .app
        .get("/api/v1/queue", Some(&f.user))
        .await
        .json()
        .await
        .unwrap();
    let lanes = queue["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 2, "{queue}");
    assert_eq!(
        (&lanes[0]["id"], &lanes[0]["active_run"]["id"]),
        (&json!("default"), &on_default["id"])
    );
    assert_eq!(lanes[0]["queued"], json!([]));
    assert_eq!(
        (&lanes[1]["name"], &lanes[1]["active_run"]["id"]),
        (&json!("A"), &on_a["id"])
    );
    assert_eq!(lanes[1]["queued"][0]["id"], behind_a["id"]);
    let runs = all_ended(&f, 3, Duration::from_secs(60)).await;
    ticking.abort();
    let by_id = |id: &Value| {
        runs.iter()
            .find(|r| r.id.get() == id.as_i64().unwrap())
            .unwrap()
    };
    let (a, b, c) = (
        by_id(&on_default["id"]),
        by_id(&on_a["id"]),
        by_id(&behind_a["id"]),
    );
    assert!(runs.iter().all(|r| r.status == RunStatus::Completed));
    assert!(
        a.started_at < b.finished_at.unwrap() && b.started_at < a.finished_at.unwrap(),
        "the two lanes' runs overlapped"
    );
    assert!(
        c.started_at >= b.finished_at.unwrap(),
        "lane A ran one at a time"
    );
}

/// Issue 13 review: a double click. Identical triggers at once (same build, item and
/// person) behind a busy lane queue one run; the others are 409 `run_duplicate` naming it.
async fn a_double_click_queues_one_run(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.test_control(json!({"test_seconds": 600})).await;
    f.started().await;
    let other = f.app.user_token("qa@example.com").await;
    let f = std::sync::Arc::new(f);
    let mut clicks = Vec::new();
    for _ in 0..8 {
        let (f, other) = (f.clone(), other.clone());
        clicks.push(tokio::spawn(async move {
            let r = f
                .app
                .client
                .post(
                    f.app
                        .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
                )
                .bearer_auth(&other)
                .json(&json!({"build_info_id": f.build_id}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let (mut queued, mut named) = (Vec::new(), Vec::new());
    for c in clicks {
        match c.await.unwrap() {
            (StatusCode::ACCEPTED, body) => queued.push(body["id"].as_i64().unwrap()),
            (StatusCode::CONFLICT, body) => {
                assert_eq!(body["error"]["code"], "run_duplicate", "{body}");
                named.push(body["error"]["details"]["run"]["id"].as_i64().unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(queued.len(), 1, "one queued: {queued:?}");
    assert_eq!(named, vec![queued[0]; 7], "the others name it");
}

mod double_click {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        a_double_click_queues_one_run(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb() {
        a_double_click_queues_one_run(Backend::Dynamo).await
    }
}
