//! Login rate limits: repeated bad admin passwords, parallel attempts, spraying emails.

use crate::common;
use chrono::TimeDelta;
use common::{ADMIN_PASSWORD, Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::json;

on_both_stores!(
    repeated_bad_admin_passwords_are_rate_limited,
    parallel_wrong_passwords_get_exactly_the_limit_of_401s,
    spraying_many_emails_from_one_ip_is_limited,
);

async fn repeated_bad_admin_passwords_are_rate_limited(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    for _ in 0..5 {
        assert_error(
            app.login("admin@example.com", Some("guess")).await,
            StatusCode::UNAUTHORIZED,
            "wrong_password",
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
            "wrong_password",
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
            "wrong_password",
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
        "wrong_password",
    )
    .await;
}
