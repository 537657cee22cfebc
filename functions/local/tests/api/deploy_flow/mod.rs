//! The deploy-test flow end to end: the local server (in-process, on 127.0.0.1:0) with
//! its embedded executor, against the development peers (package server with nginx-style
//! listings, test-server double) as real HTTP servers on 127.0.0.1.
//!
//! Here: the `Flow` fixture, the happy path and simultaneous triggers; each failing step
//! and long runs have their module (named `*_step`, as the function crates have the step names).

use crate::common;
use common::peers::Peers;
use common::{Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::Clock as _;
use std::collections::BTreeSet;
use std::time::Duration;

mod download_step;
mod environments;
mod estimate;
mod long_runs;
mod monitor_step;
mod queue_runs;
mod trigger_step;

const PKG_DIR: &str = "CDN/pass/20250613-master-abc/el7";

struct Flow {
    app: TestApp,
    peers: Peers,
    user: String,
    item_id: i64,
    build_id: i64,
}

async fn setup(backend: Backend) -> Option<Flow> {
    setup_with(TestApp::start(backend, &[]).await?).await
}

async fn setup_with(app: TestApp) -> Option<Flow> {
    let peers = Peers::start().await;
    let admin = app.admin_token().await;
    let put = |path: &str, body: Value| {
        let req = app
            .client
            .put(app.url(path))
            .bearer_auth(&admin)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let post = |path: &str, body: Value| {
        let req = app
            .client
            .post(app.url(path))
            .bearer_auth(&admin)
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = put("/api/v1/settings", json!({"package_download_base_url": format!("{}/", peers.packages.url),
        "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 5, "poll_request_timeout_seconds": 2})).await;
    assert_eq!(r.status(), StatusCode::OK);
    post(
        "/api/v1/parameter-sets",
        json!({"name": "base", "params": {"install_dir": "/opt/cdn", "upgrade_type": "full"}}),
    )
    .await;
    let item = post(
        "/api/v1/test-items",
        json!({"name": "cds", "job_name": "CDN_CORE"}),
    )
    .await;
    let build: Value = app
        .post_json("/api/v1/builds", &json!({"BUILD_USER": "jenkins", "JOB_NAME": "CDN_CORE", "PACKAGE_PATH": PKG_DIR, "BUILD_NUMBER": "101"}))
        .await
        .json()
        .await
        .unwrap();
    let user = app.user_token("dev@example.com").await;
    Some(Flow {
        user,
        item_id: item["id"].as_i64().unwrap(),
        build_id: build["id"].as_i64().unwrap(),
        app,
        peers,
    })
}

impl Flow {
    async fn trigger(&self) -> reqwest::Response {
        self.trigger_with(json!({"build_info_id": self.build_id}))
            .await
    }

    /// Triggers with `body` (e.g. `"queue": false`).
    async fn trigger_with(&self, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/test-items/{}/deploy-test", self.item_id)),
            )
            .bearer_auth(&self.user)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn run(&self, id: i64) -> Value {
        self.app
            .get(&format!("/api/v1/deploy-test-runs/{id}"), Some(&self.user))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Watches the run until it ends; returns it with every status and MONITOR phase seen.
    async fn watch(&self, id: i64) -> (Value, Vec<String>, BTreeSet<String>) {
        let mut statuses: Vec<String> = Vec::new();
        let mut phases = BTreeSet::new();
        for _ in 0..1500 {
            let run = self.run(id).await;
            let status = run["status"].as_str().unwrap().to_owned();
            if statuses.last() != Some(&status) {
                statuses.push(status.clone());
            }
            if let Some(p) = run["steps"][2]["details"]["phase"].as_str() {
                phases.insert(p.to_owned());
            }
            // Ended, and the result mail dealt with (notify runs after finalize).
            let notified =
                run["notification"].is_object() && run["steps"][3]["status"] != "RUNNING";
            if matches!(status.as_str(), "COMPLETED" | "FAILED" | "CANCELLED") && notified {
                return (run, statuses, phases);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {id} did not end within 30 s: {}", self.run(id).await);
    }

    /// The run's execution once it has stopped.
    async fn execution_done(&self, id: i64) -> Value {
        for _ in 0..500 {
            let exec: Value = self
                .app
                .get(
                    &format!("/api/v1/deploy-test-runs/{id}/execution"),
                    Some(&self.user),
                )
                .await
                .json()
                .await
                .unwrap();
            if exec["status"] != "RUNNING" {
                return exec;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("execution of run {id} still running after 5 s")
    }

    async fn started(&self) -> i64 {
        let resp = self.trigger().await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let run: Value = resp.json().await.unwrap();
        assert_eq!(run["status"], "PENDING");
        run["id"].as_i64().unwrap()
    }

    async fn lock_is_free(&self) -> bool {
        self.app
            .state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none()
    }

    /// Watches run `id` to its end, expecting FAILED; returns it.
    async fn fails_at_end(&self, id: i64) -> Value {
        let (run, _, _) = self.watch(id).await;
        assert_eq!(run["status"], "FAILED", "{run}");
        assert_eq!(run["outcome"], "error", "{run}");
        run
    }

    /// Runs to the end expecting failure at `step`; returns the run.
    async fn fails_at(&self, step: &str) -> Value {
        let id = self.started().await;
        let (run, _, _) = self.watch(id).await;
        assert_eq!(run["status"], "FAILED", "{run}");
        assert_eq!(run["outcome"], "error", "{run}");
        let failed: Vec<&str> = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "FAILED")
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(failed, [step], "{run}");
        assert!(self.lock_is_free().await, "lock released after failure");
        run
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_reaches_completed_with_phases_and_sha256() {
    let f = setup(Backend::Sqlite).await.unwrap();
    let sha = f.peers.add_package(PKG_DIR, "cds-1.0.0-abc.x86_64.tar.gz");
    f.peers.add_package(PKG_DIR, "sds-9.0.0.tar.gz");
    let id = f.started().await;
    let (run, statuses, phases) = f.watch(id).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    // The default report has a failed and a broken test.
    assert_eq!(run["outcome"], "tests_failed", "{run}");
    // Every status in order (fast steps may be passed between two looks; the order holds).
    let order = [
        "PENDING",
        "DOWNLOADING",
        "DOWNLOADED",
        "TESTING",
        "MONITORING",
        "COMPLETED",
    ];
    let positions: Vec<usize> = statuses
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{statuses:?}");
    assert!(statuses.contains(&"MONITORING".to_owned()), "{statuses:?}");
    assert!(
        phases.contains("running:deploy") && phases.contains("running:test"),
        "phases seen: {phases:?}"
    );
    assert_eq!(run["package_sha256"], sha);
    assert_eq!(
        run["package_url"],
        format!(
            "{}/{PKG_DIR}/cds-1.0.0-abc.x86_64.tar.gz",
            f.peers.packages.url
        )
    );
    assert!(
        run["report_url"]
            .as_str()
            .unwrap()
            .starts_with(&f.peers.test_server.url)
    );
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("DOWNLOAD", "SUCCEEDED"),
            ("TRIGGER", "SUCCEEDED"),
            ("MONITOR", "SUCCEEDED"),
            ("NOTIFY", "SUCCEEDED") // to the outbox: no SMTP configured here
        ]
    );
    assert!(run["finished_at"].is_string());
    assert_eq!(
        run["params"],
        json!({"install_dir": "/opt/cdn", "upgrade_type": "full"})
    );

    // The test server got exactly one task with the merged body.
    let tasks = f.peers.tasks().await;
    assert_eq!(tasks.len(), 1);
    let body = &tasks[0]["body"];
    assert_eq!(body["service_name"], "cds");
    assert_eq!(body["upgrade_type"], "full");
    assert_eq!(body["package_sha256"], sha);
    assert_eq!(body["job_name"], "CDN_CORE");
    assert_eq!(body["build_number"], 101);
    assert_eq!(body["run_id"], id);
    assert_eq!(run["task_id"], tasks[0]["task_id"]);

    // The execution view: Step Functions event names, ended SUCCEEDED.
    let exec = f.execution_done(id).await;
    assert_eq!(exec["status"], "SUCCEEDED", "{exec}");
    assert_eq!(exec["next_cursor"], Value::Null, "one page holds it all");
    // Paging parameters are checked: each bad one is a 400 naming it.
    let long = "A".repeat(3000);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("order=sideways", "order"),
        ("cursor=!!", "cursor"),
        ("cursor=eA", "cursor"),
        (&format!("cursor={long}") as &str, "cursor"),
    ] {
        let body = assert_error(
            f.app
                .get(
                    &format!("/api/v1/deploy-test-runs/{id}/execution?{query}"),
                    Some(&f.user),
                )
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    // Two events a page, newest first, reads the same history backwards.
    let (paged, pages) = history_pages(&f, id, 2, "newest").await;
    let all = exec["events"].as_array().unwrap();
    assert_eq!(pages, all.len().div_ceil(2));
    assert_eq!(paged.iter().rev().cloned().collect::<Vec<_>>(), *all);
    let types: Vec<&str> = exec["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert!(
        types.contains(&"WaitStateEntered")
            && types.contains(&"ChoiceStateEntered")
            && types.contains(&"TaskSucceeded")
    );

    assert!(f.lock_is_free().await);
    let listed: Value = f
        .app
        .get(
            &format!("/api/v1/test-items/{}/deploy-runs", f.item_id),
            Some(&f.user),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], id);
    let by_status: Value = f
        .app
        .get("/api/v1/deploy-test-runs?status=COMPLETED", Some(&f.user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_status["items"].as_array().unwrap().len(), 1);
}

async fn simultaneous_triggers_have_one_winner(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.test_control(json!({"test_seconds": 5})).await;
    let f = std::sync::Arc::new(f);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let r = f
                .trigger_with(json!({"build_info_id": f.build_id, "queue": false}))
                .await;
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    let mut named = BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::ACCEPTED => winners.push(body["id"].as_i64().unwrap()),
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "run_active");
                named.insert(
                    body["error"]["details"]["active_run"]["id"]
                        .as_i64()
                        .unwrap(),
                );
                assert_eq!(
                    body["error"]["details"]["active_run"]["test_item_name"],
                    "cds"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        named,
        BTreeSet::from([winners[0]]),
        "every 409 names the winner"
    );
}

mod one_winner {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        simultaneous_triggers_have_one_winner(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb() {
        simultaneous_triggers_have_one_winner(Backend::Dynamo).await
    }
}

/// Reads the run's whole execution history through the API, `limit` events a page.
async fn history_pages(f: &Flow, id: i64, limit: usize, order: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path =
            format!("/api/v1/deploy-test-runs/{id}/execution?limit={limit}&order={order}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let resp = f.app.get(&path, Some(&f.user)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let page: Value = resp.json().await.unwrap();
        let got = page["events"].as_array().unwrap();
        assert!(got.len() <= limit);
        events.extend(got.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (events, pages),
        }
    }
}
