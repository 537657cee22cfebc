//! A live run's remaining time (`GET /deploy-test-runs/{id}/estimate`, the Queue view's
//! `active_estimate`), learnt from the item's completed run on the real local server.

use super::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn estimate(f: &Flow, id: i64) -> Value {
    let r = f
        .app
        .get(
            &format!("/api/v1/deploy-test-runs/{id}/estimate"),
            Some(&f.user),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["estimate"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_run_s_estimate_comes_from_the_item_s_completed_runs() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    f.peers.test_control(json!({"test_seconds": 2})).await;
    let first = f.started().await;
    assert_eq!(
        estimate(&f, first).await,
        Value::Null,
        "nothing completed yet: no estimate"
    );
    let (done, _, _) = f.watch(first).await;
    assert_eq!(done["outcome"], "tests_failed", "{done}");
    assert_eq!(
        estimate(&f, first).await,
        Value::Null,
        "an ended run has none"
    );

    f.peers.test_control(json!({"test_seconds": 60})).await;
    let second = f.started().await;
    let mut run = f.run(second).await;
    for _ in 0..500 {
        if run["status"] == "MONITORING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        run = f.run(second).await;
    }
    assert_eq!(run["status"], "MONITORING", "{run}");
    let e = estimate(&f, second).await;
    assert_eq!(e["based_on_runs"], 1, "{e}");
    let percent = e["percent"].as_i64().unwrap();
    assert!((0..=99).contains(&percent), "{e}");
    let remaining = e["remaining_seconds"].as_i64().unwrap();
    assert!(remaining >= 0, "{e}");
    let steps: Vec<&str> = e["step_elapsed_seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["DOWNLOAD", "TRIGGER", "MONITOR"], "{e}");
    // The first run's steps are what the second is measured against.
    for s in e["step_elapsed_seconds"].as_array().unwrap() {
        let name = s["step"].as_str().unwrap();
        let step = done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["step"] == name || d["name"] == name)
            .unwrap();
        let took = (chrono::DateTime::parse_from_rfc3339(step["finished_at"].as_str().unwrap())
            .unwrap()
            - chrono::DateTime::parse_from_rfc3339(step["started_at"].as_str().unwrap()).unwrap())
        .num_seconds();
        assert_eq!(s["usual_seconds"], took, "{name}: {e}");
    }

    let queue: Value = f
        .app
        .get("/api/v1/queue", Some(&f.user))
        .await
        .json()
        .await
        .unwrap();
    let lane = &queue["lanes"][0];
    assert_eq!(lane["active_run"]["id"], second, "{queue}");
    assert_eq!(lane["active_estimate"]["based_on_runs"], 1, "{queue}");

    let r = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/api/v1/deploy-test-runs/{second}/cancel")),
        )
        .bearer_auth(&f.user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(estimate(&f, second).await, Value::Null);
    let missing = f
        .app
        .get("/api/v1/deploy-test-runs/999999/estimate", Some(&f.user))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
