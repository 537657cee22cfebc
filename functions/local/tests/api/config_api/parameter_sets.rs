//! Parameter sets: validation, limits, what cannot be deleted, versions.

use crate::common;
use chrono::TimeDelta;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_stores!(
    parameter_set_validation_and_limits,
    default_and_in_use_sets_cannot_be_deleted,
    three_updates_leave_four_versions,
);

async fn parameter_set_validation_and_limits(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "a\nb"}), "name"),
        (json!({"name": "x", "params": []}), "params"),
        (
            json!({"name": "x", "params": {"install_dir": "relative"}}),
            "params.install_dir",
        ),
        (
            json!({"name": "x", "params": {"upgrade_type": "sideways"}}),
            "params.upgrade_type",
        ),
        (
            json!({"name": "x", "params": {"service_name": 7}}),
            "params.service_name",
        ),
        (
            json!({"name": "x", "params": {"blob": "y".repeat(16 * 1024)}}),
            "params",
        ),
    ];
    for (body, field) in cases {
        let err = assert_error(
            app.call(
                Method::POST,
                "/api/v1/parameter-sets",
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
    let set = app.ok(Method::POST, "/api/v1/parameter-sets", &admin,
        Some(&json!({"name": "base", "params": {"install_dir": "/opt/cdn", "upgrade_type": "full", "custom": {"x": 1}}}))).await;
    assert_eq!(set["params"]["custom"], json!({"x": 1}));
    assert_eq!(set["is_default"], true);
    let dup = app
        .call(
            Method::POST,
            "/api/v1/parameter-sets",
            Some(&admin),
            Some(&json!({"name": "base"})),
        )
        .await;
    assert_error(dup, StatusCode::CONFLICT, "conflict").await;
    let id = set["id"].as_i64().unwrap();
    let bad_update = app
        .call(
            Method::PUT,
            &format!("/api/v1/parameter-sets/{id}"),
            Some(&admin),
            Some(&json!({"params": {"upgrade_type": 1}})),
        )
        .await;
    let err = assert_error(bad_update, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(err["error"]["field"], "params.upgrade_type");
    let undefault = app
        .call(
            Method::PUT,
            &format!("/api/v1/parameter-sets/{id}"),
            Some(&admin),
            Some(&json!({"is_default": false})),
        )
        .await;
    assert_error(undefault, StatusCode::CONFLICT, "default_required").await;
}

async fn default_and_in_use_sets_cannot_be_deleted(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let default = app
        .ok(
            Method::POST,
            "/api/v1/parameter-sets",
            &admin,
            Some(&json!({"name": "base"})),
        )
        .await;
    let used = app
        .ok(
            Method::POST,
            "/api/v1/parameter-sets",
            &admin,
            Some(&json!({"name": "used"})),
        )
        .await;
    assert_eq!(used["is_default"], false);
    let (default_id, used_id) = (
        default["id"].as_i64().unwrap(),
        used["id"].as_i64().unwrap(),
    );
    app.ok(
        Method::POST,
        "/api/v1/test-items",
        &admin,
        Some(&json!({"name": "cds", "job_name": "CDN_CORE", "parameter_set_id": used_id})),
    )
    .await;

    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/parameter-sets/{default_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(del, StatusCode::CONFLICT, "parameter_set_is_default").await;
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/parameter-sets/{used_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(del, StatusCode::CONFLICT, "parameter_set_in_use").await;

    // Moving the default frees the old one.
    let moved = app
        .ok(
            Method::PUT,
            &format!("/api/v1/parameter-sets/{used_id}"),
            &admin,
            Some(&json!({"is_default": true})),
        )
        .await;
    assert_eq!(moved["is_default"], true);
    assert_eq!(
        moved["version"], 1,
        "moving the default is not a content change"
    );
    let old: Value = app
        .ok(
            Method::GET,
            &format!("/api/v1/parameter-sets/{default_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(old["is_default"], false);
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/parameter-sets/{default_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let del = app
        .call(
            Method::DELETE,
            &format!("/api/v1/parameter-sets/{default_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(del, StatusCode::NOT_FOUND, "not_found").await;
}

async fn three_updates_leave_four_versions(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let user = app.user_token("dev@example.com").await;
    let set = app
        .ok(
            Method::POST,
            "/api/v1/parameter-sets",
            &admin,
            Some(&json!({"name": "base", "params": {"upgrade_type": "full"}})),
        )
        .await;
    let id = set["id"].as_i64().unwrap();
    for (n, body) in [
        (2, json!({"params": {"upgrade_type": "update"}})),
        (3, json!({"description": "tuned"})),
        (
            4,
            json!({"name": "base-v4", "params": {"upgrade_type": "full", "install_dir": "/opt/cdn"}}),
        ),
    ] {
        app.clock.advance(TimeDelta::minutes(1));
        let updated = app
            .ok(
                Method::PUT,
                &format!("/api/v1/parameter-sets/{id}"),
                &admin,
                Some(&body),
            )
            .await;
        assert_eq!(updated["version"], n);
    }
    let versions = app
        .ok(
            Method::GET,
            &format!("/api/v1/parameter-sets/{id}/versions"),
            &user,
            None,
        )
        .await;
    let items = versions["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [4, 3, 2, 1]
    );
    assert_eq!(items[3]["params"], json!({"upgrade_type": "full"}));
    assert_eq!(items[2]["params"], json!({"upgrade_type": "update"}));
    assert_eq!(items[1]["description"], "tuned");
    assert_eq!(items[0]["name"], "base-v4");
    assert_eq!(items[0]["updated_by"], "admin@example.com");
    let page = app
        .ok(
            Method::GET,
            &format!("/api/v1/parameter-sets/{id}/versions?limit=3"),
            &user,
            None,
        )
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .ok(
            Method::GET,
            &format!("/api/v1/parameter-sets/{id}/versions?limit=3&cursor={cursor}"),
            &user,
            None,
        )
        .await;
    assert_eq!(rest["items"][0]["version"], 1);
    assert_error(
        app.call(
            Method::GET,
            "/api/v1/parameter-sets/999/versions",
            Some(&user),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
