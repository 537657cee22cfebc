//! Test environments over HTTP: validation naming each field, the unique name, items on
//! an environment, and the 409 naming the items when one in use is deleted.

use crate::common;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_stores!(environments_are_validated_and_refuse_deletion_while_used,);

async fn environments_are_validated_and_refuse_deletion_while_used(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let user = app.user_token("dev@example.com").await;
    let url = "http://127.0.0.1:9001";
    for (body, field) in [
        (json!({"name": "", "external_test_server_url": url}), "name"),
        (
            json!({"name": "a\nb", "external_test_server_url": url}),
            "name",
        ),
        (json!({"external_test_server_url": url}), "name"),
        (json!({"name": "b"}), "external_test_server_url"),
        (
            json!({"name": "b", "external_test_server_url": "ftp://x"}),
            "external_test_server_url",
        ),
        (
            json!({"name": "b", "external_test_server_url": "http://u:p@h.example"}),
            "external_test_server_url",
        ),
        (
            json!({"name": "b", "external_test_server_url": url, "report_origins": ["http://r.example", "r"]}),
            "report_origins[1]",
        ),
        (
            json!({"name": "b", "external_test_server_url": url, "report_origins": vec!["http://r.example"; 21]}),
            "report_origins",
        ),
        (
            json!({"name": "b", "external_test_server_url": url, "description": "x".repeat(2001)}),
            "description",
        ),
        (
            json!({"name": "b", "external_test_server_url": url, "colour": 1}),
            "colour",
        ),
    ] {
        let err = assert_error(
            app.call(
                Method::POST,
                "/api/v1/environments",
                Some(&admin),
                Some(&body),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }

    let created = app
        .call(
            Method::POST,
            "/api/v1/environments",
            Some(&admin),
            Some(
                &json!({"name": " staging ", "external_test_server_url": "http://127.0.0.1:9001/",
                "report_origins": ["HTTP://Reports.Example:80/"]}),
            ),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let env: Value = created.json().await.unwrap();
    assert_eq!(
        (
            &env["name"],
            &env["external_test_server_url"],
            &env["report_origins"],
            &env["enabled"]
        ),
        (
            &json!("staging"),
            &json!("http://127.0.0.1:9001"),
            &json!(["http://reports.example"]),
            &json!(true)
        )
    );
    let env_id = env["id"].as_i64().unwrap();
    let dup = app
        .call(
            Method::POST,
            "/api/v1/environments",
            Some(&admin),
            Some(&json!({"name": "staging", "external_test_server_url": url})),
        )
        .await;
    let err = assert_error(dup, StatusCode::CONFLICT, "environment_name_taken").await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("name:"),
        "{err}"
    );
    // Users read them (the test item form's picker).
    let listed = app
        .ok(Method::GET, "/api/v1/environments", &user, None)
        .await;
    assert_eq!(listed["items"][0]["id"], env_id);
    let one = app
        .ok(
            Method::GET,
            &format!("/api/v1/environments/{env_id}"),
            &user,
            None,
        )
        .await;
    assert_eq!(one, env);
    let missing = app
        .call(
            Method::PUT,
            "/api/v1/environments/999",
            Some(&admin),
            Some(&json!({"name": "x", "external_test_server_url": url})),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    // A test item names an environment that exists (400 naming the field otherwise).
    let err = assert_error(
        app.call(
            Method::POST,
            "/api/v1/test-items",
            Some(&admin),
            Some(&json!({"name": "cds", "job_name": "CDN_CORE", "environment_id": 999})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(err["error"]["field"], "environment_id", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no environment with id 999"),
        "{err}"
    );
    for bad in [json!(0), json!("x"), json!(-3)] {
        let err = assert_error(
            app.call(
                Method::POST,
                "/api/v1/test-items",
                Some(&admin),
                Some(&json!({"name": "cds", "job_name": "CDN_CORE", "environment_id": bad})),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], "environment_id", "{bad}: {err}");
    }
    let item = app
        .ok(
            Method::POST,
            "/api/v1/test-items",
            &admin,
            Some(&json!({"name": "cds", "job_name": "CDN_CORE", "environment_id": env_id})),
        )
        .await;
    assert_eq!(item["environment_id"], env_id);
    let plain = app
        .ok(
            Method::POST,
            "/api/v1/test-items",
            &admin,
            Some(&json!({"name": "sds", "job_name": "CDN_CORE"})),
        )
        .await;
    assert_eq!(plain["environment_id"], Value::Null, "the default");

    // Deleting it while an item uses it: 409 naming the item.
    let path = format!("/api/v1/environments/{env_id}");
    let err = assert_error(
        app.call(Method::DELETE, &path, Some(&admin), None).await,
        StatusCode::CONFLICT,
        "environment_in_use",
    )
    .await;
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("cds (CDN_CORE"), "{err}");
    assert!(!message.contains("sds"), "{err}");
    assert_eq!(
        err["error"]["details"]["test_item_ids"],
        json!([item["id"]])
    );

    // Renamed and moved off, it goes.
    let renamed = app
        .ok(
            Method::PUT,
            &path,
            &admin,
            Some(&json!({"name": "staging-2", "external_test_server_url": url, "enabled": false})),
        )
        .await;
    assert_eq!(
        (&renamed["name"], &renamed["enabled"]),
        (&json!("staging-2"), &json!(false))
    );
    app.ok(
        Method::PUT,
        &format!("/api/v1/test-items/{}", item["id"]),
        &admin,
        Some(&json!({"name": "cds", "job_name": "CDN_CORE", "environment_id": null})),
    )
    .await;
    let gone = app.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.call(Method::GET, &path, Some(&admin), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
