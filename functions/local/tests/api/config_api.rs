//! Test items, parameter sets, job versions and settings over real HTTP, on both stores.

use crate::common;

use chrono::TimeDelta;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_stores!(
    authorization_matrix,
    test_item_validation_names_each_field,
    parameter_set_validation_and_limits,
    default_and_in_use_sets_cannot_be_deleted,
    three_updates_leave_four_versions,
    job_version_select_sync_and_encoded_names,
    auto_sync_moves_only_due_selections,
    new_build_moves_selection_when_asked,
    settings_apply_without_restart,
);

impl TestApp {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Value {
        let resp = self.call(method.clone(), path, Some(token), body).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// A bad id never reaches a handler: the path extractor answers the JSON 400 naming the
/// route's parameter, on every route that takes an id (the store is not involved, so one
/// backend is enough).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_ids_in_paths_get_the_json_400_naming_the_parameter() {
    let Some(app) = TestApp::start(Backend::Sqlite, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let routes = [
        (Method::GET, "/api/v1/deploy-test-runs/{}", "run_id"),
        (
            Method::GET,
            "/api/v1/deploy-test-runs/{}/execution",
            "run_id",
        ),
        (Method::POST, "/api/v1/deploy-test-runs/{}/cancel", "run_id"),
        (Method::POST, "/api/v1/deploy-test-runs/{}/rerun", "run_id"),
        (Method::POST, "/api/v1/test-items/{}/deploy-test", "id"),
        (Method::GET, "/api/v1/test-items/{}/deploy-runs", "id"),
        (Method::GET, "/api/v1/test-items/{}", "id"),
        (Method::PUT, "/api/v1/test-items/{}", "id"),
        (Method::DELETE, "/api/v1/test-items/{}", "id"),
        (Method::GET, "/api/v1/parameter-sets/{}", "id"),
        (Method::PUT, "/api/v1/parameter-sets/{}", "id"),
        (Method::DELETE, "/api/v1/parameter-sets/{}", "id"),
        (Method::GET, "/api/v1/parameter-sets/{}/versions", "id"),
        (Method::GET, "/api/v1/builds/{}", "id"),
    ];
    for (method, route, field) in routes {
        for bad in ["abc", "-1", "0", "99999999999999999999", "1.5", "%20"] {
            let path = route.replace("{}", bad);
            let body = matches!(method, Method::PUT).then(|| json!({"name": "x"}));
            let resp = app
                .call(method.clone(), &path, Some(&admin), body.as_ref())
                .await;
            assert_eq!(
                resp.headers()["content-type"],
                "application/json",
                "{method} {path}"
            );
            let err = assert_error(resp, StatusCode::BAD_REQUEST, "invalid_field").await;
            assert_eq!(err["error"]["field"], field, "{method} {path}: {err}");
            assert_eq!(
                err["error"]["message"],
                format!("{field}: must be a positive integer id"),
                "{method} {path}: {err}"
            );
        }
    }
    // A good id that names nothing still gets past the extractor to the handler's 404.
    assert_error(
        app.call(
            Method::GET,
            "/api/v1/deploy-test-runs/1",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn build_id(app: &TestApp, job: &str, number: i64) -> i64 {
    let b: Value = app.post_build(job, number).await.json().await.unwrap();
    b["id"].as_i64().unwrap()
}

async fn authorization_matrix(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let user = app.user_token("dev@example.com").await;
    let b1 = build_id(&app, "CDN_CORE", 1).await;
    let set = app
        .ok(
            Method::POST,
            "/api/v1/parameter-sets",
            &admin,
            Some(&json!({"name": "base"})),
        )
        .await;
    let spare = app
        .ok(
            Method::POST,
            "/api/v1/parameter-sets",
            &admin,
            Some(&json!({"name": "spare"})),
        )
        .await;
    let item = app
        .ok(
            Method::POST,
            "/api/v1/test-items",
            &admin,
            Some(&json!({"name": "cds", "job_name": "CDN_CORE"})),
        )
        .await;
    let (set_id, spare_id, item_id) = (
        set["id"].as_i64().unwrap(),
        spare["id"].as_i64().unwrap(),
        item["id"].as_i64().unwrap(),
    );
    app.ok(
        Method::PUT,
        "/api/v1/job-versions",
        &admin,
        Some(&json!({"job_name": "CDN_CORE", "build_id": b1, "auto_sync": false})),
    )
    .await;

    // (method, path, body, admin only, expected success status)
    let item_body = json!({"name": "sds", "job_name": "CDN_CORE"});
    let cases: Vec<(Method, String, Option<Value>, bool, StatusCode)> = vec![
        (
            Method::GET,
            "/api/v1/test-items".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::GET,
            format!("/api/v1/test-items/{item_id}"),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/test-items".into(),
            Some(item_body.clone()),
            true,
            StatusCode::CREATED,
        ),
        (
            Method::PUT,
            format!("/api/v1/test-items/{item_id}"),
            Some(json!({"name": "cds", "job_name": "CDN_CORE", "enabled": false})),
            true,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/parameter-sets".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::GET,
            format!("/api/v1/parameter-sets/{set_id}"),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::GET,
            format!("/api/v1/parameter-sets/{set_id}/versions"),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/parameter-sets".into(),
            Some(json!({"name": "new"})),
            true,
            StatusCode::CREATED,
        ),
        (
            Method::PUT,
            format!("/api/v1/parameter-sets/{set_id}"),
            Some(json!({"description": "x"})),
            true,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/job-versions".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/job-versions/CDN_CORE".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::PUT,
            "/api/v1/job-versions".into(),
            Some(json!({"job_name": "CDN_CORE", "build_id": b1, "auto_sync": true})),
            false,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/job-versions/CDN_CORE/sync".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/job-versions/auto-sync".into(),
            None,
            true,
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/settings".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::PUT,
            "/api/v1/settings".into(),
            Some(json!({"project_name": "CDN"})),
            true,
            StatusCode::OK,
        ),
        (
            Method::DELETE,
            format!("/api/v1/parameter-sets/{spare_id}"),
            None,
            true,
            StatusCode::NO_CONTENT,
        ),
        (
            Method::DELETE,
            "/api/v1/job-versions/CDN_CORE".into(),
            None,
            true,
            StatusCode::NO_CONTENT,
        ),
        (
            Method::DELETE,
            format!("/api/v1/test-items/{item_id}"),
            None,
            true,
            StatusCode::NO_CONTENT,
        ),
    ];
    for (method, path, body, admin_only, success) in cases {
        let anon = app.call(method.clone(), &path, None, body.as_ref()).await;
        assert_eq!(
            anon.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        let as_user = app
            .call(method.clone(), &path, Some(&user), body.as_ref())
            .await;
        if admin_only {
            assert_eq!(
                as_user.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} as a user"
            );
        } else {
            assert_eq!(
                as_user.status(),
                success,
                "{method} {path} as a user: {}",
                as_user.text().await.unwrap()
            );
        }
        let as_admin = app
            .call(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        let expected = if admin_only {
            success
        } else {
            as_admin.status()
        };
        assert!(
            as_admin.status().is_success(),
            "{method} {path} as admin: {}",
            as_admin.status()
        );
        assert_eq!(as_admin.status(), expected, "{method} {path} as admin");
    }
}

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

async fn job_version_select_sync_and_encoded_names(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let user = app.user_token("dev@example.com").await;
    let first = build_id(&app, "team/CDN_CORE", 1).await;
    let newest = build_id(&app, "team/CDN_CORE", 2).await;
    let other = build_id(&app, "OTHER", 1).await;

    let wrong_job = app
        .call(
            Method::PUT,
            "/api/v1/job-versions",
            Some(&user),
            Some(&json!({"job_name": "team/CDN_CORE", "build_id": other, "auto_sync": false})),
        )
        .await;
    assert_error(
        wrong_job,
        StatusCode::UNPROCESSABLE_ENTITY,
        "build_not_in_job",
    )
    .await;
    let missing = app
        .call(
            Method::PUT,
            "/api/v1/job-versions",
            Some(&user),
            Some(&json!({"job_name": "team/CDN_CORE", "build_id": 999, "auto_sync": false})),
        )
        .await;
    assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "build_not_found").await;
    let no_flag = app
        .call(
            Method::PUT,
            "/api/v1/job-versions",
            Some(&user),
            Some(&json!({"job_name": "team/CDN_CORE", "build_id": first})),
        )
        .await;
    let err = assert_error(no_flag, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(err["error"]["field"], "auto_sync");

    let selected = app
        .ok(
            Method::PUT,
            "/api/v1/job-versions",
            &user,
            Some(&json!({"job_name": "team/CDN_CORE", "build_id": first, "auto_sync": false})),
        )
        .await;
    assert_eq!(selected["build"]["build_number"], 1);
    assert_eq!(selected["updated_by"], "dev@example.com");
    let read = app
        .ok(
            Method::GET,
            "/api/v1/job-versions/team%2FCDN_CORE",
            &user,
            None,
        )
        .await;
    assert_eq!(read["build_id"], first);
    assert_eq!(read["job_name"], "team/CDN_CORE");
    let synced = app
        .ok(
            Method::POST,
            "/api/v1/job-versions/team%2FCDN_CORE/sync",
            &user,
            None,
        )
        .await;
    assert_eq!(synced["build_id"], newest);
    // API Gateway hands Lambda the path decoded (`team/CDN_CORE`): the same routes answer.
    let decoded = app
        .ok(
            Method::GET,
            "/api/v1/job-versions/team/CDN_CORE",
            &user,
            None,
        )
        .await;
    assert_eq!(decoded, synced);
    let resynced = app
        .ok(
            Method::POST,
            "/api/v1/job-versions/team/CDN_CORE/sync",
            &user,
            None,
        )
        .await;
    assert_eq!(
        (&resynced["job_name"], &resynced["build_id"]),
        (&json!("team/CDN_CORE"), &json!(newest))
    );
    assert_error(
        app.call(
            Method::POST,
            "/api/v1/job-versions/team/CDN_CORE",
            Some(&user),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let jobs = app.ok(Method::GET, "/api/v1/jobs", &user, None).await;
    let team = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "team/CDN_CORE")
        .unwrap()
        .clone();
    assert_eq!(
        team["selection"]["build_id"], newest,
        "GET /jobs shows the selection: {team}"
    );
    let untouched = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "OTHER")
        .unwrap()
        .clone();
    assert_eq!(untouched["selection"], Value::Null);

    assert_error(
        app.call(Method::GET, "/api/v1/job-versions/NOPE", Some(&user), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.call(
            Method::POST,
            "/api/v1/job-versions/NOPE/sync",
            Some(&user),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "job_has_no_builds",
    )
    .await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.call(
            Method::DELETE,
            "/api/v1/job-versions/team/CDN_CORE",
            Some(&admin),
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.call(
            Method::GET,
            "/api/v1/job-versions/team%2FCDN_CORE",
            Some(&user),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn auto_sync_moves_only_due_selections(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let user = app.user_token("dev@example.com").await;
    let mut first = std::collections::HashMap::new();
    for job in ["STALE", "FRESH", "OFF"] {
        first.insert(job, build_id(&app, job, 1).await);
    }
    for (job, auto) in [("STALE", true), ("OFF", false)] {
        app.ok(
            Method::PUT,
            "/api/v1/job-versions",
            &user,
            Some(&json!({"job_name": job, "build_id": first[job], "auto_sync": auto})),
        )
        .await;
    }
    app.clock.advance(TimeDelta::hours(20));
    app.ok(
        Method::PUT,
        "/api/v1/job-versions",
        &user,
        Some(&json!({"job_name": "FRESH", "build_id": first["FRESH"], "auto_sync": true})),
    )
    .await;
    let mut newest = std::collections::HashMap::new();
    for job in ["STALE", "FRESH", "OFF"] {
        newest.insert(job, build_id(&app, job, 2).await);
    }
    app.clock.advance(TimeDelta::hours(5)); // STALE: 25 h old, FRESH: 5 h, OFF: never
    let (admin, user) = (
        app.admin_token().await,
        app.user_token("dev@example.com").await,
    );
    let report = app
        .ok(Method::POST, "/api/v1/job-versions/auto-sync", &admin, None)
        .await;
    assert_eq!(report["due"], 1);
    assert_eq!(
        report["moved"],
        json!([{"job_name": "STALE", "from_build_id": first["STALE"], "to_build_id": newest["STALE"]}])
    );
    let build_of = |v: Value| v["build_id"].as_i64().unwrap();
    assert_eq!(
        build_of(
            app.ok(Method::GET, "/api/v1/job-versions/STALE", &user, None)
                .await
        ),
        newest["STALE"]
    );
    let stale = app
        .ok(Method::GET, "/api/v1/job-versions/STALE", &user, None)
        .await;
    assert_eq!(stale["updated_by"], "auto-sync");
    assert_eq!(
        build_of(
            app.ok(Method::GET, "/api/v1/job-versions/FRESH", &user, None)
                .await
        ),
        first["FRESH"]
    );
    assert_eq!(
        build_of(
            app.ok(Method::GET, "/api/v1/job-versions/OFF", &user, None)
                .await
        ),
        first["OFF"]
    );

    // A shorter interval in the settings applies at once; OFF never moves.
    app.ok(
        Method::PUT,
        "/api/v1/settings",
        &admin,
        Some(&json!({"auto_sync_interval_hours": 1})),
    )
    .await;
    app.clock.advance(TimeDelta::days(30));
    let (admin, user) = (
        app.admin_token().await,
        app.user_token("dev@example.com").await,
    );
    let report = app
        .ok(Method::POST, "/api/v1/job-versions/auto-sync", &admin, None)
        .await;
    assert_eq!(report["moved"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        build_of(
            app.ok(Method::GET, "/api/v1/job-versions/FRESH", &user, None)
                .await
        ),
        newest["FRESH"]
    );
    assert_eq!(
        build_of(
            app.ok(Method::GET, "/api/v1/job-versions/OFF", &user, None)
                .await
        ),
        first["OFF"]
    );
    // The scheduled handler does the same work.
    let report = auto_sync::handle(&app.state, json!({"source": "aws.events"}))
        .await
        .unwrap();
    assert_eq!(report.moved.len(), 0);
    assert_eq!(report.due, 0, "both auto-sync selections were just synced");
}

async fn new_build_moves_selection_when_asked(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let user = app.user_token("dev@example.com").await;
    let follow = build_id(&app, "FOLLOW", 5).await;
    let stay = build_id(&app, "STAY", 5).await;
    app.ok(Method::PUT, "/api/v1/job-versions", &user, Some(&json!({"job_name": "FOLLOW", "build_id": follow, "auto_sync": true, "sync_on_new_build": true}))).await;
    app.ok(
        Method::PUT,
        "/api/v1/job-versions",
        &user,
        Some(&json!({"job_name": "STAY", "build_id": stay, "auto_sync": true})),
    )
    .await;
    let newer = build_id(&app, "FOLLOW", 6).await;
    build_id(&app, "STAY", 6).await;
    let older = build_id(&app, "FOLLOW", 4).await;
    let now = app
        .ok(Method::GET, "/api/v1/job-versions/FOLLOW", &user, None)
        .await;
    assert_eq!(
        now["build_id"], newer,
        "moved to 6, not back to 4 ({older})"
    );
    assert_eq!(now["sync_on_new_build"], true);
    assert_eq!(
        app.ok(Method::GET, "/api/v1/job-versions/STAY", &user, None)
            .await["build_id"],
        stay
    );
}

async fn settings_apply_without_restart(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    let user = app.user_token("dev@corp.example").await;
    let defaults = app.ok(Method::GET, "/api/v1/settings", &user, None).await;
    assert_eq!(defaults["poll_interval_seconds"], 60);
    assert_eq!(defaults["max_monitor_seconds"], 10800);
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
