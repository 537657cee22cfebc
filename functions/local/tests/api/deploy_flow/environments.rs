//! Runs go to their test item's environment: the trigger posts to that environment's
//! test server, the polls ask it, and its origin is where the report is read from.

use super::{PKG_DIR, setup};
use crate::common;
use common::Backend;
use common::peers::start_peer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The tasks a test-server double created.
async fn tasks_on(client: &reqwest::Client, server: &str) -> Vec<Value> {
    let v: Value = client
        .get(format!("{server}/_tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["tasks"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_of_an_item_on_environment_b_reaches_b_s_test_server() {
    // GIVEN the default test server (the settings'), environment A on a second double and
    // environment B on a third, and the item on B
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "cds-1.0.0-abc.x86_64.tar.gz");
    let args = [
        "--deploy-seconds",
        "0.2",
        "--test-seconds",
        "0.2",
        "--pending-seconds",
        "0.1",
    ];
    let server_a = start_peer("test_server.py", &args).await;
    let server_b = start_peer("test_server.py", &args).await;
    let admin = f.app.admin_token().await;
    let client = &f.app.client;
    let mut env_ids = Vec::new();
    for (name, server) in [("A", &server_a.url), ("B", &server_b.url)] {
        let resp = client
            .post(f.app.url("/api/v1/environments"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "external_test_server_url": server}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        env_ids.push(resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let on = |env: Option<i64>| {
        let req = client
            .put(f.app.url(&format!("/api/v1/test-items/{}", f.item_id)))
            .bearer_auth(&admin)
            .json(&json!({"name": "cds", "job_name": "CDN_CORE", "environment_id": env}));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    };
    on(Some(env_ids[1])).await;

    // WHEN it runs
    let id = f.started().await;
    let (run, _, _) = f.watch(id).await;

    // THEN B's server had the task, the report came from B and was read; neither the
    // default nor A saw anything
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["environment_id"], env_ids[1]);
    assert_eq!(run["test_server_url"], server_b.url.as_str());
    let on_b = tasks_on(client, &server_b.url).await;
    assert_eq!(on_b.len(), 1);
    assert_eq!(on_b[0]["body"]["run_id"], id);
    assert_eq!(run["task_id"], on_b[0]["task_id"]);
    assert!(
        run["report_url"]
            .as_str()
            .unwrap()
            .starts_with(&server_b.url),
        "{run}"
    );
    assert_eq!(run["report_refused"], Value::Null, "B's own origin is read");
    assert!(
        f.peers.tasks().await.is_empty(),
        "the default server saw nothing"
    );
    assert!(tasks_on(client, &server_a.url).await.is_empty());

    // AND back on the default environment, the next run goes to the settings' server
    on(None).await;
    let second = f.started().await;
    let (run, _, _) = f.watch(second).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["environment_id"], Value::Null);
    assert_eq!(run["test_server_url"], f.peers.test_server.url.as_str());
    assert_eq!(f.peers.tasks().await.len(), 1);
    assert_eq!(tasks_on(client, &server_b.url).await.len(), 1);
}
