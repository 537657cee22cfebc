//! "Test connection": one GET to the package server or a test server, answering what was
//! reached, with the same client the steps use.

use super::*;
use common::peers::Peers;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_connection_says_what_was_reached_and_why_not() {
    let Some(app) = TestApp::start(Backend::Sqlite, &[]).await else {
        return;
    };
    let peers = Peers::start().await;
    let admin = app.admin_token().await;
    let path = "/api/v1/settings/test-connection";
    // Nothing saved yet: 422 naming what to save (or to send `url`).
    let none = app
        .call(
            Method::POST,
            path,
            Some(&admin),
            Some(&json!({"target": "package_server"})),
        )
        .await;
    let body = assert_error(none, StatusCode::UNPROCESSABLE_ENTITY, "not_configured").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("package_download_base_url"),
        "{body}"
    );
    // The saved URLs: both peers answer.
    app.ok(
        Method::PUT,
        "/api/v1/settings",
        &admin,
        Some(&json!({"package_download_base_url": peers.packages.url,
            "external_test_server_url": peers.test_server.url})),
    )
    .await;
    for target in ["package_server", "test_server"] {
        let a = app
            .ok(
                Method::POST,
                path,
                &admin,
                Some(&json!({ "target": target })),
            )
            .await;
        assert_eq!(a["reached"], true, "{target}: {a}");
        assert!(a["status"].as_u64().is_some(), "{a}");
        assert!(a["detail"].as_str().unwrap().contains("answered"), "{a}");
    }
    // An environment's test server, by id.
    let env = app
        .ok(
            Method::POST,
            "/api/v1/environments",
            &admin,
            Some(&json!({"name": "lab", "external_test_server_url": peers.test_server.url})),
        )
        .await;
    let a = app
        .ok(
            Method::POST,
            path,
            &admin,
            Some(&json!({"target": "test_server", "environment_id": env["id"]})),
        )
        .await;
    assert_eq!(
        (&a["reached"], &a["url"]),
        (&json!(true), &env["external_test_server_url"])
    );
    // A URL typed in a form, nothing listening there: not reached, and why.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let a = app
        .ok(
            Method::POST,
            path,
            &admin,
            Some(&json!({"target": "test_server", "url": format!("http://127.0.0.1:{closed}")})),
        )
        .await;
    assert_eq!(
        (&a["reached"], &a["status"]),
        (&json!(false), &Value::Null),
        "{a}"
    );
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{a}"
    );
    // Bad input names its field; a user may not probe.
    let bad = app
        .call(
            Method::POST,
            path,
            Some(&admin),
            Some(&json!({"target": "test_server", "url": "ftp://x"})),
        )
        .await;
    let body = assert_error(bad, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["error"]["field"], "url");
    let bad = app
        .call(
            Method::POST,
            path,
            Some(&admin),
            Some(&json!({"target": "mail_server"})),
        )
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_field").await;
    let user = app.user_token("dev@example.com").await;
    let refused = app
        .call(
            Method::POST,
            path,
            Some(&user),
            Some(&json!({"target": "test_server"})),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
