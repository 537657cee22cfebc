//! Job version selections: select, sync, auto-sync and follow-the-new-build.

use super::build_id;
use crate::common;
use chrono::TimeDelta;
use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_stores!(
    job_version_select_sync_and_encoded_names,
    auto_sync_moves_only_due_selections,
    new_build_moves_selection_when_asked,
);

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
