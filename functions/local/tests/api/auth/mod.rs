//! Login, sessions and the role split over real HTTP, on both stores.
//!
//! Here: login, the tokens that must be refused and session lifetimes; roles and rate limits
//! have their modules.

use crate::common;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use common::{ADMIN_PASSWORD, Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod rate_limits;
mod roles;

on_both_stores!(
    user_login_without_password_and_admin_with_it,
    tokens_that_must_be_refused,
    expired_session_is_refused,
    logout_revokes_at_once,
    newer_login_supersedes_older_session,
    login_rejects_addresses_the_mailer_refuses,
);

async fn user_login_without_password_and_admin_with_it(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let resp = app.login(" Dev@Example.com ", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["user"],
        json!({"email": "dev@example.com", "is_admin": false})
    );
    assert_eq!(
        body["expires_at"], "2026-11-26T10:00:00Z",
        "24 h by default"
    );
    let me: Value = app
        .get("/api/v1/auth/me", body["token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"email": "dev@example.com", "is_admin": false, "expires_at": "2026-11-26T10:00:00Z"})
    );

    // An empty password is a user login too.
    let empty = app.login("dev2@example.com", Some("")).await;
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["user"]["is_admin"], false);

    let admin = app.login("admin@example.com", Some(ADMIN_PASSWORD)).await;
    let body: Value = admin.json().await.unwrap();
    assert_eq!(body["user"]["is_admin"], true);

    assert_error(
        app.login("admin@example.com", Some("wrong")).await,
        StatusCode::UNAUTHORIZED,
        "wrong_password",
    )
    .await;
    for bad in [
        "",
        "not-an-email",
        "a@b",
        "x@example.com\r\nBcc: y@example.com",
    ] {
        let err = assert_error(
            app.login(bad, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], "email", "{bad:?}");
    }
    let missing = app
        .post_json("/api/v1/auth/login", &json!({"password": "x"}))
        .await;
    let err = assert_error(missing, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(err["error"]["field"], "email");
    let wrong_type = app
        .post_json("/api/v1/auth/login", &json!({"email": 5}))
        .await;
    let err = assert_error(wrong_type, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(err["error"]["field"], "email");
}

fn forge(header: Value, claims: Value, signature: &[u8]) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        enc(&header),
        enc(&claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn hs(alg: jsonwebtoken::Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn tokens_that_must_be_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let real = app.user_token("dev@example.com").await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(real.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let secret = "a-test-secret-that-is-long-enough-0123456789";
    let mut string_exp = claims.clone();
    string_exp["exp"] = json!(string_exp["exp"].to_string());
    let mut admin_claim = claims.clone();
    admin_claim["adm"] = json!(true);

    let refused: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("garbage".into())),
        (
            "wrong signature",
            Some(hs(
                jsonwebtoken::Algorithm::HS256,
                "another-secret-another-secret-12345",
                &claims,
            )),
        ),
        (
            "alg none",
            Some(forge(
                json!({"alg": "none", "typ": "JWT"}),
                claims.clone(),
                b"",
            )),
        ),
        (
            "other HMAC algorithm",
            Some(hs(jsonwebtoken::Algorithm::HS512, secret, &claims)),
        ),
        (
            "string exp",
            Some(hs(jsonwebtoken::Algorithm::HS256, secret, &string_exp)),
        ),
        (
            "re-signed claims (not the stored token)",
            Some(hs(jsonwebtoken::Algorithm::HS256, secret, &admin_claim)),
        ),
    ];
    for (what, token) in refused {
        let resp = app.get("/api/v1/auth/me", token.as_deref()).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let basic = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The real one still works.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&real)).await.status(),
        StatusCode::OK
    );
}

async fn expired_session_is_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[("SESSION_TTL_HOURS", "2")]).await else {
        return;
    };
    let token = app.user_token("dev@example.com").await;
    app.clock
        .advance(TimeDelta::hours(2) - TimeDelta::seconds(1));
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    app.clock.advance(TimeDelta::seconds(1));
    let body = assert_error(
        app.get("/api/v1/auth/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

async fn logout_revokes_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let token = app.user_token("dev@example.com").await;
    let out = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/auth/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/builds", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let again = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn newer_login_supersedes_older_session(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let old = app.user_token("dev@example.com").await;
    app.clock.advance(TimeDelta::seconds(5));
    let replaced_at = shared::clock::Clock::now(&*app.clock);
    let new = app.user_token("dev@example.com").await;
    assert_ne!(old, new);
    // The old tab is told why: a login elsewhere, and when (not "log in again" alone).
    let body = assert_error(
        app.get("/api/v1/auth/me", Some(&old)).await,
        StatusCode::UNAUTHORIZED,
        "session_replaced",
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("another browser"), "{message}");
    assert_eq!(
        body["error"]["details"]["logged_in_at"],
        replaced_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{body}"
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&new)).await.status(),
        StatusCode::OK
    );
    // Another person's session is untouched.
    let other = app.user_token("ops@example.com").await;
    app.user_token("dev@example.com").await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&other)).await.status(),
        StatusCode::OK
    );
}

async fn login_rejects_addresses_the_mailer_refuses(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let long_after_lowercasing = format!("{}@example.com", "İ".repeat(32));
    for bad in [
        "a..b@example.com",
        ".a@example.com",
        long_after_lowercasing.as_str(),
    ] {
        let err = assert_error(
            app.login(bad, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], "email", "{bad:?}");
    }
    // Nothing unreadable was stored: the session list still answers.
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/api/v1/auth/sessions", Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
}
