//! Queued runs are durable: `kill -9` the real `crat` binary with one run active and three
//! queued; after the restart all four finish, one at a time, in the order they were queued.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::binary::start;
use common::peers::Peers;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PKG_DIR: &str = "CDN/pass/20250613-master-queue/el7";

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_runs_survive_kill_9_and_start_in_order() {
    let peers = Peers::start().await;
    peers
        .test_control(json!({"deploy_seconds": 0, "test_seconds": 3, "pending_seconds": 0}))
        .await;
    peers.add_package(PKG_DIR, "cds-2.0.0.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let env = [("ADMIN_PASSWD", "queue-admin"), ("CRAT_TIME_SCALE", "0.05")];
    let client = Client::new();

    let mut first = start(dir.path(), &env).await;
    let base = first.base.clone();
    let login = json_of(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "queue-admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let admin = login["token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        let req = client
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    json_of(client.put(format!("{base}/api/v1/settings")).bearer_auth(&admin)
        .json(&json!({"package_download_base_url": peers.packages.url, "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 2, "max_monitor_seconds": 1200}))
        .send().await.unwrap()).await;
    json_of(post("/api/v1/parameter-sets", json!({"name": "base"})).await).await;
    let item = json_of(
        post(
            "/api/v1/test-items",
            json!({"name": "cds", "job_name": "CDN_CORE"}),
        )
        .await,
    )
    .await;
    let trigger_path = format!("/api/v1/test-items/{}/deploy-test", item["id"]);
    let mut ids = Vec::new();
    for number in 7..=10 {
        let build = json_of(
            post(
                "/api/v1/builds",
                json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": number, "PACKAGE_PATH": PKG_DIR}),
            )
            .await,
        )
        .await;
        let r = post(&trigger_path, json!({"build_info_id": build["id"]})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let run: Value = r.json().await.unwrap();
        let expected = if ids.is_empty() {
            json!(null)
        } else {
            json!(ids.len())
        };
        assert_eq!(run["queue_position"], expected, "{run}");
        ids.push(run["id"].as_i64().unwrap());
    }
    let run_of = |base: String, id: i64| {
        let req = client
            .get(format!("{base}/api/v1/deploy-test-runs/{id}"))
            .bearer_auth(&admin);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // Wait for the first to be MONITORING, then kill -9.
    let mut monitoring = false;
    for _ in 0..600 {
        if run_of(base.clone(), ids[0]).await["status"] == "MONITORING" {
            monitoring = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(monitoring, "{}", run_of(base.clone(), ids[0]).await);
    peers.test_control(json!({"test_seconds": 0})).await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = start(dir.path(), &env).await;
    let base = second.base.clone();
    let mut runs = Vec::new();
    for _ in 0..1600 {
        runs.clear();
        for id in &ids {
            runs.push(run_of(base.clone(), *id).await);
        }
        if runs.iter().all(|r| r["notification"].is_object()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for run in &runs {
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    // In the order they were queued, each starting after the one before ended.
    for pair in runs.windows(2) {
        assert!(
            time(&pair[1]["started_at"]) >= time(&pair[0]["finished_at"]),
            "run {} started before run {} ended",
            pair[1]["id"],
            pair[0]["id"]
        );
    }
    assert_eq!(peers.tasks().await.len(), 4, "one task per run");
}
