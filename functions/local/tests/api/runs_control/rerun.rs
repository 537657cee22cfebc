//! Re-run: it repeats the run's snapshot and obeys every rule a trigger obeys.

use super::*;
use crate::common;
use common::assert_error;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_repeats_the_snapshot_not_the_current_parameters() {
    let e = env().await;
    let first = e.trigger(&e.user).await["id"].as_i64().unwrap();
    let first_run = e.ended(first).await;
    // The set changes after the first run.
    let r = e
        .app
        .client
        .put(e.app.url(&format!("/api/v1/parameter-sets/{}", e.set_id)))
        .bearer_auth(&e.admin)
        .json(&json!({"params": {"upgrade_type": "update"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let resp = e
        .app
        .client
        .post(
            e.app
                .url(&format!("/api/v1/deploy-test-runs/{first}/rerun")),
        )
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let second: Value = resp.json().await.unwrap();
    let second_id = second["id"].as_i64().unwrap();
    assert_ne!(second_id, first);
    for key in [
        "build",
        "build_info_id",
        "params",
        "parameter_set_id",
        "parameter_set_version",
        "test_item_id",
    ] {
        assert_eq!(second[key], first_run[key], "{key}");
    }
    assert_eq!(second["params"]["upgrade_type"], "full");
    assert_eq!(second["triggered_by"], "admin@example.com");
    let done = e.ended(second_id).await;
    assert_eq!(done["status"], "COMPLETED");
    let tasks = e.peers.tasks().await;
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        tasks[1]["body"]["upgrade_type"], "full",
        "the test server got the snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_obeys_every_rule_trigger_obeys() {
    let e = env().await;
    let first = e.trigger(&e.user).await["id"].as_i64().unwrap();
    assert_eq!(e.ended(first).await["status"], "COMPLETED");
    let runs_before = e.app.state.store.next_id("runs").await.unwrap();
    let rerun = || async {
        e.app
            .client
            .post(
                e.app
                    .url(&format!("/api/v1/deploy-test-runs/{first}/rerun")),
            )
            .bearer_auth(&e.user)
            .send()
            .await
            .unwrap()
    };
    let admin = e.admin.clone();
    let admin_send = |req: reqwest::RequestBuilder| {
        let admin = admin.clone();
        async move {
            let r = req.bearer_auth(&admin).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    let item_url = e.app.url(&format!("/api/v1/test-items/{}", e.item_id));

    // GIVEN the item is disabled WHEN its run is re-run THEN 422, as a trigger.
    admin_send(
        e.app
            .client
            .put(&item_url)
            .json(&json!({"name": "cds", "job_name": "CDN_CORE", "enabled": false})),
    )
    .await;
    assert_error(
        rerun().await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "test_item_disabled",
    )
    .await;
    admin_send(
        e.app
            .client
            .put(&item_url)
            .json(&json!({"name": "cds", "job_name": "CDN_CORE", "enabled": true})),
    )
    .await;

    // Incomplete settings: 422 naming the missing key.
    admin_send(
        e.app
            .client
            .put(e.app.url("/api/v1/settings"))
            .json(&json!({"external_test_server_url": null})),
    )
    .await;
    let body = assert_error(
        rerun().await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "settings_incomplete",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("external_test_server_url"),
        "{body}"
    );
    admin_send(
        e.app
            .client
            .put(e.app.url("/api/v1/settings"))
            .json(&json!({"external_test_server_url": e.peers.test_server.url})),
    )
    .await;

    // The item is deleted: 422, no deploy.
    admin_send(e.app.client.delete(&item_url)).await;
    assert_error(
        rerun().await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "test_item_not_found",
    )
    .await;

    // None of them made a run, took the lock or reached the test server.
    assert_eq!(
        e.peers.tasks().await.len(),
        1,
        "only the first run deployed"
    );
    assert!(
        e.app
            .state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none()
    );
    let page = e.app.state.store.list_runs(None, None, 50).await.unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [first],
        "no run was created (next id was {runs_before})"
    );
}
