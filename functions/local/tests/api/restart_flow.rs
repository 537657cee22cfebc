//! Durability of a live run: `kill -9` the real `crat` binary while a run is MONITORING,
//! start it again on the same data folder: the execution resumes where it was, the run
//! ends COMPLETED, and the test server saw exactly one task.

use crate::common;

use std::time::Duration;

use common::binary::start;
use common::peers::Peers;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PKG_DIR: &str = "CDN/pass/20250613-master-restart/el7";

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

async fn run_status(client: &Client, base: &str, token: &str, id: i64) -> Value {
    client
        .get(format!("{base}/api/v1/deploy-test-runs/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_survives_kill_9_while_monitoring() {
    let peers = Peers::start().await;
    peers
        .test_control(json!({"deploy_seconds": 2, "test_seconds": 3}))
        .await;
    peers.add_package(PKG_DIR, "cds-2.0.0.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ADMIN_PASSWD", "restart-admin"),
        ("CRAT_TIME_SCALE", "0.05"),
    ];
    let client = Client::new();

    let mut first = start(dir.path(), &env).await;
    let base = first.base.clone();
    let admin = json_of(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "restart-admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let admin = admin["token"].as_str().unwrap().to_owned();
    json_of(client.put(format!("{base}/api/v1/settings")).bearer_auth(&admin)
        .json(&json!({"package_download_base_url": peers.packages.url, "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 2, "max_monitor_seconds": 1200}))
        .send().await.unwrap()).await;
    json_of(
        client
            .post(format!("{base}/api/v1/parameter-sets"))
            .bearer_auth(&admin)
            .json(&json!({"name": "base"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let item = json_of(
        client
            .post(format!("{base}/api/v1/test-items"))
            .bearer_auth(&admin)
            .json(&json!({"name": "cds", "job_name": "CDN_CORE"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let build = json_of(
        client
            .post(format!("{base}/api/v1/builds"))
            .json(&json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": 7, "PACKAGE_PATH": PKG_DIR}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let trigger = client
        .post(format!(
            "{base}/api/v1/test-items/{}/deploy-test",
            item["id"]
        ))
        .bearer_auth(&admin)
        .json(&json!({"build_info_id": build["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(trigger.status(), StatusCode::ACCEPTED);
    let id = trigger.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // Wait for MONITORING with a first poll done, then kill -9.
    let mut monitoring = false;
    for _ in 0..600 {
        let run = run_status(&client, &base, &admin, id).await;
        if run["status"] == "MONITORING"
            && run["steps"][2]["details"]["polls"].as_u64().unwrap_or(0) >= 1
        {
            monitoring = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        monitoring,
        "the run reached MONITORING: {}",
        run_status(&client, &base, &admin, id).await
    );
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    assert_eq!(peers.tasks().await.len(), 1);

    let second = start(dir.path(), &env).await;
    let base = second.base.clone();
    let mut last = Value::Null;
    for _ in 0..1200 {
        last = run_status(&client, &base, &admin, id).await;
        if last["status"] != "MONITORING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last["status"], "COMPLETED", "{last}");
    assert_eq!(
        peers.tasks().await.len(),
        1,
        "exactly one task was created at the test server"
    );
    // The execution ends after the result mail (to the outbox here).
    let mut exec = Value::Null;
    for _ in 0..400 {
        exec = client
            .get(format!("{base}/api/v1/deploy-test-runs/{id}/execution"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if exec["status"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(exec["status"], "SUCCEEDED", "{exec}");
    let run = run_status(&client, &base, &admin, id).await;
    assert_eq!(
        run["notification"]["status"], "SENT",
        "one result mail: {run}"
    );
    let outbox = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(outbox, 1, "exactly one mail");
    // The lock is free: the next trigger is accepted.
    let again = client
        .post(format!(
            "{base}/api/v1/test-items/{}/deploy-test",
            item["id"]
        ))
        .bearer_auth(&admin)
        .json(&json!({"build_info_id": build["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
}
