//! Every endpoint the local server serves is in the OpenAPI document, and nothing else is;
//! the document meta serves is the one the routers' annotations give; every route reaches
//! its function through the template's HTTP API (`template_routes`).

use crate::common;

use common::{Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::Value;

/// `make openapi` runs [`the_checked_in_document_is_what_the_routers_document`] with this
/// set: it rewrites the checked-in file instead of comparing.
const WRITE_VAR: &str = "CRAT_WRITE_OPENAPI";

/// meta serves `functions/meta/openapi.json` as checked in (it does not link the routers):
/// it must be exactly what `local::openapi::document()` assembles from them today.
#[test]
fn the_checked_in_document_is_what_the_routers_document() {
    let built = local::openapi::document_json().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(local::openapi::CHECKED_IN_PATH);
    if std::env::var_os(WRITE_VAR).is_some() {
        std::fs::write(&path, &built).unwrap();
        return;
    }
    if meta::OPENAPI_JSON != built {
        let first_difference = meta::OPENAPI_JSON
            .lines()
            .zip(built.lines())
            .position(|(served, wanted)| served != wanted)
            .unwrap_or_else(|| {
                meta::OPENAPI_JSON
                    .lines()
                    .count()
                    .min(built.lines().count())
            });
        panic!(
            "{} is not what the routers document (first difference at line {}: {:?}, expected {:?}): run `make openapi` and commit the file",
            local::openapi::CHECKED_IN_PATH,
            first_difference + 1,
            meta::OPENAPI_JSON
                .lines()
                .nth(first_difference)
                .unwrap_or("<end>"),
            built.lines().nth(first_difference).unwrap_or("<end>"),
        );
    }
}

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
    ("get", "/api/v1/environments"),
    ("post", "/api/v1/environments"),
    ("get", "/api/v1/environments/{id}"),
    ("put", "/api/v1/environments/{id}"),
    ("delete", "/api/v1/environments/{id}"),
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
    ("get", "/api/v1/deploy-test-runs/{run_id}/estimate"),
    ("post", "/api/v1/deploy-test-runs/{run_id}/cancel"),
    ("post", "/api/v1/deploy-test-runs/{run_id}/rerun"),
    ("get", "/api/v1/deploy-test-runs/{run_id}/tests"),
    ("get", "/api/v1/deploy-test-runs/{run_id}/compare"),
    ("get", "/api/v1/test-items/{id}/flaky"),
    ("get", "/api/v1/test-items/{id}/tests/{test_id}/history"),
    ("get", "/api/v1/queue"),
    ("post", "/api/v1/environments/{id}/release"),
    ("get", "/api/v1/outbox"),
    ("get", "/api/v1/settings"),
    ("put", "/api/v1/settings"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/settings/test-connection"),
    ("get", "/api/v1/outbox/{file}"),
    ("get", "/api/v1/outbox/{file}/preview"),
    ("get", "/api/v1/notification-channels"),
    ("post", "/api/v1/notification-channels"),
    ("get", "/api/v1/notification-channels/{id}"),
    ("put", "/api/v1/notification-channels/{id}"),
    ("delete", "/api/v1/notification-channels/{id}"),
    ("post", "/api/v1/notification-channels/{id}/test"),
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

/// A 405 names exactly the documented methods of the path it answers, also under
/// `/job-versions/`, where one wildcard route serves `{job_name}` and `{job_name}/sync`.
#[tokio::test]
async fn method_not_allowed_lists_the_documented_methods_of_job_version_paths() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    for (path, allow) in [
        ("/api/v1/job-versions/J", "GET,HEAD,DELETE"),
        ("/api/v1/job-versions/team%2FJ", "GET,HEAD,DELETE"),
        ("/api/v1/job-versions/J/sync", "POST"),
    ] {
        let resp = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{path}");
        assert_eq!(
            resp.headers().get("allow").unwrap().to_str().unwrap(),
            allow,
            "{path}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{path}");
    }
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

/// The document names every error a route can give, each with the error body: 401 where a
/// token is needed, 403 where an admin one is, 400 where there is input, 404 where the path
/// names a resource, 413/415 where there is a JSON body.
#[tokio::test]
async fn openapi_documents_every_error_a_route_gives() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let admin_routes = [
        ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions/{email}"),
        ("post", "/api/v1/test-items"),
        ("put", "/api/v1/test-items/{id}"),
        ("delete", "/api/v1/test-items/{id}"),
        ("post", "/api/v1/environments"),
        ("put", "/api/v1/environments/{id}"),
        ("delete", "/api/v1/environments/{id}"),
        ("post", "/api/v1/parameter-sets"),
        ("put", "/api/v1/parameter-sets/{id}"),
        ("delete", "/api/v1/parameter-sets/{id}"),
        ("delete", "/api/v1/job-versions/{job_name}"),
        ("post", "/api/v1/job-versions/auto-sync"),
        ("put", "/api/v1/settings"),
        ("get", "/api/v1/outbox"),
        ("get", "/api/v1/audit"),
        ("post", "/api/v1/settings/test-connection"),
        ("get", "/api/v1/outbox/{file}"),
        ("get", "/api/v1/outbox/{file}/preview"),
        ("get", "/api/v1/notification-channels"),
        ("post", "/api/v1/notification-channels"),
        ("get", "/api/v1/notification-channels/{id}"),
        ("put", "/api/v1/notification-channels/{id}"),
        ("delete", "/api/v1/notification-channels/{id}"),
        ("post", "/api/v1/notification-channels/{id}/test"),
    ];
    let open_routes = [("post", "/api/v1/builds"), ("post", "/api/v1/auth/login")];
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        let has = |s: &str| responses.contains_key(s);
        for (status, r) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{at} {status}"
                );
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let is_open = open_routes.contains(&(method.as_str(), path.as_str()));
        assert_eq!(secured, !is_open, "{at}: bearer security");
        if secured {
            assert!(has("401"), "{at}: 401");
        }
        let is_admin = admin_routes.contains(&(method.as_str(), path.as_str()));
        let roles = op["security"][0]["bearer"].clone();
        assert_eq!(
            roles == serde_json::json!(["admin"]),
            is_admin,
            "{at}: admin role"
        );
        if is_admin {
            assert!(has("403"), "{at}: 403");
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params.is_empty() || op.get("requestBody").is_some() {
            assert!(has("400"), "{at}: 400");
        }
        if params.iter().any(|p| p["in"] == "path") {
            assert!(has("404"), "{at}: 404");
        }
        if op.get("requestBody").is_some() {
            assert!(has("413") && has("415"), "{at}: 413/415");
        }
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"];
    assert!(login.get("429").is_some());
    for (method, path, status) in [
        ("post", "/api/v1/test-items/{id}/deploy-test", "409"),
        ("post", "/api/v1/test-items/{id}/deploy-test", "422"),
        ("post", "/api/v1/test-items", "422"),
        ("put", "/api/v1/job-versions", "422"),
        ("post", "/api/v1/parameter-sets", "409"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]
                .get(status)
                .is_some(),
            "{method} {path} {status}"
        );
    }
}

/// Request constraints in the schema match what the code enforces.
#[tokio::test]
async fn openapi_states_the_request_constraints() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let param = |method: &str, path: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]
            .clone()
    };
    // limit 1..=200 and the run status enum.
    let limit = param("get", "/api/v1/builds", "limit");
    assert_eq!(
        (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
        (Some(1), Some(200))
    );
    let status = param("get", "/api/v1/deploy-test-runs", "status");
    let status = if status.get("$ref").is_some() {
        schemas["RunStatus"].clone()
    } else {
        status
    };
    assert!(status.to_string().contains("MONITORING"), "{status}");
    // Ids are positive.
    assert_eq!(param("get", "/api/v1/builds/{id}", "id")["minimum"], 1);
    // Email: the path parameter and the login body share the rules.
    let email = param("delete", "/api/v1/auth/sessions/{email}", "email");
    assert_eq!(
        email["pattern"],
        schemas["LoginRequest"]["properties"]["email"]["pattern"]
    );
    assert_eq!(email["maxLength"], 254);
    // BUILD_NUMBER: a positive integer or its digits.
    let bn = schemas["WebhookBuild"]["properties"]["BUILD_NUMBER"].to_string();
    assert!(bn.contains("oneOf") && bn.contains("\"minimum\":1"), "{bn}");
    let job = &schemas["WebhookBuild"]["properties"]["JOB_NAME"];
    assert_eq!(
        (job["minLength"].as_i64(), job["maxLength"].as_i64()),
        (Some(1), Some(200))
    );
    regex_lite(job["pattern"].as_str().unwrap());
    for (name, schema) in schemas.as_object().unwrap() {
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(p) = prop["pattern"].as_str() {
                regex_lite(p);
                assert!(
                    p.starts_with('^') && p.ends_with('$'),
                    "{name}.{field}: anchored"
                );
            }
        }
    }
    // Settings: ranges and no unknown keys.
    let patch = &schemas["SettingsPatch"];
    assert_eq!(patch["additionalProperties"], false);
    assert_eq!(
        patch["properties"]["poll_interval_seconds"]["maximum"],
        3600
    );
}

/// The patterns must at least be well-formed regular expressions; a cheap check without a
/// regex crate: balanced brackets and parentheses outside escapes.
fn regex_lite(p: &str) {
    let (mut depth, mut class, mut esc) = (0i32, false, false);
    for c in p.chars() {
        match (esc, class, c) {
            (true, _, _) => esc = false,
            (false, _, '\\') => esc = true,
            (false, false, '[') => class = true,
            (false, true, ']') => class = false,
            (false, false, '(') => depth += 1,
            (false, false, ')') => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "{p}");
    }
    assert!(depth == 0 && !class, "{p}");
}

/// Every rejection on the real server answers the JSON error body, also the ones axum
/// makes itself; and JSON numbers written as integral floats are read as integers.
#[tokio::test]
async fn rejections_answer_json_and_integral_floats_are_integers() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let admin = app.admin_token().await;
    for (method, path) in [
        ("GET", "/api/v1/builds/%FF"),
        ("GET", "/api/v1/job-versions/%C3%28"),
        ("DELETE", "/api/v1/auth/sessions/%FF%FE"),
    ] {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_path", "{body}");
    }
    // An empty limit or status is not the integer / enum the schema promises.
    for path in ["/api/v1/builds?limit=", "/api/v1/deploy-test-runs?status="] {
        let resp = app.get(path, Some(&admin)).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "invalid_field").await;
    }
    // 101.0 is the JSON number 101.
    let resp = app
        .post_json(
            "/api/v1/builds",
            &serde_json::json!({"JOB_NAME": "J", "PACKAGE_PATH": "CDN/x", "BUILD_NUMBER": 101.0}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let build: Value = resp.json().await.unwrap();
    assert_eq!(build["build_number"], 101);
    // 1.5 is not an id.
    let resp = app
        .client
        .put(app.url("/api/v1/job-versions"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"job_name": "J", "build_id": 1.5, "auto_sync": false}))
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST, "invalid_field").await;
}
