#![allow(clippy::unwrap_used)]
//! Every endpoint the local server serves is in the OpenAPI document, and nothing else is.

mod common;

use common::{Backend, TestApp};
use serde_json::Value;

const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/api/v1/builds"),
    ("get", "/api/v1/builds"),
    ("get", "/api/v1/builds/{id}"),
    ("get", "/api/v1/jobs"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions/{email}"),
    ("get", "/api/v1/test-items"),
    ("post", "/api/v1/test-items"),
    ("get", "/api/v1/test-items/{id}"),
    ("put", "/api/v1/test-items/{id}"),
    ("delete", "/api/v1/test-items/{id}"),
    ("get", "/api/v1/parameter-sets"),
    ("post", "/api/v1/parameter-sets"),
    ("get", "/api/v1/parameter-sets/{id}"),
    ("put", "/api/v1/parameter-sets/{id}"),
    ("delete", "/api/v1/parameter-sets/{id}"),
    ("get", "/api/v1/parameter-sets/{id}/versions"),
    ("get", "/api/v1/job-versions"),
    ("put", "/api/v1/job-versions"),
    ("get", "/api/v1/job-versions/{job_name}"),
    ("delete", "/api/v1/job-versions/{job_name}"),
    ("post", "/api/v1/job-versions/{job_name}/sync"),
    ("post", "/api/v1/job-versions/auto-sync"),
    ("post", "/api/v1/test-items/{id}/deploy-test"),
    ("get", "/api/v1/test-items/{id}/deploy-runs"),
    ("get", "/api/v1/deploy-test-runs"),
    ("get", "/api/v1/deploy-test-runs/{run_id}"),
    ("get", "/api/v1/deploy-test-runs/{run_id}/execution"),
    ("post", "/api/v1/deploy-test-runs/{run_id}/cancel"),
    ("post", "/api/v1/deploy-test-runs/{run_id}/rerun"),
    ("get", "/api/v1/outbox"),
    ("get", "/api/v1/settings"),
    ("put", "/api/v1/settings"),
];

#[tokio::test]
async fn openapi_lists_every_endpoint() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["openapi"].as_str().unwrap().split('.').next(),
        Some("3")
    );
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // Every documented path answers (not the 404 fallback) on this server.
    for (method, path) in ENDPOINTS {
        let concrete = path
            .replace("{id}", "1")
            .replace("{run_id}", "1")
            .replace("{email}", "a%40example.com")
            .replace("{job_name}", "J");
        let resp = app
            .client
            .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"]["code"], "not_found",
            "{method} {path} is not routed"
        );
        assert_ne!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path} is not routed"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
