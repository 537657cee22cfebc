//! Test item validation: every bad field is named.

use crate::common;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_stores!(test_item_validation_names_each_field,);

async fn test_item_validation_names_each_field(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let cases = [
        (json!({"name": "", "job_name": "CDN_CORE"}), "name"),
        (json!({"name": "c/ds", "job_name": "CDN_CORE"}), "name"),
        (json!({"name": "cds", "job_name": ""}), "job_name"),
        (json!({"name": "cds", "job_name": "a\u{0}b"}), "job_name"),
        (
            json!({"name": "cds", "job_name": "CDN_CORE", "parameter_set_id": "x"}),
            "parameter_set_id",
        ),
        (
            json!({"name": "cds", "job_name": "CDN_CORE", "notify_emails": ["nope"]}),
            "notify_emails[0]",
        ),
        // Refused at input by the mailer's own rules, not at send time.
        (
            json!({"name": "cds", "job_name": "CDN_CORE", "notify_emails": ["qa@example.com", "a..b@example.com"]}),
            "notify_emails[1]",
        ),
        (
            json!({"name": "cds", "job_name": "CDN_CORE", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"name": "cds", "job_name": "CDN_CORE", "description": "x".repeat(2001)}),
            "description",
        ),
        (json!({"job_name": "CDN_CORE"}), "name"),
    ];
    for (body, field) in cases {
        let err = assert_error(
            app.call(
                Method::POST,
                "/api/v1/test-items",
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
    // A well-formed id of a set that does not exist: valid JSON that cannot be acted on
    // (422, as for an unknown build_id), named in the message.
    let missing_set = app
        .call(
            Method::POST,
            "/api/v1/test-items",
            Some(&admin),
            Some(&json!({"name": "cds", "job_name": "CDN_CORE", "parameter_set_id": 999})),
        )
        .await;
    let err = assert_error(
        missing_set,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_set_not_found",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("parameter_set_id:"),
        "{err}"
    );
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/test-items",
            Some(&admin),
            Some(&json!({"name": "cds", "job_name": "J", "colour": 1})),
        )
        .await;
    let err = assert_error(unknown, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(err["error"]["field"], "colour");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected one of"),
        "lists the known fields: {err}"
    );

    let item = app.ok(Method::POST, "/api/v1/test-items", &admin, Some(&json!({"name": "cds", "job_name": "team/CDN_CORE", "notify_emails": ["QA@example.com"]}))).await;
    assert_eq!(item["enabled"], true);
    assert_eq!(item["parameter_set_id"], Value::Null);
    assert_eq!(item["notify_emails"], json!(["qa@example.com"]));
    let dup = app
        .call(
            Method::POST,
            "/api/v1/test-items",
            Some(&admin),
            Some(&json!({"name": "cds", "job_name": "team/CDN_CORE"})),
        )
        .await;
    assert_error(dup, StatusCode::CONFLICT, "conflict").await;
    let missing = app
        .call(
            Method::PUT,
            "/api/v1/test-items/999",
            Some(&admin),
            Some(&json!({"name": "cds", "job_name": "X"})),
        )
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
}
