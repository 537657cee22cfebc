//! DynamoDB calls of the webhook's store path, counted by an SDK interceptor on the
//! store's client, so the cloud's cost goal cannot regress unnoticed (README "What it
//! costs in the cloud"): a new build is one write call, a repeat none. The same goals
//! through the HTTP handlers, and the authenticated GET's: `local --test api cloud_calls`.
//! Same moto as `store_dynamodb`.

use chrono::Utc;
use serde_json::json;

use shared::Deps;
use shared::domain::{JobName, ServiceName, TestItemFields};
use shared::services::builds::record_build;

use super::dynamodb_wire::{Wire, wired_deps, writes};

/// Deps on a fresh table whose client counts its calls; `None` when moto is not there.
async fn counted_deps() -> Option<(Deps, Wire, tempfile::TempDir)> {
    wired_deps().await.map(|w| (w.deps, w.wire, w.dir))
}

/// [`counted_deps`] and the store's own client and table, to write items past every check.
async fn counted_store() -> Option<(
    Deps,
    Wire,
    tempfile::TempDir,
    (aws_sdk_dynamodb::Client, String),
)> {
    wired_deps()
        .await
        .map(|w| (w.deps, w.wire, w.dir, (w.client, w.table)))
}

fn item_fields(name: &str, job: &str) -> TestItemFields {
    TestItemFields {
        name: ServiceName::parse("name", name).unwrap(),
        job_name: JobName::parse("job_name", job).unwrap(),
        parameter_set_id: None,
        environment_id: None,
        description: String::new(),
        enabled: true,
        notify_emails: Vec::new(),
        trigger_on_new_build: false,
    }
}

fn webhook(job: &str, number: u32) -> serde_json::Value {
    json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": job, "PACKAGE_PATH": "CDN/pass/x/el7",
           "BUILD_NUMBER": number.to_string()})
}

/// What a new build's webhook sends: the reads before the write, the one write, the job's
/// selection (`follow_new_build`), and the job's items a new build starts (a sparse index
/// partition: one Query whatever the number of test items, issue 13).
const NEW_BUILD_CALLS: [&str; 4] = ["BatchGetItem", "TransactWriteItems", "GetItem", "Query"];

#[tokio::test]
async fn webhook_new_build_is_one_write_call_and_a_repeat_none() {
    let Some((deps, calls, _dir)) = counted_deps().await else {
        return;
    };
    // The very first build (no counter, no job item yet), then one of a known job, then
    // the first of another job: one write call each.
    for (job, number, id) in [("CDN_CORE", 1, 1), ("CDN_CORE", 2, 2), ("CDN_EDGE", 7, 3)] {
        let (build, created) = record_build(&deps, &webhook(job, number)).await.unwrap();
        assert!(created);
        assert_eq!(build.id, id, "ids stay sequential");
        let made = calls.take();
        assert_eq!(made, NEW_BUILD_CALLS, "new build {job} #{number}");
    }
    // More test items than a page of the items list (200), none of them started by a
    // CDN_CORE build: the webhook still reads no item and makes the same calls.
    for i in 0..210 {
        let mut fields = item_fields(&format!("other-{i}"), "CDN_OTHER");
        fields.trigger_on_new_build = i % 2 == 0;
        fields.enabled = i % 3 != 0;
        deps.store
            .create_test_item(&fields, Utc::now())
            .await
            .unwrap();
    }
    calls.take();
    let (_, created) = record_build(&deps, &webhook("CDN_CORE", 4)).await.unwrap();
    assert!(created);
    assert_eq!(
        calls.take(),
        NEW_BUILD_CALLS,
        "new build with 210 items of another job"
    );
    // A repeat answers the first build and writes nothing.
    let (build, created) = record_build(&deps, &webhook("CDN_CORE", 2)).await.unwrap();
    assert!(!created);
    assert_eq!(build.id, 2);
    let made = calls.take();
    assert_eq!(writes(&made), 0, "repeat: {made:?}");
    assert!(made.len() <= 3, "repeat: {made:?}");
    // An older build arriving late is stored but leaves the job at its newest build.
    let (late, created) = record_build(&deps, &webhook("CDN_CORE", 500))
        .await
        .unwrap();
    assert!(created);
    let (older, _) = record_build(&deps, &webhook("CDN_CORE", 3)).await.unwrap();
    let made = calls.take();
    assert_eq!(writes(&made), 2, "two new builds: {made:?}");
    let job = JobName::parse("j", "CDN_CORE").unwrap();
    let latest = deps.store.latest_build(&job).await.unwrap().unwrap();
    assert_eq!(latest.id, late.id);
    assert_ne!(older.id, late.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_new_builds_each_get_their_own_id() {
    let Some((deps, _calls, _dir)) = counted_deps().await else {
        return;
    };
    // Optimistic ids: the losers of a race on the counter fall back to the atomic one.
    let mut handles = Vec::new();
    for number in 1..=20u32 {
        let deps = deps.clone();
        handles.push(tokio::spawn(async move {
            record_build(&deps, &webhook("CDN_CORE", number))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        let (build, created) = h.await.unwrap();
        assert!(created);
        ids.push(build.id);
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=20).collect::<Vec<i64>>(), "unique, no gaps here");
    let job = JobName::parse("j", "CDN_CORE").unwrap();
    let latest = deps.store.latest_build(&job).await.unwrap().unwrap();
    assert_eq!(
        latest.build_number.get(),
        20,
        "the job points at its newest"
    );
}

#[tokio::test]
async fn a_job_item_without_a_build_number_does_not_stop_the_webhook() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let Some((deps, _calls, _dir, (client, table))) = counted_store().await else {
        return;
    };
    // GIVEN a job item an older version left without latest_build_number
    let s = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&table)
        .item("PK", s("JOB#CDN_CORE"))
        .item("SK", s("JOB"))
        .item("job_name", s("CDN_CORE"))
        .send()
        .await
        .unwrap();
    // WHEN a build arrives, and again, THEN it is stored once (the job item is left alone)
    let (build, created) = record_build(&deps, &webhook("CDN_CORE", 4)).await.unwrap();
    assert!(created);
    let (again, created) = record_build(&deps, &webhook("CDN_CORE", 4)).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, build.id);
}
