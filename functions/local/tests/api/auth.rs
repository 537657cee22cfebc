//! Login, sessions and the role split over real HTTP, on both stores.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use common::{ADMIN_PASSWORD, Backend, TestApp, assert_error, token_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_stores!(
    user_login_without_password_and_admin_with_it,
    tokens_that_must_be_refused,
    expired_session_is_refused,
    logout_revokes_at_once,
    newer_login_supersedes_older_session,
    roles_admin_routes_and_forced_logout,
    repeated_bad_admin_passwords_are_rate_limited,
    parallel_wrong_passwords_get_exactly_the_limit_of_401s,
    spraying_many_emails_from_one_ip_is_limited,
    user_login_never_ends_the_admin_session,
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
        "unauthorized",
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
    let new = app.user_token("dev@example.com").await;
    assert_ne!(old, new);
    let body = assert_error(
        app.get("/api/v1/auth/me", Some(&old)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("ended"));
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

async fn repeated_bad_admin_passwords_are_rate_limited(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    for _ in 0..5 {
        assert_error(
            app.login("admin@example.com", Some("guess")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let locked = app.login("admin@example.com", Some("guess")).await;
    let retry_after: u64 = locked
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Even the right password waits while locked; user logins and other emails do not.
    assert_error(
        app.login("admin@example.com", Some(ADMIN_PASSWORD)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
    assert_eq!(
        app.login("admin@example.com", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ops@example.com", Some(ADMIN_PASSWORD))
            .await
            .status(),
        StatusCode::OK
    );

    app.clock.advance(TimeDelta::minutes(15));
    assert_eq!(
        app.login("admin@example.com", Some(ADMIN_PASSWORD))
            .await
            .status(),
        StatusCode::OK
    );
    // Success clears the count: four more failures do not lock.
    for _ in 0..4 {
        assert_error(
            app.login("admin@example.com", Some("guess")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    assert_eq!(
        app.login("admin@example.com", Some(ADMIN_PASSWORD))
            .await
            .status(),
        StatusCode::OK
    );
}

async fn parallel_wrong_passwords_get_exactly_the_limit_of_401s(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut handles = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let resp = app.login("admin@example.com", Some("guess")).await;
            let retry_after = resp.headers().get("retry-after").is_some();
            (resp.status(), retry_after)
        }));
    }
    let (mut unauthorized, mut limited) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            (StatusCode::UNAUTHORIZED, _) => unauthorized += 1,
            (StatusCode::TOO_MANY_REQUESTS, true) => limited += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(
        (unauthorized, limited),
        (5, 35),
        "the check and the count are one atomic step"
    );
}

async fn spraying_many_emails_from_one_ip_is_limited(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    // The password is global: `victim+N@` must not multiply the guesses.
    for i in 0..20 {
        assert_error(
            app.login(&format!("victim+{i}@example.com"), Some("guess"))
                .await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let locked = app.login("victim+20@example.com", Some("guess")).await;
    assert!(locked.headers().get("retry-after").is_some());
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Forwarded headers are not trusted to pick the counter.
    let forged = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"email": "victim+21@example.com", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_error(forged, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another client address is counted apart (the socket peer, 127.0.0.2 on loopback).
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let resp = other
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "victim+22@example.com", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The window ends: the first address may try again.
    app.clock.advance(TimeDelta::minutes(15));
    assert_error(
        app.login("victim+23@example.com", Some("guess")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
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
        "unauthorized",
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
