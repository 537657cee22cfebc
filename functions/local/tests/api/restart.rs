//! The real `crat` binary: prints what a newcomer needs, keeps builds across a hard kill
//! and restart, and keeps its generated secrets (tokens stay valid, the admin password is
//! printed only the first time).

use crate::common;

use common::binary::start;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn builds_and_sessions_survive_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let body = json!({"BUILD_USER":"JenkinsUser","JOB_NAME":"CDN_CORE",
        "PACKAGE_PATH":"CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7","BUILD_NUMBER":"101"});

    let mut first = start(dir.path(), &[]).await;
    let banner = first.banner.join("\n");
    assert!(banner.contains("Data folder: "), "{banner}");
    let password_line = first
        .banner
        .iter()
        .find(|l| l.starts_with("Admin password"))
        .expect("first start prints the admin password");
    let password = password_line.rsplit(": ").next().unwrap().to_owned();
    let kept = std::fs::read_to_string(dir.path().join("admin_password")).unwrap();
    assert_eq!(kept.trim(), password);

    let created = client
        .post(format!("{}/api/v1/builds", first.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let login: Value = client
        .post(format!("{}/api/v1/auth/login", first.base))
        .json(&json!({"email": "admin@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["user"]["is_admin"], true, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();

    first.child.start_kill().unwrap(); // SIGKILL: no graceful shutdown
    first.child.wait().await.unwrap();

    let second = start(dir.path(), &[]).await;
    assert!(
        !second
            .banner
            .iter()
            .any(|l| l.starts_with("Admin password")),
        "printed once: {:?}",
        second.banner
    );
    let repeat = client
        .post(format!("{}/api/v1/builds", second.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.status(), StatusCode::OK);
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["id"], created["id"]);
    let list = client
        .get(format!(
            "{}/api/v1/builds?job_name=CDN_CORE&limit=10",
            second.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.status(),
        StatusCode::OK,
        "the token and its session survive the restart"
    );
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["items"], json!([created]));
}
