//! MONITOR: poll trouble tolerated until the deadline or `max_unreachable_seconds`,
//! external failures with their text.

use super::*;
use crate::common;
use chrono::TimeDelta;
use common::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
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

/// A test server that stops answering mid-run: the MONITOR step says since when and how
/// many polls failed (what the site's banner shows) from the first failed poll, and the run
/// fails after `max_unreachable_seconds`, long before `max_monitor_seconds`, freeing the lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_test_server_fails_the_run_after_max_unreachable_seconds() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let admin = f.app.admin_token().await;
    let r = f
        .app
        .client
        .put(f.app.url("/api/v1/settings"))
        .bearer_auth(&admin)
        .json(&json!({"max_unreachable_seconds": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    f.peers.test_control(json!({"poll_fault": "refuse"})).await;
    let id = f.started().await;
    let mut monitor = Value::Null;
    for _ in 0..500 {
        monitor = f.run(id).await["steps"][2].clone();
        if monitor["details"]["failed_polls"].as_u64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let details = &monitor["details"];
    assert!(details["failed_polls"].as_u64() >= Some(2), "{monitor}");
    let since = details["unreachable_since"].as_str().expect("since when");
    let since = chrono::DateTime::parse_from_rfc3339(since).expect("RFC 3339");
    // Until when it keeps trying: the outage limit from the first failed poll.
    let until = details["unreachable_until"].as_str().expect("until when");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("RFC 3339");
    assert_eq!(until - since, TimeDelta::seconds(600), "{monitor}");
    assert_eq!(monitor["status"], "RUNNING", "still trying: {monitor}");
    f.app.clock.advance(TimeDelta::seconds(601));
    let (run, _, _) = f.watch(id).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["steps"][2]["status"], "FAILED");
    assert_eq!(
        run["steps"][2]["details"]["error_name"],
        ErrorName::Timeout.as_str()
    );
    let msg = run["error_message"].as_str().unwrap();
    assert!(
        msg.contains("unreachable since") && msg.contains("max_unreachable_seconds is 600"),
        "{msg}"
    );
    assert!(!msg.contains("10800"), "not the monitoring deadline: {msg}");
    assert!(f.lock_is_free().await);
}

/// An answer ends the streak: the failed polls and since-when are cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_clears_the_unreachable_streak() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers
        .test_control(json!({"poll_fault": "500", "poll_fault_count": 2}))
        .await;
    let id = f.started().await;
    let (run, _, _) = f.watch(id).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let details = &run["steps"][2]["details"];
    assert_eq!(details["failed_polls"], Value::Null, "{run}");
    assert_eq!(details["unreachable_since"], Value::Null, "{run}");
    assert_eq!(details["unreachable_until"], Value::Null, "{run}");
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
