//! The router tier: the merged `local::app` router driven with `tower::ServiceExt::oneshot`
//! (no sockets, no executor) for the request → JSON error shapes every endpoint shares:
//! auth refusals, 400 bodies naming the field, 404 and 405. The socket tests prove the
//! flows; these prove the shapes, fast.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{ADMIN_PASSWORD, t0, webhook};

/// The merged router on a fresh embedded store; `extra_env` adds configuration.
/// Returns the folder too: it must outlive the router.
fn app(extra_env: &[(&str, &str)]) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("CRAT_DATA_DIR".into(), dir.path().to_str().unwrap().into()),
        ("ADMIN_PASSWD".into(), ADMIN_PASSWORD.into()),
        (
            "JWT_SECRET".into(),
            "a-test-secret-that-is-long-enough-0123456789".into(),
        ),
    ]);
    vars.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let config = shared::config::Config::from_vars(shared::config::Host::Embedded, &vars).unwrap();
    let store = Arc::new(shared::adapters::SqliteStore::open(dir.path()).unwrap());
    let clock = Arc::new(shared::clock::ManualClock::new(t0()));
    let state = shared::Deps::new(config, store, clock).unwrap();
    (local::app(state), dir)
}

/// One request through `app`: its status and JSON body (`Value::Null` when empty).
async fn call(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    send(app, method, path, &[], body.map(Value::to_string)).await
}

/// [`call`] with headers and a raw body (sent as JSON unless a header says otherwise).
async fn send(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let (status, _, value) = respond(app, req).await;
    (status, value)
}

/// `req` through `app`: status, headers and the JSON body (`Value::Null` when empty).
async fn respond(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
    };
    (status, headers, value)
}

/// Asserts the error body: `status`, `code` and a non-empty message; returns the body.
fn assert_error((status, body): (StatusCode, Value), want: StatusCode, code: &str) -> Value {
    assert_eq!(status, want, "body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    body
}

async fn token(app: &Router, email: &str, password: Option<&str>) -> String {
    let (status, body) = call(
        app,
        Method::POST,
        "/api/v1/auth/login",
        Some(&json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn missing_or_unusable_credentials_are_401() {
    let (app, _dir) = app(&[]);
    for (what, authorization) in [
        ("no header", None),
        ("garbage", Some("Bearer garbage")),
        ("basic", Some("Basic abc")),
        ("empty bearer", Some("Bearer ")),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        let got = send(&app, Method::GET, "/api/v1/auth/me", &headers, None).await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{what}");
        assert_error(got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // The same refusal on every authenticated group.
    for path in [
        "/api/v1/test-items",
        "/api/v1/parameter-sets",
        "/api/v1/settings",
        "/api/v1/deploy-test-runs",
    ] {
        assert_error(
            call(&app, Method::GET, path, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
}

#[tokio::test]
async fn a_user_session_is_refused_admin_actions_with_403() {
    let (app, _dir) = app(&[]);
    let user = bearer(&token(&app, "dev@example.com", None).await);
    let auth = [("authorization", user.as_str())];
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/parameter-sets",
            Some(json!({"name": "base"})),
        ),
        (
            Method::POST,
            "/api/v1/test-items",
            Some(json!({"name": "cds", "job_name": "CDN_CORE"})),
        ),
        (
            Method::PUT,
            "/api/v1/settings",
            Some(json!({"project_name": "X"})),
        ),
        (Method::GET, "/api/v1/auth/sessions", None),
    ] {
        let got = send(
            &app,
            method.clone(),
            path,
            &auth,
            body.map(|b| b.to_string()),
        )
        .await;
        assert_error(got, StatusCode::FORBIDDEN, "admin_required");
    }
    // The user's own session works.
    let (status, me) = send(&app, Method::GET, "/api/v1/auth/me", &auth, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "dev@example.com");
}

#[tokio::test]
async fn bad_login_input_names_the_field() {
    let (app, _dir) = app(&[]);
    for (body, field) in [
        (json!({}), "email"),
        (json!({"email": 5}), "email"),
        (json!({"email": "a..b@example.com"}), "email"),
    ] {
        let err = assert_error(
            call(&app, Method::POST, "/api/v1/auth/login", Some(&body)).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        );
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let wrong = call(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        Some(&json!({"email": "admin@example.com", "password": "wrong"})),
    )
    .await;
    // A wrong password is the password field's fault, not a session's.
    let err = assert_error(wrong, StatusCode::UNAUTHORIZED, "wrong_password");
    assert_eq!(err["error"]["field"], "password", "{err}");
}

#[tokio::test]
async fn each_invalid_body_field_is_named_in_a_400() {
    let (app, _dir) = app(&[]);
    let admin = bearer(&token(&app, "admin@example.com", Some(ADMIN_PASSWORD)).await);
    let auth = [("authorization", admin.as_str())];
    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/v1/test-items",
            json!({"name": "cds"}),
            "job_name",
        ),
        (
            Method::POST,
            "/api/v1/test-items",
            json!({"name": "no spaces", "job_name": "J"}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/test-items",
            json!({"name": "cds", "job_name": "J", "enabled": "yes"}),
            "enabled",
        ),
        (
            Method::POST,
            "/api/v1/parameter-sets",
            json!({"name": ""}),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/parameter-sets",
            json!({"name": "p", "params": [1]}),
            "params",
        ),
        (
            Method::PUT,
            "/api/v1/settings",
            json!({"poll_interval_seconds": 0}),
            "poll_interval_seconds",
        ),
        (
            Method::PUT,
            "/api/v1/settings",
            json!({"no_such_setting": 1}),
            "no_such_setting",
        ),
        (
            Method::PUT,
            "/api/v1/job-versions",
            json!({"job_name": "J", "build_id": 1.5, "auto_sync": false}),
            "build_id",
        ),
    ] {
        let got = send(&app, method.clone(), path, &auth, Some(body.to_string())).await;
        let err = assert_error(got, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(err["error"]["field"], field, "{method} {path} {body}");
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_or_415() {
    let (app, _dir) = app(&[]);
    let not_json = send(
        &app,
        Method::POST,
        "/api/v1/builds",
        &[],
        Some("{not json".into()),
    )
    .await;
    assert_eq!(not_json.0, StatusCode::BAD_REQUEST, "{}", not_json.1);
    assert!(not_json.1["error"]["code"].is_string());
    let text = send(
        &app,
        Method::POST,
        "/api/v1/builds",
        &[("content-type", "text/plain")],
        Some(webhook("A", 1).to_string()),
    )
    .await;
    assert_error(
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let mut big = webhook("CDN_CORE", 5);
    big["padding"] = json!("x".repeat(70 * 1024));
    assert_error(
        call(&app, Method::POST, "/api/v1/builds", Some(&big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
}

#[tokio::test]
async fn unknown_ids_are_404_and_malformed_ids_400() {
    let (app, _dir) = app(&[]);
    let admin = bearer(&token(&app, "admin@example.com", Some(ADMIN_PASSWORD)).await);
    let auth = [("authorization", admin.as_str())];
    for path in [
        "/api/v1/builds/999",
        "/api/v1/test-items/999",
        "/api/v1/parameter-sets/999",
        "/api/v1/deploy-test-runs/999",
        "/api/v1/job-versions/NO_SUCH_JOB",
    ] {
        assert_error(
            send(&app, Method::GET, path, &auth, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    for path in [
        "/api/v1/builds/abc",
        "/api/v1/test-items/-1",
        "/api/v1/parameter-sets/1.5",
    ] {
        let (status, body) = send(&app, Method::GET, path, &auth, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

/// Moved from the socket tier (webhook.rs): it checks shapes only.
#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_format() {
    let (app, _dir) = app(&[]);
    let req = Request::get("/api/v1/nope").body(Body::empty()).unwrap();
    let (status, headers, body) = respond(&app, req).await;
    assert!(headers.contains_key("x-request-id"));
    assert_error((status, body), StatusCode::NOT_FOUND, "not_found");
    assert_error(
        call(&app, Method::DELETE, "/api/v1/builds", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, health) = call(&app, Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
}

/// Moved from the socket tier (webhook.rs): it checks shapes only.
#[tokio::test]
async fn webhook_token_is_required_when_set() {
    let (app, _dir) = app(&[("WEBHOOK_TOKEN", "s3cret-token")]);
    let post =
        |headers: &'static [(&'static str, &'static str)], path: &'static str, number: i64| {
            let app = app.clone();
            async move {
                send(
                    &app,
                    Method::POST,
                    path,
                    headers,
                    Some(webhook("CDN_CORE", number).to_string()),
                )
                .await
            }
        };
    assert_error(
        post(&[], "/api/v1/builds", 1).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        post(&[("X-CRAT-Token", "nope")], "/api/v1/builds", 1).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (status, _) = post(&[("X-CRAT-Token", "s3cret-token")], "/api/v1/builds", 1).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(&[], "/api/v1/builds?token=s3cret-token", 2).await;
    assert_eq!(status, StatusCode::CREATED);
}
