//! The Jenkins webhook and builds API over real HTTP, on both stores.

use crate::common;

use common::{Backend, TestApp, assert_error, webhook};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_stores!(
    first_post_creates_and_repeat_returns_same_build,
    concurrent_identical_posts_store_one_build,
    each_invalid_field_is_rejected_by_name,
    body_limits_and_content_type,
    builds_list_filters_by_job_and_pages,
    build_by_id_and_jobs,
    paths_that_would_not_re_read_are_refused_and_lists_stay_readable,
    over_long_or_malformed_cursors_are_refused_before_the_store,
);

async fn first_post_creates_and_repeat_returns_same_build(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let first = app.post_build("CDN_CORE", 101).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert!(first["id"].is_i64(), "integer id: {first}");
    assert_eq!(first["build_number"], 101);
    assert_eq!(first["package_path"], "CDN/pass/20250613-master-101/el7");
    assert_eq!(first["created_at"], "2026-11-25T10:00:00Z");

    // Jenkins may send the number as a number.
    let mut again = webhook("CDN_CORE", 101);
    again["BUILD_NUMBER"] = json!(101);
    let repeat = app.post_json("/api/v1/builds", &again).await;
    assert_eq!(repeat.status(), StatusCode::OK);
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["id"], first["id"]);
}

async fn concurrent_identical_posts_store_one_build(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let resp = app.post_build("CDN_CORE", 101).await;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            (status, body["id"].as_i64().unwrap())
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(id);
    }
    assert_eq!(created, 1, "exactly one 201");
    assert_eq!(ids.len(), 1, "one id for all");
    let token = app.user_token("dev@example.com").await;
    let list: Value = app
        .get("/api/v1/builds?job_name=CDN_CORE", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "exactly one stored build"
    );
}

async fn each_invalid_field_is_rejected_by_name(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let cases = [
        ("PACKAGE_PATH", json!("/abs/path")),
        ("PACKAGE_PATH", json!("CDN/../../etc")),
        ("PACKAGE_PATH", json!("https://evil.example/pkg")),
        ("PACKAGE_PATH", json!("CDN/pass\u{7}/el7")),
        ("PACKAGE_PATH", json!("CDN\\pass")),
        ("BUILD_NUMBER", json!("abc")),
        ("BUILD_NUMBER", json!("0")),
        ("BUILD_NUMBER", json!(0)),
        ("BUILD_NUMBER", json!(-1)),
        ("JOB_NAME", json!("")),
        ("JOB_NAME", json!("CDN\nCORE")),
        ("BUILD_USER", json!("x\r\ny")),
    ];
    for (field, value) in cases {
        let mut body = webhook("CDN_CORE", 5);
        body[field] = value.clone();
        let err = assert_error(
            app.post_json("/api/v1/builds", &body).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], field, "{field}={value}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(field));
    }
    for missing in ["JOB_NAME", "BUILD_NUMBER", "PACKAGE_PATH"] {
        let mut body = webhook("CDN_CORE", 5);
        body.as_object_mut().unwrap().remove(missing);
        let err = assert_error(
            app.post_json("/api/v1/builds", &body).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], missing);
    }
    let garbage = app
        .client
        .post(app.url("/api/v1/builds"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(garbage, StatusCode::BAD_REQUEST, "malformed_body").await;
    // Nothing was stored by any of them.
    let token = app.user_token("dev@example.com").await;
    let list: Value = app
        .get("/api/v1/builds", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
}

async fn body_limits_and_content_type(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let mut big = webhook("CDN_CORE", 5);
    big["padding"] = json!("x".repeat(70 * 1024));
    assert_error(
        app.post_json("/api/v1/builds", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    )
    .await;
    // Without a Content-Length (chunked) the limit holds too.
    let status_line = post_chunked(&app, &[b"{\"pad\":\"", &[b'x'; 70 * 1024], b"\"}"]).await;
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");

    // A fresh connection for each request below: the server answers an over-long body with
    // 413 before reading it and drops that connection, and a pooled client could otherwise
    // write the next request on it (a broken pipe that says nothing about the server).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let text = client
        .post(app.url("/api/v1/builds"))
        .header("content-type", "text/plain")
        .body(webhook("A", 1).to_string())
        .send()
        .await
        .unwrap();
    assert_error(
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let form = client
        .post(app.url("/api/v1/builds"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("JOB_NAME=A")
        .send()
        .await
        .unwrap();
    assert_error(
        form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let charset = client
        .post(app.url("/api/v1/builds"))
        .header("content-type", "application/json; charset=utf-8")
        .body(webhook("A", 1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(charset.status(), StatusCode::CREATED);
}

/// Posts a JSON body with `Transfer-Encoding: chunked` (no Content-Length) over a raw
/// socket and returns the response's status line.
async fn post_chunked(app: &TestApp, chunks: &[&[u8]]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/builds HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for c in chunks {
        // The server may answer and close before taking the rest (even before the next
        // chunk's size line): that is the point.
        let size = format!("{:x}\r\n", c.len());
        if s.write_all(size.as_bytes()).await.is_err()
            || s.write_all(c).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

async fn builds_list_filters_by_job_and_pages(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    for n in 1..=3 {
        assert_eq!(
            app.post_build("CDN_CORE", n).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(
            app.post_build("team/CDN_EDGE", n).await.status(),
            StatusCode::CREATED
        );
    }
    let token = app.user_token("dev@example.com").await;
    let page1: Value = app
        .get("/api/v1/builds?job_name=CDN_CORE&limit=2", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let numbers = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["build_number"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&page1), [3, 2]);
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let page2: Value = app
        .get(
            &format!("/api/v1/builds?job_name=CDN_CORE&limit=2&cursor={cursor}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&page2), [1]);
    assert_eq!(page2["next_cursor"], Value::Null);

    let folder: Value = app
        .get("/api/v1/builds?job_name=team%2FCDN_EDGE", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&folder), [3, 2, 1]);
    let all: Value = app
        .get("/api/v1/builds?limit=200", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);

    for bad in ["limit=0", "limit=201", "limit=ten", "cursor=%21%21"] {
        let err = assert_error(
            app.get(&format!("/api/v1/builds?{bad}"), Some(&token))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], bad.split('=').next().unwrap());
    }

    // Search by number: that build of the job, of any age, or none.
    let found: Value = app
        .get(
            "/api/v1/builds?job_name=team%2FCDN_EDGE&build_number=1",
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&found), [1]);
    assert_eq!(found["items"][0]["job_name"], "team/CDN_EDGE");
    assert_eq!(found["next_cursor"], Value::Null);
    let none: Value = app
        .get(
            "/api/v1/builds?job_name=CDN_CORE&build_number=99",
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&none), Vec::<i64>::new());
    for (bad, why) in [
        ("build_number=1", "needs job_name"),
        ("job_name=CDN_CORE&build_number=0", "positive integer"),
        ("job_name=CDN_CORE&build_number=-1", "positive integer"),
        ("job_name=CDN_CORE&build_number=x1", "positive integer"),
    ] {
        let err = assert_error(
            app.get(&format!("/api/v1/builds?{bad}"), Some(&token))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(err["error"]["field"], "build_number", "{bad}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{bad}: {message}");
    }
    assert_error(
        app.get("/api/v1/builds", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn build_by_id_and_jobs(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let created: Value = app.post_build("CDN_CORE", 101).await.json().await.unwrap();
    app.post_build("CDN_CORE", 102).await;
    app.post_build("CDN_EDGE", 7).await;
    let token = app.user_token("dev@example.com").await;
    let id = created["id"].as_i64().unwrap();
    let got: Value = app
        .get(&format!("/api/v1/builds/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, created);
    assert_error(
        app.get("/api/v1/builds/999999", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let err = assert_error(
        app.get("/api/v1/builds/abc", Some(&token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(err["error"]["field"], "id");

    let jobs: Value = app
        .get("/api/v1/jobs", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let summary: Vec<(String, i64)> = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["job_name"].as_str().unwrap().to_owned(),
                j["latest_build"]["build_number"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("CDN_CORE".to_owned(), 102), ("CDN_EDGE".to_owned(), 7)]
    );
}

async fn paths_that_would_not_re_read_are_refused_and_lists_stay_readable(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    // Accepted as "CDN/. " before, which then failed every read of the builds list.
    for bad in ["CDN/. /", "CDN/.. /x", "CDN/ ./"] {
        let resp = app
            .post_json(
                "/api/v1/builds",
                &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101", "PACKAGE_PATH": bad}),
            )
            .await;
        let err = assert_error(resp, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(err["error"]["field"], "PACKAGE_PATH", "{bad:?}");
    }
    let ok = app
        .post_json(
            "/api/v1/builds",
            &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101", "PACKAGE_PATH": " CDN/pass/el7 / "}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let token = app.user_token("dev@example.com").await;
    for path in ["/api/v1/builds", "/api/v1/jobs"] {
        let resp = app.get(path, Some(&token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let builds: Value = app
        .get("/api/v1/builds", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(builds["items"][0]["package_path"], "CDN/pass/el7");
}

async fn over_long_or_malformed_cursors_are_refused_before_the_store(backend: Backend) {
    use base64::Engine as _;
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    app.post_build("CDN_CORE", 101).await;
    let admin = app.admin_token().await;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let long = enc(&"x".repeat(2000));
    for path in [
        "/api/v1/jobs",
        "/api/v1/builds",
        "/api/v1/test-items",
        "/api/v1/parameter-sets",
        "/api/v1/auth/sessions",
        "/api/v1/deploy-test-runs",
    ] {
        for cursor in [long.clone(), "eA==".to_owned(), enc("a\u{1}b")] {
            let err = assert_error(
                app.get(&format!("{path}?cursor={cursor}"), Some(&admin))
                    .await,
                StatusCode::BAD_REQUEST,
                "invalid_field",
            )
            .await;
            assert_eq!(err["error"]["field"], "cursor", "{path} {cursor:.20}");
        }
    }
    let err = assert_error(
        app.get(
            &format!("/api/v1/builds?cursor={}", enc("-3")),
            Some(&admin),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(err["error"]["field"], "cursor");
}
