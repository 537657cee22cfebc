//! Settings apply without a restart.

use crate::common;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_stores!(settings_apply_without_restart,);

async fn settings_apply_without_restart(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let user = app.user_token("dev@corp.example").await;
    let defaults = app.ok(Method::GET, "/api/v1/settings", &user, None).await;
    assert_eq!(defaults["poll_interval_seconds"], 60);
    assert_eq!(defaults["max_monitor_seconds"], 10800);
    assert_eq!(defaults["max_unreachable_seconds"], 1800);
    assert_eq!(defaults["project_name"], "CRAT");

    let cases = [
        (json!({"poll_interval_seconds": 0}), "poll_interval_seconds"),
        (
            json!({"poll_interval_seconds": 3601}),
            "poll_interval_seconds",
        ),
        (
            json!({"external_test_server_url": "ftp://x"}),
            "external_test_server_url",
        ),
        (
            json!({"package_download_base_url": "relative/path"}),
            "package_download_base_url",
        ),
        (
            json!({"allowed_email_domains": ["bad domain"]}),
            "allowed_email_domains[0]",
        ),
        (json!({"notify_cc": ["x"]}), "notify_cc[0]"),
        (
            json!({"report_origins": ["http://reports.example/path"]}),
            "report_origins[0]",
        ),
        (
            json!({"notify_cc": ["qa@example.com", "a..b@example.com"]}),
            "notify_cc[1]",
        ),
        (json!({"admin_password": "x"}), "admin_password"),
        // More poll cycles than Step Functions' 25,000-event history holds.
        (json!({"poll_interval_seconds": 1}), "poll_interval_seconds"),
        (
            json!({"poll_interval_seconds": 30, "max_monitor_seconds": 100_000}),
            "poll_interval_seconds",
        ),
        // Longer than the state machine's timeout allows (the timing rule).
        (
            json!({"max_monitor_seconds": 604_800}),
            "max_monitor_seconds",
        ),
    ];
    for (body, field) in cases {
        let err = assert_error(
            app.call(Method::PUT, "/api/v1/settings", Some(&admin), Some(&body))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], field, "{body}");
        if body["poll_interval_seconds"] == 1 || body["poll_interval_seconds"] == 30 {
            let message = err["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("max_monitor_seconds")
                    && message.contains("poll_interval_seconds"),
                "both keys named: {message}"
            );
        }
    }
    let after_bad = app.ok(Method::GET, "/api/v1/settings", &user, None).await;
    assert_eq!(after_bad, defaults, "a rejected update changes nothing");

    let updated = app.ok(Method::PUT, "/api/v1/settings", &admin, Some(&json!({"poll_interval_seconds": 5,
        "external_test_server_url": "http://127.0.0.1:9000/", "allowed_email_domains": ["corp.example"]}))).await;
    assert_eq!(updated["external_test_server_url"], "http://127.0.0.1:9000");
    let origins = app
        .ok(
            Method::PUT,
            "/api/v1/settings",
            &admin,
            Some(
                &json!({"report_origins": ["HTTP://Reports.Example:80/", "http://127.0.0.1:8080"]}),
            ),
        )
        .await;
    assert_eq!(
        origins["report_origins"],
        json!(["http://reports.example", "http://127.0.0.1:8080"]),
        "origins are normalised"
    );
    let read = app.ok(Method::GET, "/api/v1/settings", &user, None).await;
    assert_eq!(read["poll_interval_seconds"], 5);
    assert_eq!(
        read["max_monitor_seconds"], 10800,
        "untouched keys keep their values"
    );

    // The allow-list applies to the next login.
    let outsider = app.login("dev@elsewhere.example", None).await;
    assert_error(outsider, StatusCode::FORBIDDEN, "email_domain_not_allowed").await;
    assert_eq!(
        app.login("qa@CORP.example", None).await.status(),
        StatusCode::OK
    );
    app.ok(
        Method::PUT,
        "/api/v1/settings",
        &admin,
        Some(&json!({"allowed_email_domains": []})),
    )
    .await;
    assert_eq!(
        app.login("dev@elsewhere.example", None).await.status(),
        StatusCode::OK
    );
}
