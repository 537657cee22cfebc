//! TRIGGER: test-server trouble, never posting twice (defect 9), a store hiccup after the
//! POST, and the webhook's refusals.

use super::*;
use crate::common;
use common::{Backend, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::tasks::ErrorName;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_server_trouble_on_trigger_fails_at_trigger() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // Every answer (and a timeout) means the POST may have reached the server: no retry.
    for (fault, name) in [
        ("500", ErrorName::TestServerError.as_str()),
        ("garbage", ErrorName::TestServerError.as_str()),
        ("timeout", ErrorName::TestServerError.as_str()),
    ] {
        f.peers
            .test_control(json!({"trigger_fault": fault, "timeout_seconds": 5}))
            .await;
        let run = f.fails_at("TRIGGER").await;
        assert_eq!(
            run["steps"][1]["details"]["error_name"], name,
            "{fault}: {run}"
        );
        assert!(run["error_message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    f.peers.test_control(json!({"trigger_fault": null})).await;
    let id = f.started().await;
    assert_eq!(
        f.watch(id).await.0["status"],
        "COMPLETED",
        "a healthy server afterwards works: the lock was freed"
    );
}

/// Defect 9: a 502/504 from a proxy, a 5xx, a 429 or a reset may arrive after the test
/// server created the task: CRAT never posts a second time (it names `run_id` for
/// de-duplication). Counted on the test server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_never_posts_twice_after_a_request_that_may_have_arrived() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    for fault in ["502", "504", "503", "429", "refuse"] {
        f.peers.test_control(json!({"trigger_fault": fault})).await;
        let before = f.peers.trigger_posts().await;
        let run = f.fails_at("TRIGGER").await;
        assert_eq!(
            f.peers.trigger_posts().await - before,
            1,
            "{fault}: exactly one POST: {run}"
        );
        assert_eq!(
            run["steps"][1]["details"]["error_name"],
            ErrorName::TestServerError.as_str(),
            "{fault}: {run}"
        );
        let msg = run["error_message"].as_str().unwrap();
        assert!(
            msg.contains("not post again") && msg.contains("run_id"),
            "{fault}: {msg}"
        );
    }
    f.peers.test_control(json!({"trigger_fault": null})).await;
    let id = f.started().await;
    assert_eq!(f.watch(id).await.0["status"], "COMPLETED");
}

/// Defect 9: a trigger invoked again while (or after) its POST was out — a Lambda that
/// timed out, a crash, an at-least-once re-delivery — does not post a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reinvoked_trigger_does_not_post_again() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // The first POST hangs past poll_request_timeout_seconds (2 s).
    f.peers
        .test_control(json!({"trigger_fault": "timeout", "timeout_seconds": 4}))
        .await;
    let id = f.started().await;
    let mut marked = false;
    for _ in 0..500 {
        if f.run(id).await["steps"][1]["details"]["post_sent_at"].is_string() {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(marked, "the first POST never went out: {}", f.run(id).await);
    let deps = f.app.state.clone();
    let again = trigger::handle(&deps, shared::tasks::RunRef { run_id: id })
        .await
        .unwrap_err();
    assert_eq!(again.name, ErrorName::TestServerError.as_str(), "{again:?}");
    assert!(
        again.message.contains("not post again"),
        "{}",
        again.message
    );
    let run = f.fails_at_end(id).await;
    assert_eq!(run["steps"][1]["status"], "FAILED", "{run}");
    assert_eq!(f.peers.trigger_posts().await, 1, "one POST in all");
}

/// Review: two trigger invocations started together (an at-least-once re-delivery racing
/// the first) post exactly once: the check for an earlier POST and the marker are one
/// revision-conditional update. The test server answers slowly so both are in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_triggers_started_together_post_once() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let id = f.started().await;
    assert_eq!(f.watch(id).await.0["status"], "COMPLETED");
    // Put the finished run back to just before its trigger (package downloaded, no task).
    for attempt in 0..5 {
        // Several rounds: the race must never let two POSTs out.
        shared::tasks::update_run(&f.app.state, id, |run| {
            run.status = shared::domain::RunStatus::Downloaded;
            run.finished_at = None;
            run.task_id = None;
            run.step_mut(shared::domain::StepName::Trigger)
                .details
                .clear();
            Ok(())
        })
        .await
        .unwrap();
        f.peers
            .test_control(json!({"trigger_fault": "timeout", "timeout_seconds": 1}))
            .await;
        let before = f.peers.trigger_posts().await;
        let deps = f.app.state.clone();
        let (a, b) = tokio::join!(
            tokio::spawn({
                let deps = deps.clone();
                async move { trigger::handle(&deps, shared::tasks::RunRef { run_id: id }).await }
            }),
            tokio::spawn({
                let deps = deps.clone();
                async move { trigger::handle(&deps, shared::tasks::RunRef { run_id: id }).await }
            }),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            f.peers.trigger_posts().await - before,
            1,
            "round {attempt}: exactly one POST: {a:?} {b:?}"
        );
        let (ok, err) = match (a, b) {
            (Ok(ok), Err(err)) | (Err(err), Ok(ok)) => (ok, err),
            other => panic!("round {attempt}: one succeeds, one refuses: {other:?}"),
        };
        assert!(!ok.task_id.is_empty());
        assert_eq!(err.name, ErrorName::TestServerError.as_str(), "{err:?}");
        assert!(err.message.contains("not post again"), "{}", err.message);
        let run = f.run(id).await;
        assert_eq!(run["task_id"], ok.task_id.as_str(), "{run}");
    }
    f.peers.test_control(json!({"trigger_fault": null})).await;
}

/// Review: the store failing right after the test server accepted the POST does not fail
/// a healthy run: the task id is saved by retrying in-process (a retry by the state
/// machine would find the marker and refuse). The store is made unwritable by another
/// SQLite connection holding the write lock longer than the adapter's 5 s busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_hiccup_after_the_post_keeps_the_task() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let id = f.started().await;
    assert_eq!(f.watch(id).await.0["status"], "COMPLETED");
    shared::tasks::update_run(&f.app.state, id, |run| {
        run.status = shared::domain::RunStatus::Downloaded;
        run.finished_at = None;
        run.task_id = None;
        run.step_mut(shared::domain::StepName::Trigger)
            .details
            .clear();
        Ok(())
    })
    .await
    .unwrap();
    // The POST takes 1.5 s: time to lock the store while it is out.
    f.peers
        .test_control(json!({"trigger_fault": "timeout", "timeout_seconds": 1.5}))
        .await;
    let before = f.peers.trigger_posts().await;
    let deps = f.app.state.clone();
    let trigger =
        tokio::spawn(
            async move { trigger::handle(&deps, shared::tasks::RunRef { run_id: id }).await },
        );
    let mut marked = false;
    for _ in 0..200 {
        if f.run(id).await["steps"][1]["details"]["post_sent_at"].is_string() {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(marked, "the POST never went out");
    let db = f.app.dir.path().join("crat.db");
    let mut locker = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(7); c.execute('ROLLBACK')",
        ])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let out = trigger.await.unwrap();
    let _ = locker.wait();
    let out = out.expect("the task id is saved once the store is back");
    assert_eq!(f.peers.trigger_posts().await - before, 1, "one POST");
    let run = f.run(id).await;
    assert_eq!(run["task_id"], out.task_id.as_str(), "{run}");
    assert_eq!(run["steps"][1]["status"], "SUCCEEDED", "{run}");
    f.peers.test_control(json!({"trigger_fault": null})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_refusals() {
    let f = setup(Backend::Sqlite).await.unwrap();
    let admin = f.app.admin_token().await;
    let at = |item: i64, body: Value| {
        let req = f
            .app
            .client
            .post(f.app.url(&format!("/api/v1/test-items/{item}/deploy-test")))
            .bearer_auth(&f.user)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    assert_error(at(999, json!({})).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        at(f.item_id, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_selected_build",
    )
    .await;
    assert_error(
        at(f.item_id, json!({"build_info_id": 999})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "build_not_found",
    )
    .await;
    let other: Value = f.app.post_build("OTHER", 1).await.json().await.unwrap();
    assert_error(
        at(f.item_id, json!({"build_info_id": other["id"]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "build_not_in_job",
    )
    .await;
    let unauth = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
        )
        .send()
        .await
        .unwrap();
    assert_error(unauth, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Without a body the selected build is used.
    f.app
        .client
        .put(f.app.url("/api/v1/job-versions"))
        .bearer_auth(&f.user)
        .json(&json!({"job_name": "CDN_CORE", "build_id": f.build_id, "auto_sync": false}))
        .send()
        .await
        .unwrap();
    f.app
        .client
        .put(f.app.url(&format!("/api/v1/test-items/{}", f.item_id)))
        .bearer_auth(&admin)
        .json(&json!({"name": "cds", "job_name": "CDN_CORE", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_error(
        at(f.item_id, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "test_item_disabled",
    )
    .await;
    f.app
        .client
        .put(f.app.url(&format!("/api/v1/test-items/{}", f.item_id)))
        .bearer_auth(&admin)
        .json(&json!({"name": "cds", "job_name": "CDN_CORE"}))
        .send()
        .await
        .unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let no_body = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/api/v1/test-items/{}/deploy-test", f.item_id)),
        )
        .bearer_auth(&f.user)
        .send()
        .await
        .unwrap();
    assert_eq!(no_body.status(), StatusCode::ACCEPTED);
    let run: Value = no_body.json().await.unwrap();
    assert_eq!(run["build_info_id"], f.build_id);
    assert_eq!(
        run["build"],
        json!({"job_name": "CDN_CORE", "build_number": 101, "package_path": PKG_DIR})
    );
    f.watch(run["id"].as_i64().unwrap()).await;
    let err = assert_error(
        f.app
            .get("/api/v1/deploy-test-runs?status=DONE", Some(&f.user))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(err["error"]["field"], "status");
    assert_error(
        f.app
            .get("/api/v1/deploy-test-runs/999", Some(&f.user))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
