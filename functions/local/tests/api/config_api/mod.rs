//! Test items, environments, parameter sets, job versions and settings over real HTTP, on
//! both stores.
//!
//! The request helpers, the bad-id check and the authorization matrix over every route are
//! here; each area has its module.

use crate::common;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod environments;
mod job_versions;
mod parameter_sets;
mod settings;
mod test_connection;
mod test_items;

on_both_stores!(authorization_matrix,);

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
        (Method::GET, "/api/v1/deploy-test-runs/{}/tests", "run_id"),
        (Method::GET, "/api/v1/deploy-test-runs/{}/compare", "run_id"),
        (Method::GET, "/api/v1/test-items/{}/flaky", "id"),
        (Method::GET, "/api/v1/test-items/{}/tests/a1/history", "id"),
        (Method::POST, "/api/v1/test-items/{}/deploy-test", "id"),
        (Method::GET, "/api/v1/test-items/{}/deploy-runs", "id"),
        (Method::GET, "/api/v1/test-items/{}", "id"),
        (Method::PUT, "/api/v1/test-items/{}", "id"),
        (Method::DELETE, "/api/v1/test-items/{}", "id"),
        (Method::GET, "/api/v1/environments/{}", "id"),
        (Method::PUT, "/api/v1/environments/{}", "id"),
        (Method::DELETE, "/api/v1/environments/{}", "id"),
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
    let env = app
        .ok(
            Method::POST,
            "/api/v1/environments",
            &admin,
            Some(&json!({"name": "lab", "external_test_server_url": "http://127.0.0.1:9001"})),
        )
        .await;
    let (set_id, spare_id, item_id, env_id) = (
        set["id"].as_i64().unwrap(),
        spare["id"].as_i64().unwrap(),
        item["id"].as_i64().unwrap(),
        env["id"].as_i64().unwrap(),
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
            "/api/v1/environments".into(),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::GET,
            format!("/api/v1/environments/{env_id}"),
            None,
            false,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/environments".into(),
            Some(json!({"name": "other", "external_test_server_url": "http://127.0.0.1:9002"})),
            true,
            StatusCode::CREATED,
        ),
        (
            Method::PUT,
            format!("/api/v1/environments/{env_id}"),
            Some(json!({"name": "lab", "external_test_server_url": "http://127.0.0.1:9003"})),
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
        (
            Method::DELETE,
            format!("/api/v1/environments/{env_id}"),
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
