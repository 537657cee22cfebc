//! The role split: admin routes, forced logout, and a user login never ending the admin's
//! session.

use crate::common;
use chrono::TimeDelta;
use common::{ADMIN_PASSWORD, Backend, TestApp, assert_error, token_of};
use reqwest::StatusCode;
use serde_json::Value;

on_both_stores!(
    roles_admin_routes_and_forced_logout,
    user_login_never_ends_the_admin_session,
);

async fn roles_admin_routes_and_forced_logout(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let user = app.user_token("dev@example.com").await;
    let admin = app.admin_token().await;

    assert_error(
        app.get("/api/v1/auth/sessions", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/auth/sessions", Some(&user)).await,
        StatusCode::FORBIDDEN,
        "admin_required",
    )
    .await;
    let del = app
        .client
        .delete(app.url("/api/v1/auth/sessions/dev%40example.com"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_error(del, StatusCode::FORBIDDEN, "admin_required").await;

    let sessions: Value = app
        .get("/api/v1/auth/sessions", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<(String, bool)> = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap().to_owned(),
                s["is_admin"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("admin@example.com".to_owned(), true),
            ("dev@example.com".to_owned(), false)
        ]
    );
    assert!(
        sessions["items"][0]["created_at"].is_string()
            && sessions["items"][0]["expires_at"].is_string()
    );
    assert!(
        sessions["items"][0].get("token_sha256").is_none(),
        "no token material in the list"
    );
    let page: Value = app
        .get("/api/v1/auth/sessions?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/api/v1/auth/sessions?limit=1&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["email"], "dev@example.com");

    let del = app
        .client
        .delete(app.url("/api/v1/auth/sessions/dev%40example.com"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/auth/me", Some(&user)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let del = app
        .client
        .delete(app.url("/api/v1/auth/sessions/dev%40example.com"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_error(del, StatusCode::NOT_FOUND, "not_found").await;
    let del = app
        .client
        .delete(app.url("/api/v1/auth/sessions/not-an-email"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_error(del, StatusCode::BAD_REQUEST, "invalid_field").await;
}

async fn user_login_never_ends_the_admin_session(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let admin = app.admin_token().await;
    // Anyone may log in without a password with the admin's address.
    let user = app.user_token("admin@example.com").await;
    let me: Value = app
        .get("/api/v1/auth/me", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], true, "the admin session survives: {me}");
    let me: Value = app
        .get("/api/v1/auth/me", Some(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], false);
    // A newer admin login still replaces the older admin session.
    app.clock.advance(TimeDelta::seconds(2));
    let admin2 = app.admin_token().await;
    assert_error(
        app.get("/api/v1/auth/me", Some(&admin)).await,
        StatusCode::UNAUTHORIZED,
        "session_replaced",
    )
    .await;

    let dev_user = app.user_token("dev@example.com").await;
    let dev_admin = token_of(app.login("dev@example.com", Some(ADMIN_PASSWORD)).await).await;
    let sessions: Value = app
        .get("/api/v1/auth/sessions", Some(&admin2))
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<(String, bool)> = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap().to_owned(),
                s["is_admin"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("admin@example.com".to_owned(), false),
        ("admin@example.com".to_owned(), true),
        ("dev@example.com".to_owned(), false),
        ("dev@example.com".to_owned(), true),
    ];
    assert_eq!(listed, expected, "both roles' sessions are listed");
    // Paging one by one walks the same four.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..6 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/auth/sessions?limit=1&cursor={c}"),
            None => "/api/v1/auth/sessions?limit=1".to_owned(),
        };
        let page: Value = app.get(&path, Some(&admin2)).await.json().await.unwrap();
        for s in page["items"].as_array().unwrap() {
            paged.push((
                s["email"].as_str().unwrap().to_owned(),
                s["is_admin"].as_bool().unwrap(),
            ));
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, expected);

    // Logout ends only the caller's own session.
    let out = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&admin2)).await.status(),
        StatusCode::OK
    );
    // An admin ending a person's sessions ends both roles.
    let del = app
        .client
        .delete(app.url("/api/v1/auth/sessions/dev%40example.com"))
        .bearer_auth(&admin2)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    for token in [&dev_user, &dev_admin] {
        assert_error(
            app.get("/api/v1/auth/me", Some(token)).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
}
