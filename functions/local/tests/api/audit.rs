//! The audit trail: every mutating route the router documents appends an entry naming who,
//! what, which record and which request, on both stores. The walk takes its list of
//! mutating routes from the OpenAPI document the routers build, so a new route that writes
//! no entry (or that this walk does not call) fails here.

use std::collections::BTreeSet;

use crate::common;
use common::peers::Peers;
use common::{ADMIN_PASSWORD, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// POST routes that are not a person's change: the Jenkins webhook (each build is its own
/// record, with its arrival time; the webhooks are counted in /metrics), and "test
/// connection", which only reads.
const NOT_AUDITED: &[(&str, &str)] = &[
    ("post", "/api/v1/builds"),
    ("post", "/api/v1/settings/test-connection"),
    ("post", "/api/v1/notification-channels/{id}/test"),
];

const PKG_DIR: &str = "CDN/pass/20250613-master-ctl/el7";

/// Every (method, path template) in the routers' document that changes something.
fn mutating_routes() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(local::openapi::document()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

struct Walk {
    app: TestApp,
    admin: String,
    /// (method, template) of every call made, to compare with the document.
    called: BTreeSet<(String, String)>,
    /// The newest entry id seen so far.
    last_id: i64,
}

impl Walk {
    /// Calls `method path` (documented as `template`) and returns the answer's body with the
    /// new audit entry it wrote (checked: one new entry, newest, with this request's id).
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (Value, Option<Value>) {
        self.called
            .insert((method.as_str().to_lowercase(), template.to_owned()));
        let mut req = self.app.client.request(method.clone(), self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let page = self.audit("").await;
        let newest = page["items"][0].clone();
        let id = newest["id"].as_i64().unwrap_or(0);
        if NOT_AUDITED.contains(&(&*method.as_str().to_lowercase(), template)) {
            assert_eq!(id, self.last_id, "{method} {template} wrote an entry");
            return (answer, None);
        }
        assert!(
            id > self.last_id,
            "{method} {template} wrote no audit entry (newest: {newest})"
        );
        assert_eq!(
            page["items"][1]["id"].as_i64().unwrap_or(0),
            self.last_id,
            "{method} {template} wrote more than one entry"
        );
        assert_eq!(newest["request_id"], request_id, "{newest}");
        self.last_id = id;
        (answer, Some(newest))
    }

    async fn audit(&self, query: &str) -> Value {
        let resp = self
            .app
            .get(&format!("/api/v1/audit?limit=2{query}"), Some(&self.admin))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }
}

/// Asserts `entry` is `action` on `target` by `actor`.
fn is(entry: &Option<Value>, action: &str, target: &str, actor: &str) -> Value {
    let entry = entry.clone().expect("an audit entry");
    assert_eq!(
        (&entry["action"], &entry["target"], &entry["actor"]),
        (&json!(action), &json!(target), &json!(actor)),
        "{entry}"
    );
    entry
}

async fn every_mutating_route_writes_one_audit_entry(backend: Backend) {
    let Some(app) = TestApp::start(backend, &[]).await else {
        return;
    };
    let peers = Peers::start().await;
    peers.add_package(PKG_DIR, "cds-1.0.0.tar.gz");
    let admin = app.admin_token().await;
    let mut w = Walk {
        app,
        admin: admin.clone(),
        called: BTreeSet::new(),
        last_id: 0,
    };
    // The admin's own login was the first entry.
    let first = w.audit("").await;
    let first = Some(first["items"][0].clone());
    let login = is(
        &first,
        "session.start",
        "session/admin@example.com",
        "admin@example.com",
    );
    assert_eq!(login["actor_is_admin"], true);
    w.last_id = login["id"].as_i64().unwrap();

    let (admin_a, a) = ("admin@example.com", Some(admin.as_str()));
    let (r, e) = w
        .call(
            Method::POST,
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "dev@example.com"})),
        )
        .await;
    let user = r["token"].as_str().unwrap().to_owned();
    is(
        &e,
        "session.start",
        "session/dev@example.com",
        "dev@example.com",
    );
    let u = Some(user.as_str());

    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/settings",
            "/api/v1/settings",
            a,
            Some(json!({"package_download_base_url": peers.packages.url,
                "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 5})),
        )
        .await;
    let e = is(&e, "settings.update", "settings", admin_a);
    let (probe, probe_entry) = w
        .call(
            Method::POST,
            "/api/v1/settings/test-connection",
            "/api/v1/settings/test-connection",
            a,
            Some(json!({"target": "test_server"})),
        )
        .await;
    assert!(probe_entry.is_none() && probe["reached"] == true, "{probe}");
    assert_eq!(
        e["changes"]["changed"]["poll_interval_seconds"],
        json!({"from": 60, "to": 5})
    );

    let (set, e) = w
        .call(Method::POST, "/api/v1/parameter-sets", "/api/v1/parameter-sets", a,
            Some(json!({"name": "base", "params": {"upgrade_type": "full", "db_password": "hunter2"}})))
        .await;
    let set_id = set["id"].as_i64().unwrap();
    let e = is(
        &e,
        "parameter_set.create",
        &format!("parameter-set/{set_id}"),
        admin_a,
    );
    assert_eq!(
        e["changes"]["created"]["params"]["db_password"], "(hidden)",
        "{e}"
    );
    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/parameter-sets/{id}",
            &format!("/api/v1/parameter-sets/{set_id}"),
            a,
            Some(json!({"params": {"upgrade_type": "update", "db_password": "hunter3"}})),
        )
        .await;
    let e = is(
        &e,
        "parameter_set.update",
        &format!("parameter-set/{set_id}"),
        admin_a,
    );
    assert_eq!(
        e["changes"]["changed"]["params"]["to"]["upgrade_type"], "update",
        "{e}"
    );

    let (env, e) = w
        .call(
            Method::POST,
            "/api/v1/environments",
            "/api/v1/environments",
            a,
            Some(json!({"name": "lab", "external_test_server_url": peers.test_server.url})),
        )
        .await;
    let env_id = env["id"].as_i64().unwrap();
    is(
        &e,
        "environment.create",
        &format!("environment/{env_id}"),
        admin_a,
    );
    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/environments/{id}",
            &format!("/api/v1/environments/{env_id}"),
            a,
            Some(json!({"name": "lab 2", "external_test_server_url": peers.test_server.url})),
        )
        .await;
    let e = is(
        &e,
        "environment.update",
        &format!("environment/{env_id}"),
        admin_a,
    );
    assert_eq!(
        e["changes"]["changed"]["name"],
        json!({"from": "lab", "to": "lab 2"})
    );

    let (item, e) = w
        .call(
            Method::POST,
            "/api/v1/test-items",
            "/api/v1/test-items",
            a,
            Some(json!({"name": "cds", "job_name": "CDN_CORE"})),
        )
        .await;
    let item_id = item["id"].as_i64().unwrap();
    is(
        &e,
        "test_item.create",
        &format!("test-item/{item_id}"),
        admin_a,
    );
    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/test-items/{id}",
            &format!("/api/v1/test-items/{item_id}"),
            a,
            Some(json!({"name": "cds", "job_name": "CDN_CORE", "description": "the CDN core"})),
        )
        .await;
    let e = is(
        &e,
        "test_item.update",
        &format!("test-item/{item_id}"),
        admin_a,
    );
    assert_eq!(
        e["changes"]["changed"]["description"]["to"], "the CDN core",
        "{e}"
    );

    let (build, e) = w
        .call(
            Method::POST,
            "/api/v1/builds",
            "/api/v1/builds",
            None,
            Some(json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "5", "PACKAGE_PATH": PKG_DIR})),
        )
        .await;
    assert!(e.is_none());
    let build_id = build["id"].as_i64().unwrap();
    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/job-versions",
            "/api/v1/job-versions",
            u,
            Some(json!({"job_name": "CDN_CORE", "build_id": build_id, "auto_sync": false})),
        )
        .await;
    let e = is(
        &e,
        "job_selection.update",
        "job/CDN_CORE",
        "dev@example.com",
    );
    assert_eq!(e["actor_is_admin"], false);
    let (_, e) = w
        .call(
            Method::POST,
            "/api/v1/job-versions/{job_name}/sync",
            "/api/v1/job-versions/CDN_CORE/sync",
            u,
            None,
        )
        .await;
    is(&e, "job_selection.sync", "job/CDN_CORE", "dev@example.com");
    let (_, e) = w
        .call(
            Method::POST,
            "/api/v1/job-versions/auto-sync",
            "/api/v1/job-versions/auto-sync",
            a,
            None,
        )
        .await;
    is(&e, "job_selection.auto_sync", "job-versions", admin_a);

    // A run that holds its lane (its test runs long), released by the admin.
    peers.test_control(json!({"test_seconds": 600})).await;
    let trigger_path = format!("/api/v1/test-items/{item_id}/deploy-test");
    let (run, e) = w
        .call(
            Method::POST,
            "/api/v1/test-items/{id}/deploy-test",
            &trigger_path,
            u,
            Some(json!({"build_info_id": build_id})),
        )
        .await;
    let run_id = run["id"].as_i64().unwrap();
    let e = is(
        &e,
        "run.trigger",
        &format!("run/{run_id}"),
        "dev@example.com",
    );
    assert_eq!(e["changes"]["build_number"], "5", "{e}");
    let (_, e) = w
        .call(
            Method::POST,
            "/api/v1/environments/{id}/release",
            "/api/v1/environments/default/release",
            a,
            Some(json!({"reason": "test server hung"})),
        )
        .await;
    let e = is(&e, "environment.release", "environment/default", admin_a);
    assert_eq!(
        (&e["changes"]["run_id"], &e["changes"]["reason"]),
        (&json!(run_id), &json!("test server hung"))
    );
    let (rerun, e) = w
        .call(
            Method::POST,
            "/api/v1/deploy-test-runs/{run_id}/rerun",
            &format!("/api/v1/deploy-test-runs/{run_id}/rerun"),
            a,
            None,
        )
        .await;
    let rerun_id = rerun["id"].as_i64().unwrap();
    let e = is(&e, "run.rerun", &format!("run/{rerun_id}"), admin_a);
    assert_eq!(e["changes"]["rerun_of"], run_id);
    let (_, e) = w
        .call(
            Method::POST,
            "/api/v1/deploy-test-runs/{run_id}/cancel",
            &format!("/api/v1/deploy-test-runs/{rerun_id}/cancel"),
            a,
            None,
        )
        .await;
    let e = is(&e, "run.cancel", &format!("run/{rerun_id}"), admin_a);
    assert_eq!(e["changes"]["status"], "CANCELLED");

    // Deletions, of records made for them (the others are in use).
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/job-versions/{job_name}",
            "/api/v1/job-versions/CDN_CORE",
            a,
            None,
        )
        .await;
    let e = is(&e, "job_selection.delete", "job/CDN_CORE", admin_a);
    assert_eq!(e["changes"]["deleted"]["build_id"], build_id, "{e}");
    let (spare, _) = w
        .call(
            Method::POST,
            "/api/v1/test-items",
            "/api/v1/test-items",
            a,
            Some(json!({"name": "spare", "job_name": "CDN_CORE"})),
        )
        .await;
    let spare_id = spare["id"].as_i64().unwrap();
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/test-items/{id}",
            &format!("/api/v1/test-items/{spare_id}"),
            a,
            None,
        )
        .await;
    let e = is(
        &e,
        "test_item.delete",
        &format!("test-item/{spare_id}"),
        admin_a,
    );
    assert_eq!(e["changes"]["deleted"]["name"], "spare");
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/environments/{id}",
            &format!("/api/v1/environments/{env_id}"),
            a,
            None,
        )
        .await;
    is(
        &e,
        "environment.delete",
        &format!("environment/{env_id}"),
        admin_a,
    );
    // A channel: its secret never reaches the trail (only `secret_set`).
    let (ch, e) = w
        .call(
            Method::POST,
            "/api/v1/notification-channels",
            "/api/v1/notification-channels",
            a,
            Some(json!({"name": "team", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "audit-hidden-secret"})),
        )
        .await;
    let ch_id = ch["id"].as_i64().unwrap();
    let e = is(&e, "channel.create", &format!("channel/{ch_id}"), admin_a);
    assert_eq!(e["changes"]["created"]["secret_set"], true, "{e}");
    let (_, e) = w
        .call(
            Method::PUT,
            "/api/v1/notification-channels/{id}",
            &format!("/api/v1/notification-channels/{ch_id}"),
            a,
            Some(json!({"name": "team", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "another-hidden-secret"})),
        )
        .await;
    is(&e, "channel.update", &format!("channel/{ch_id}"), admin_a);
    let (_, _) = w
        .call(
            Method::POST,
            "/api/v1/notification-channels/{id}/test",
            &format!("/api/v1/notification-channels/{ch_id}/test"),
            a,
            None,
        )
        .await;
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/notification-channels/{id}",
            &format!("/api/v1/notification-channels/{ch_id}"),
            a,
            None,
        )
        .await;
    let e = is(&e, "channel.delete", &format!("channel/{ch_id}"), admin_a);
    assert!(!e.to_string().contains("hidden-secret"), "{e}");
    let (spare_set, _) = w
        .call(
            Method::POST,
            "/api/v1/parameter-sets",
            "/api/v1/parameter-sets",
            a,
            Some(json!({"name": "spare", "params": {}})),
        )
        .await;
    let spare_set_id = spare_set["id"].as_i64().unwrap();
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/parameter-sets/{id}",
            &format!("/api/v1/parameter-sets/{spare_set_id}"),
            a,
            None,
        )
        .await;
    is(
        &e,
        "parameter_set.delete",
        &format!("parameter-set/{spare_set_id}"),
        admin_a,
    );

    // Sessions: the user logs out; the admin ends another person's session.
    let (_, e) = w
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            u,
            None,
        )
        .await;
    is(
        &e,
        "session.end",
        "session/dev@example.com",
        "dev@example.com",
    );
    let (_, _) = w
        .call(
            Method::POST,
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "qa@example.com"})),
        )
        .await;
    let (_, e) = w
        .call(
            Method::DELETE,
            "/api/v1/auth/sessions/{email}",
            "/api/v1/auth/sessions/qa@example.com",
            a,
            None,
        )
        .await;
    let e = is(&e, "session.end", "session/qa@example.com", admin_a);
    assert_eq!(e["changes"]["by"], "admin");

    // The walk called every mutating route there is.
    let documented = mutating_routes();
    let missed: Vec<_> = documented.difference(&w.called).collect();
    assert!(
        missed.is_empty(),
        "mutating routes this walk did not call (add them): {missed:?}"
    );

    // The filters: by actor, by target; no secret anywhere in the trail.
    let mine = w.audit("&actor=dev@example.com").await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "dev@example.com")
    );
    let on_item = w.audit(&format!("&target=test-item/{item_id}")).await;
    let actions: Vec<&Value> = on_item["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert_eq!(
        actions,
        [&json!("test_item.update"), &json!("test_item.create")]
    );
    let everything = w
        .app
        .get("/api/v1/audit?limit=200", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    for secret in ["hunter2", "hunter3", ADMIN_PASSWORD] {
        assert!(!everything.contains(secret), "{secret} in the trail");
    }
    // A user may not read it; a bad filter names its field.
    let user = w.app.user_token("dev@example.com").await;
    let by_user = w.app.get("/api/v1/audit", Some(&user)).await;
    assert_eq!(by_user.status(), StatusCode::FORBIDDEN);
    let bad = w
        .app
        .get("/api/v1/audit?actor=not-an-email", Some(&admin))
        .await;
    let body = common::assert_error(bad, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["error"]["field"], "actor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutating_route_writes_one_audit_entry_sqlite() {
    every_mutating_route_writes_one_audit_entry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutating_route_writes_one_audit_entry_dynamodb() {
    every_mutating_route_writes_one_audit_entry(Backend::Dynamo).await;
}
