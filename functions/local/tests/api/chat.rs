//! Chat notifications end to end (issue 15): the local server, the dev peers, and one
//! local receiver per platform (`chat_receivers`) that checks what the platform checks.
//! A finished run tells every channel once, after the mail; a refusing or flaky channel
//! holds up none of the others; the rules and the item filter decide who hears; the
//! Test button answers what the platform said; no secret ever comes back out.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::ChannelKind;

use crate::chat_receivers::Receiver;
use crate::common;
use common::peers::Peers;
use common::{Backend, TestApp};

const PKG_DIR: &str = "CDN/pass/20250613-master-chat/el7";

/// Every log line of this test process from the first test here on (debug level, capped),
/// so a secret can be looked for in them.
static LOGS: std::sync::LazyLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::LazyLock::new(|| {
    let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = logs.clone();
    let filter = "debug,aws_smithy_runtime=warn,aws_smithy_runtime_api=warn,aws_config=warn,hyper=warn,hyper_util=warn,h2=warn,rustls=warn,reqwest=warn";
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || LogSink(sink.clone()))
        .try_init();
    logs
});

struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut logs = self.0.lock().unwrap();
        if logs.len() < 256 << 20 {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    app: TestApp,
    peers: Peers,
    admin: String,
    user: String,
    build: i64,
}

async fn send(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn world(backend: Backend) -> Option<World> {
    let app = TestApp::start(backend, &[]).await?;
    let peers = Peers::start().await;
    peers.add_package(PKG_DIR, "cds-3.1.0.tar.gz");
    peers.add_package(PKG_DIR, "shop-3.1.0.tar.gz");
    let admin = app.admin_token().await;
    for (path, body) in [(
        "/api/v1/settings",
        json!({"package_download_base_url": peers.packages.url, "external_test_server_url": peers.test_server.url,
                "poll_interval_seconds": 1, "max_monitor_seconds": 1200, "project_name": "CDN QA"}),
    )] {
        let (s, v) = send(&app, &admin, "PUT", path, body).await;
        assert!(s.is_success(), "{path}: {s} {v}");
    }
    let (s, _) = send(
        &app,
        &admin,
        "POST",
        "/api/v1/parameter-sets",
        json!({"name": "base"}),
    )
    .await;
    assert!(s.is_success());
    for name in ["cds", "shop"] {
        let (s, v) = send(
            &app,
            &admin,
            "POST",
            "/api/v1/test-items",
            json!({"name": name, "job_name": "CDN_CORE"}),
        )
        .await;
        assert!(s.is_success(), "{v}");
    }
    let build: Value = app
        .post_json(
            "/api/v1/builds",
            &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101", "PACKAGE_PATH": PKG_DIR}),
        )
        .await
        .json()
        .await
        .unwrap();
    let user = app.user_token("dev@example.com").await;
    Some(World {
        app,
        peers,
        admin,
        user,
        build: build["id"].as_i64().unwrap(),
    })
}

impl World {
    fn clock(&self) -> Arc<dyn Clock> {
        self.app.clock.clone()
    }

    async fn channel(&self, body: Value) -> i64 {
        let (s, v) = send(
            &self.app,
            &self.admin,
            "POST",
            "/api/v1/notification-channels",
            body,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Runs item `item` to its end with `failed` failing tests; waits for `chats` deliveries.
    async fn run(&self, item: i64, failed: u64, chats: usize) -> Value {
        self.peers
            .test_control(json!({"statistic": {"passed": 10 - failed, "failed": failed, "broken": 0, "skipped": 0, "unknown": 0}}))
            .await;
        let (s, v) = send(
            &self.app,
            &self.user,
            "POST",
            &format!("/api/v1/test-items/{item}/deploy-test"),
            json!({"build_info_id": self.build}),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let id = v["id"].as_i64().unwrap();
        for _ in 0..1500 {
            let run: Value = self
                .app
                .get(&format!("/api/v1/deploy-test-runs/{id}"), Some(&self.user))
                .await
                .json()
                .await
                .unwrap();
            let told = run["notifications"]["chat"].as_array().map_or(0, Vec::len);
            if run["notification"]["status"].is_string() && told >= chats {
                // Nothing more comes after the deliveries expected.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return self
                    .app
                    .get(&format!("/api/v1/deploy-test-runs/{id}"), Some(&self.user))
                    .await
                    .json()
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run {id} did not tell {chats} channels")
    }
}

fn delivery(run: &Value, channel: i64) -> Value {
    run["notifications"]["chat"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel_id"] == channel)
        .cloned()
        .unwrap_or_else(|| panic!("no delivery for channel {channel}: {run}"))
}

fn secret_for(kind: ChannelKind) -> Option<String> {
    kind.takes_secret()
        .then(|| format!("s3cr3t-{}-do-not-leak", kind.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_kind_is_told_once_and_a_refusing_or_flaky_channel_holds_up_none() {
    let logs = LOGS.clone();
    for backend in [Backend::Sqlite, Backend::Dynamo] {
        let Some(w) = world(backend).await else {
            continue;
        };
        let mut receivers = Vec::new();
        for kind in ChannelKind::ALL {
            let secret = secret_for(kind);
            let r = Receiver::start(kind, secret.as_deref(), w.clock()).await;
            let id = w
                .channel(json!({"name": format!("{kind} team"), "kind": kind.as_str(), "url": r.url(), "secret": secret}))
                .await;
            receivers.push((kind, id, r));
        }
        // DingTalk checks the signature: a channel with the wrong secret is refused inside a 200.
        let wrong = Receiver::start(ChannelKind::Dingtalk, Some("the-right-one"), w.clock()).await;
        let wrong_id = w
            .channel(json!({"name": "wrong secret", "kind": "dingtalk", "url": wrong.url(), "secret": "s3cr3t-wrong-do-not-leak"}))
            .await;
        // Slack answers 500 once, then accepts.
        let slack = &receivers
            .iter()
            .find(|(k, ..)| *k == ChannelKind::Slack)
            .unwrap()
            .2;
        slack.fail_next(1);

        let run = w.run(1, 2, 7).await;
        assert_eq!(run["outcome"], "tests_failed", "{run}");
        for (kind, id, r) in &receivers {
            let d = delivery(&run, *id);
            assert_eq!(d["status"], "sent", "{kind}: {d}");
            assert!(d["sent_at"].is_string(), "{d}");
            assert_eq!(r.accepted().len(), 1, "{kind} got one message");
            let text = r.accepted()[0].to_string();
            assert!(
                // Markdown kinds escape the underscore (CDN\_CORE).
                text.contains("CORE") && text.contains("101") && text.contains("cds"),
                "{kind}: {text}"
            );
        }
        assert_eq!(
            delivery(&run, receivers[3].1)["attempts"],
            2,
            "slack: the 500, then the message"
        );
        assert_eq!(slack.attempts(), 2);
        let refused = delivery(&run, wrong_id);
        assert_eq!(refused["status"], "failed", "{refused}");
        assert!(
            refused["error"].as_str().unwrap().contains("310000"),
            "{refused}"
        );
        assert_eq!(refused["attempts"], 1, "a bad signature is not retried");
        assert!(wrong.accepted().is_empty());

        // Told once: announcing again (a retried task, a restart) sends nothing more.
        let again = shared::services::announce::announce(
            &w.app.state,
            shared::tasks::RunRef {
                run_id: run["id"].as_i64().unwrap(),
            },
        )
        .await
        .unwrap();
        assert_eq!((again.sent, again.failed, again.skipped), (0, 0, 0));
        for (kind, _, r) in &receivers {
            assert_eq!(r.accepted().len(), 1, "{kind} still one");
        }

        // No secret in any answer: the channels, the run, the audit trail.
        let mut answers = Vec::new();
        for path in [
            "/api/v1/notification-channels",
            "/api/v1/audit",
            &format!("/api/v1/deploy-test-runs/{}", run["id"]),
        ] {
            answers.push(w.app.get(path, Some(&w.admin)).await.text().await.unwrap());
        }
        for (_, id, _) in &receivers {
            let path = format!("/api/v1/notification-channels/{id}");
            let one: Value = w.app.get(&path, Some(&w.admin)).await.json().await.unwrap();
            assert!(one.get("secret").is_none());
            answers.push(one.to_string());
        }
        let listed: Value = serde_json::from_str(&answers[0]).unwrap();
        let set: Vec<bool> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["secret_set"].as_bool().unwrap())
            .collect();
        assert_eq!(set, [true, true, false, false, false, true, true]);
        for a in &answers {
            assert!(!a.contains("do-not-leak"), "a secret came back: {a}");
        }
    }
    // The logs of every channel, run and delivery above, without a secret.
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("chat notifications done"),
        "the log was captured"
    );
    assert!(
        logs.contains("chat notification not delivered"),
        "the refusal was logged"
    );
    assert!(!logs.contains("do-not-leak"), "a secret was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_and_the_item_filter_decide_who_is_told() {
    let w = world(Backend::Sqlite).await.unwrap();
    let changed = Receiver::start(ChannelKind::Wecom, None, w.clock()).await;
    let failures = Receiver::start(ChannelKind::Slack, None, w.clock()).await;
    let shop_only = Receiver::start(ChannelKind::Teams, None, w.clock()).await;
    let changed_id = w
        .channel(
            json!({"name": "changes", "kind": "wecom", "url": changed.url(), "rule": "changed"}),
        )
        .await;
    let failures_id = w
        .channel(
            json!({"name": "failures", "kind": "slack", "url": failures.url(), "rule": "failure"}),
        )
        .await;
    w.channel(
        json!({"name": "shop", "kind": "teams", "url": shop_only.url(), "test_item_ids": [2]}),
    )
    .await;

    // cds passes (first: a change), passes (no change), fails (a change), fails again.
    let first = w.run(1, 0, 2).await;
    assert_eq!(delivery(&first, changed_id)["status"], "sent");
    let skipped = delivery(&first, failures_id);
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert!(
        skipped["error"].as_str().unwrap().contains("rule failure"),
        "{skipped}"
    );
    let second = w.run(1, 0, 2).await;
    assert_eq!(delivery(&second, changed_id)["status"], "skipped");
    let third = w.run(1, 3, 2).await;
    assert_eq!(delivery(&third, changed_id)["status"], "sent");
    assert_eq!(delivery(&third, failures_id)["status"], "sent");
    let fourth = w.run(1, 3, 2).await;
    assert_eq!(delivery(&fourth, changed_id)["status"], "skipped");
    assert_eq!(
        changed.accepted().len(),
        2,
        "the first run and the flip to failing"
    );
    assert_eq!(failures.accepted().len(), 2, "the two failing runs");
    assert!(
        shop_only.accepted().is_empty(),
        "runs of cds never reach the shop channel"
    );
    assert_eq!(
        third["notifications"]["chat"].as_array().unwrap().len(),
        2,
        "the shop channel is not listed on a cds run"
    );

    let shop = w.run(2, 0, 3).await;
    assert_eq!(shop_only.accepted().len(), 1, "{shop}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_test_button_answers_what_the_platform_said_and_bad_input_names_the_field() {
    let w = world(Backend::Sqlite).await.unwrap();
    let feishu = Receiver::start(ChannelKind::Feishu, Some("fs-secret"), w.clock()).await;
    let good = w.channel(json!({"name": "lark", "kind": "feishu", "url": feishu.url(), "secret": "fs-secret", "language": "zh-CN"})).await;
    let bad = w
        .channel(
            json!({"name": "lark bad", "kind": "feishu", "url": feishu.url(), "secret": "not-it"}),
        )
        .await;
    let (s, ok) = send(
        &w.app,
        &w.admin,
        "POST",
        &format!("/api/v1/notification-channels/{good}/test"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ok["delivered"], true, "{ok}");
    assert_eq!(feishu.accepted().len(), 1);
    let (_, no) = send(
        &w.app,
        &w.admin,
        "POST",
        &format!("/api/v1/notification-channels/{bad}/test"),
        json!({}),
    )
    .await;
    assert_eq!(no["delivered"], false, "{no}");
    assert!(
        no["detail"].as_str().unwrap().contains("19021"),
        "the platform's code: {no}"
    );

    // PUT without `secret` keeps it; "" clears it.
    let path = format!("/api/v1/notification-channels/{good}");
    let (s, kept) = send(
        &w.app,
        &w.admin,
        "PUT",
        &path,
        json!({"name": "lark", "kind": "feishu", "url": feishu.url()}),
    )
    .await;
    assert_eq!(
        (s, &kept["secret_set"]),
        (StatusCode::OK, &json!(true)),
        "{kept}"
    );
    let (_, ok) = send(&w.app, &w.admin, "POST", &format!("{path}/test"), json!({})).await;
    assert_eq!(ok["delivered"], true, "the kept secret still signs: {ok}");
    let (_, cleared) = send(
        &w.app,
        &w.admin,
        "PUT",
        &path,
        json!({"name": "lark", "kind": "feishu", "url": feishu.url(), "secret": ""}),
    )
    .await;
    assert_eq!(cleared["secret_set"], false);

    for (body, field) in [
        (
            json!({"name": "x", "kind": "slack", "url": "ftp://h.example/x"}),
            "url",
        ),
        (
            json!({"name": "x", "kind": "slack", "url": "http://h.example/x", "secret": "s"}),
            "secret",
        ),
        (
            json!({"name": "", "kind": "slack", "url": "http://h.example/x"}),
            "name",
        ),
    ] {
        let (s, v) = send(
            &w.app,
            &w.admin,
            "POST",
            "/api/v1/notification-channels",
            body.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    // A well-formed id of no test item: 422, the message naming the entry.
    let (s, v) = send(
        &w.app,
        &w.admin,
        "POST",
        "/api/v1/notification-channels",
        json!({"name": "x", "kind": "slack", "url": "http://h.example/x", "test_item_ids": [99]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "test_item_not_found", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("test_item_ids[0]: no test item has id 99"),
        "{v}"
    );
    let (s, v) = send(
        &w.app,
        &w.admin,
        "POST",
        "/api/v1/notification-channels",
        json!({"name": "x", "kind": "irc", "url": "http://h.example"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = send(
        &w.app,
        &w.user,
        "GET",
        "/api/v1/notification-channels",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &w.app,
        &w.admin,
        "DELETE",
        &format!("/api/v1/notification-channels/{bad}"),
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = send(
        &w.app,
        &w.admin,
        "POST",
        &format!("/api/v1/notification-channels/{bad}/test"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}
