//! Cancel, re-run, the stale-run sweeper and mail-once, on the local server with the dev
//! peers. Mail goes to the outbox folder here (no SMTP configured); `notify_smtp/`
//! covers real SMTP delivery.
//!
//! Here: the `Env` fixture, mail-once, cancel and shutdown; re-run and stale runs (the sweeper) have their
//! modules.

use crate::common;
use common::peers::Peers;
use common::{Backend, TestApp, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::Email;
use shared::tasks::RunRef;
use shared::workflow::WorkflowStarter;
use std::time::Duration;

mod rerun;
mod rerun_failed;
mod stale_runs;
mod unreadable_run;

fn dev() -> Email {
    Email::parse("by", "dev@example.com").unwrap()
}

const PKG_DIR: &str = "CDN/pass/20250613-master-ctl/el7";

struct Env {
    app: TestApp,
    peers: Peers,
    admin: String,
    user: String,
    item_id: i64,
    build_id: i64,
    set_id: i64,
}

async fn env() -> Env {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let peers = Peers::start().await;
    peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let admin = app.admin_token().await;
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().await.unwrap()
    };
    send(app.client.put(app.url("/api/v1/settings")).bearer_auth(&admin).json(&json!({
        "package_download_base_url": peers.packages.url, "external_test_server_url": peers.test_server.url,
        "poll_interval_seconds": 5, "notify_cc": ["qa-lead@example.com"]}))).await;
    let set = send(
        app.client
            .post(app.url("/api/v1/parameter-sets"))
            .bearer_auth(&admin)
            .json(&json!({"name": "base", "params": {"upgrade_type": "full"}})),
    )
    .await;
    let item = send(app.client.post(app.url("/api/v1/test-items")).bearer_auth(&admin)
        .json(&json!({"name": "cds", "job_name": "CDN_CORE", "notify_emails": ["team@example.com"]}))).await;
    let build: Value = app
        .post_json(
            "/api/v1/builds",
            &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "5", "PACKAGE_PATH": PKG_DIR}),
        )
        .await
        .json()
        .await
        .unwrap();
    let user = app.user_token("dev@example.com").await;
    Env {
        set_id: set["id"].as_i64().unwrap(),
        item_id: item["id"].as_i64().unwrap(),
        build_id: build["id"].as_i64().unwrap(),
        app,
        peers,
        admin,
        user,
    }
}

impl Env {
    async fn trigger(&self, token: &str) -> Value {
        let r = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/api/v1/test-items/{}/deploy-test", self.item_id)),
            )
            .bearer_auth(token)
            .json(&json!({"build_info_id": self.build_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        r.json().await.unwrap()
    }

    async fn run(&self, id: i64) -> Value {
        self.app
            .get(&format!("/api/v1/deploy-test-runs/{id}"), Some(&self.user))
            .await
            .json()
            .await
            .unwrap()
    }

    async fn until(&self, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..1500 {
            let run = self.run(id).await;
            if pred(&run) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {id}: {what} did not happen: {}", self.run(id).await)
    }

    async fn ended(&self, id: i64) -> Value {
        // Ended and notified (or the mail skipped).
        self.until(id, "end", |r| {
            r["finished_at"].is_string() && r["notification"].is_object()
        })
        .await
    }

    async fn execution(&self, id: i64) -> Value {
        self.app
            .get(
                &format!("/api/v1/deploy-test-runs/{id}/execution"),
                Some(&self.user),
            )
            .await
            .json()
            .await
            .unwrap()
    }

    fn outbox(&self) -> Vec<String> {
        let dir = self.app.dir.path().join("outbox");
        let mut mails: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        mails.sort();
        mails
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completed_run_mails_once_to_everyone() {
    let e = env().await;
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    let run = e.ended(id).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["summary"]["total"], 100,
        "summary from widgets/summary.json: {run}"
    );
    assert_eq!(run["summary"]["passed"], 97);
    assert_eq!(run["notification"]["status"], "SENT", "{run}");
    assert_eq!(
        run["notification"]["recipients"],
        json!(["dev@example.com", "team@example.com", "qa-lead@example.com"])
    );
    assert_eq!(run["steps"][3]["status"], "SUCCEEDED");
    assert_eq!(e.outbox().len(), 1);
    // Notify again (a retry, a restart that re-runs the task): no second mail.
    shared::mail::handle(&e.app.local.deps, RunRef { run_id: id })
        .await
        .unwrap();
    assert_eq!(e.outbox().len(), 1, "mailed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_during_monitoring_frees_the_lock_and_sends_nothing() {
    let e = env().await;
    e.peers.test_control(json!({"test_seconds": 600})).await;
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    e.until(id, "MONITORING", |r| r["status"] == "MONITORING")
        .await;

    let other = e.app.user_token("other@example.com").await;
    let denied = e
        .app
        .client
        .post(e.app.url(&format!("/api/v1/deploy-test-runs/{id}/cancel")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_error(denied, StatusCode::FORBIDDEN, "not_your_run").await;
    let cancelled = e
        .app
        .client
        .post(e.app.url(&format!("/api/v1/deploy-test-runs/{id}/cancel")))
        .bearer_auth(&e.user)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let run: Value = cancelled.json().await.unwrap();
    assert_eq!(run["status"], "CANCELLED");
    assert_eq!(run["steps"][2]["status"], "CANCELLED");
    assert_eq!(run["notification"]["status"], "SKIPPED");
    assert!(
        e.app
            .state
            .store
            .get_run_lock(&Default::default())
            .await
            .unwrap()
            .is_none(),
        "lock released"
    );
    let exec: Value = e
        .app
        .get(
            &format!("/api/v1/deploy-test-runs/{id}/execution"),
            Some(&e.user),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(exec["status"], "ABORTED", "{exec}");
    let again = e
        .app
        .client
        .post(e.app.url(&format!("/api/v1/deploy-test-runs/{id}/cancel")))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::CONFLICT, "run_ended").await;

    // A new trigger succeeds at once; the cancelled run stays cancelled, no mail for it.
    e.peers.test_control(json!({"test_seconds": 0.3})).await;
    let next = e.trigger(&e.user).await["id"].as_i64().unwrap();
    assert_eq!(e.ended(next).await["status"], "COMPLETED");
    assert_eq!(e.run(id).await["status"], "CANCELLED");
    assert_eq!(e.outbox().len(), 1, "only the second run mailed");
}

/// The executor belongs to the host: its tasks hold the same `Deps` (so the workflow slot
/// reaches it only weakly) and dropping the host stops it, instead of an `Arc` cycle
/// keeping it alive.
#[tokio::test]
async fn dropping_the_local_server_shuts_its_executor_down() {
    let app = TestApp::start(Backend::Sqlite, &[]).await.unwrap();
    let deps = app.local.deps.clone();
    assert!(deps.workflow.is_bound(), "assemble binds the workflow");
    assert!(matches!(deps.workflow.describe("none").await, Ok(None)));
    let executor = std::sync::Arc::downgrade(&app.local.executor);
    drop(app);
    assert!(executor.upgrade().is_none(), "the executor was dropped");
    assert!(matches!(
        deps.workflow.describe("none").await,
        Err(shared::workflow::WorkflowError::Unavailable(
            local::workflow::EXECUTOR_GONE
        ))
    ));
}

/// The Outbox shows a mail: its file to download as written, and a preview whose HTML
/// carries its inline chart as a `data:` URI (nothing for the frame to fetch).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outbox_mail_downloads_as_written_and_previews_with_its_chart() {
    let e = env().await;
    let id = e.trigger(&e.user).await["id"].as_i64().unwrap();
    assert_eq!(e.ended(id).await["notification"]["status"], "SENT");
    let list: Value = e
        .app
        .get("/api/v1/outbox", Some(&e.admin))
        .await
        .json()
        .await
        .unwrap();
    let item = &list["items"][0];
    let file = item["file"].as_str().unwrap();
    let on_disk = std::fs::read(e.app.dir.path().join("outbox").join(file)).unwrap();

    let raw = e
        .app
        .get(&format!("/api/v1/outbox/{file}"), Some(&e.admin))
        .await;
    assert_eq!(raw.status(), StatusCode::OK);
    assert_eq!(raw.headers()["content-type"], "message/rfc822");
    assert_eq!(
        raw.headers()["content-disposition"],
        format!("attachment; filename=\"{file}\"").as_str()
    );
    assert_eq!(raw.bytes().await.unwrap().to_vec(), on_disk);

    let preview: Value = e
        .app
        .get(&format!("/api/v1/outbox/{file}/preview"), Some(&e.admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["subject"], item["subject"]);
    let html = preview["html"].as_str().unwrap();
    assert!(html.contains("data:image/png;base64,"), "the chart inline");
    assert!(!html.contains("cid:"), "no reference left to another part");
    assert!(
        preview["text"].as_str().unwrap().contains("97"),
        "{preview}"
    );

    // Only names the list gives; only admins.
    for bad in ["..%2Fcrat.db", "crat.db", "nothere.eml", ".hidden.eml"] {
        let r = e
            .app
            .get(&format!("/api/v1/outbox/{bad}/preview"), Some(&e.admin))
            .await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let by_user = e
        .app
        .get(&format!("/api/v1/outbox/{file}"), Some(&e.user))
        .await;
    assert_eq!(by_user.status(), StatusCode::FORBIDDEN);
}
