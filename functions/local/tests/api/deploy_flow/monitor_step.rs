//! MONITOR: poll trouble tolerated until the deadline, external failures with their text.

use super::*;
use crate::common;
use chrono::TimeDelta;
use common::Backend;
use serde_json::json;
use shared::tasks::ErrorName;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_poll_trouble_is_tolerated() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    // "timeout" hangs past poll_request_timeout_seconds (2 s).
    for fault in ["500", "garbage", "timeout"] {
        f.peers
            .test_control(json!({"poll_fault": fault, "poll_fault_count": 3, "timeout_seconds": 5}))
            .await;
        let id = f.started().await;
        let (run, _, _) = f.watch(id).await;
        assert_eq!(run["status"], "COMPLETED", "{fault}: {run}");
        assert!(
            run["steps"][2]["details"]["polls"].as_u64().unwrap() >= 4,
            "{fault}: {run}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poll_trouble_past_the_deadline_fails_at_monitor() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.test_control(json!({"poll_fault": "500"})).await;
    let id = f.started().await;
    // Wait until it is polling, then move the clock past max_monitor_seconds (10800).
    for _ in 0..500 {
        if f.run(id).await["steps"][2]["details"]["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.app.clock.advance(TimeDelta::seconds(10_801));
    let (run, _, _) = f.watch(id).await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["steps"][2]["status"], "FAILED");
    assert_eq!(
        run["steps"][2]["details"]["error_name"],
        ErrorName::Timeout.as_str()
    );
    let msg = run["error_message"].as_str().unwrap();
    assert!(msg.contains("10800") && msg.contains("500"), "{msg}");
    assert!(f.lock_is_free().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn external_failure_fails_at_monitor_with_its_text() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers
        .test_control(json!({"outcome": "failed", "error": "nginx would not start"}))
        .await;
    let run = f.fails_at("MONITOR").await;
    assert!(
        run["error_message"]
            .as_str()
            .unwrap()
            .contains("nginx would not start"),
        "{run}"
    );
    assert_eq!(
        run["steps"][2]["details"]["error_name"],
        ErrorName::TestFailed.as_str()
    );
    let exec = f.execution_done(run["id"].as_i64().unwrap()).await;
    assert_eq!(exec["status"], "FAILED", "{exec}");
}
