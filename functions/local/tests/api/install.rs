//! One file to deploy: the `crat` binary copied alone into an empty folder, started there as
//! a plain process with only a data folder, serves the site from inside itself, the API,
//! and a whole run, with no checkout beside it. (`make install` builds the same binary in
//! release; this test moves the debug build, which embeds the same `web/dist`.)

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::binary::start_exe;
use common::peers::Peers;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PKG_DIR: &str = "CDN/pass/20250613-master-install/el7";

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

#[test]
fn version_names_the_revision_and_help_lists_the_subcommands() {
    let exe = env!("CARGO_BIN_EXE_crat");
    let out = std::process::Command::new(exe)
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        version.starts_with(&format!("crat {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let out = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        ["serve", "backup", "restore", "--version"]
            .iter()
            .all(|c| help.contains(c)),
        "{help}"
    );
    let out = std::process::Command::new(exe)
        .arg("no-such-command")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a wrong subcommand is a usage error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_alone_in_an_empty_folder_serves_the_site_the_api_and_a_run() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist/index.html");
    if !dist.exists() {
        eprintln!("skipped: web/dist is not built (make web), so no site is inside the binary");
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let exe = folder.path().join("crat");
    std::fs::copy(env!("CARGO_BIN_EXE_crat"), &exe).unwrap();
    let data = folder.path().join("data");
    std::fs::create_dir(&data).unwrap();
    assert_eq!(
        std::fs::read_dir(folder.path()).unwrap().count(),
        2,
        "crat and data only"
    );
    let peers = Peers::start().await;
    peers.add_package(PKG_DIR, "cds-4.0.0.tar.gz");
    let server = start_exe(
        &exe,
        &data,
        &[
            ("ADMIN_PASSWD", "install-admin"),
            ("CRAT_TIME_SCALE", "0.05"),
            ("METRICS_TOKEN", "scrape-token"),
        ],
    )
    .await;
    let base = server.base.clone();
    let client = Client::new();

    // The site, from inside the binary: the built index, one of its assets, the SPA fallback.
    let index = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(
        index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let index = index.text().await.unwrap();
    let built = std::fs::read_to_string(&dist).unwrap();
    assert_eq!(
        index, built,
        "the index built into the binary is web/dist's"
    );
    let asset = index
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("the index names its script");
    let script = client.get(format!("{base}{asset}")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let route = client.get(format!("{base}/runs/1")).send().await.unwrap();
    assert_eq!(route.text().await.unwrap(), built);

    // The API and a whole run.
    let admin = ok_json(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@example.com", "password": "install-admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    ok_json(
        client
            .put(format!("{base}/api/v1/settings"))
            .bearer_auth(&admin)
            .json(&json!({"package_download_base_url": peers.packages.url,
                "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 2, "max_monitor_seconds": 1200}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    ok_json(
        admin_post("/api/v1/parameter-sets", json!({"name": "base"}))
            .await
            .unwrap(),
    )
    .await;
    let item = ok_json(
        admin_post(
            "/api/v1/test-items",
            json!({"name": "cds", "job_name": "CDN_CORE"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let build = ok_json(
        client
            .post(format!("{base}/api/v1/builds"))
            .json(&json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "7", "PACKAGE_PATH": PKG_DIR}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let run = ok_json(
        admin_post(
            &format!("/api/v1/test-items/{}/deploy-test", item["id"]),
            json!({"build_info_id": build["id"]}),
        )
        .await
        .unwrap(),
    )
    .await;
    let id = run["id"].as_i64().unwrap();
    let mut last = Value::Null;
    for _ in 0..600 {
        last = ok_json(
            client
                .get(format!("{base}/api/v1/deploy-test-runs/{id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if last["status"] == "COMPLETED" || last["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "COMPLETED", "{last}");
    assert!(
        data.join("crat.db").is_file(),
        "the store lives in the data folder"
    );

    // Watching it: GET /metrics (this process's own counters) moved with what happened.
    for _ in 0..100 {
        let r = client
            .get(format!("{base}/api/v1/deploy-test-runs/{id}"))
            .bearer_auth(&admin);
        if ok_json(r.send().await.unwrap()).await["notification"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let repeat = json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "7", "PACKAGE_PATH": PKG_DIR});
    let posted = client.post(format!("{base}/api/v1/builds")).json(&repeat);
    assert_eq!(posted.send().await.unwrap().status(), StatusCode::OK);
    let wrong = json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "x", "PACKAGE_PATH": PKG_DIR});
    let posted = client.post(format!("{base}/api/v1/builds")).json(&wrong);
    assert_eq!(
        posted.send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let unauthorized = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unauthorized.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let scrape = client
        .get(format!("{base}/metrics"))
        .bearer_auth("scrape-token")
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = scrape.text().await.unwrap();
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    for (series, want) in [
        (r#"crat_webhooks_total{result="created"}"#, 1.0),
        (r#"crat_webhooks_total{result="repeated"}"#, 1.0),
        (r#"crat_webhooks_total{result="refused"}"#, 1.0),
        (
            r#"crat_http_requests_total{route="/api/v1/builds",method="POST",status="201"}"#,
            1.0,
        ),
        (
            r#"crat_http_requests_total{route="/api/v1/builds",method="POST",status="400"}"#,
            1.0,
        ),
        (
            r#"crat_http_requests_total{route="site",method="GET",status="200"}"#,
            3.0,
        ),
        (
            r#"crat_http_request_duration_seconds_count{route="/api/v1/builds"}"#,
            3.0,
        ),
        (
            r#"crat_runs_ended_total{status="COMPLETED",failing_step=""}"#,
            1.0,
        ),
        (
            r#"crat_run_duration_seconds_count{status="COMPLETED"}"#,
            1.0,
        ),
        (r#"crat_mails_total{status="SENT"}"#, 1.0),
        (r#"crat_lane_active_runs{lane="default"}"#, 0.0),
        (r#"crat_lane_queued_runs{lane="default"}"#, 0.0),
    ] {
        assert_eq!(value(series), want, "{series}");
    }
    assert!(
        value(
            r#"crat_http_requests_total{route="/api/v1/deploy-test-runs/{run_id}",method="GET",status="200"}"#
        ) >= 2.0,
        "by route template, not by path"
    );
    assert!(!metrics.contains(&format!("/api/v1/deploy-test-runs/{id}\"")));
    for operation in ["read", "write"] {
        let series = format!(
            r#"crat_store_operation_duration_seconds_count{{store="sqlite",operation="{operation}"}}"#
        );
        assert!(value(&series) >= 5.0, "{series}");
    }
    assert!(value(r#"crat_audit_entries_total{result="written"}"#) >= 1.0);
    drop(server);
}
