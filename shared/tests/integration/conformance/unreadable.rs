//! Records written past the store's checks: left out of lists, repaired by a repeated
//! webhook. `RawWrites` is how each adapter writes them.

use super::*;
use chrono::TimeDelta;
use shared::domain::JobName;
use shared::ports::Store;
use std::sync::Arc;

/// Writes records the way an older, laxer version of CRAT (or a hand edit) could have
/// left them, bypassing every check: each adapter's test file implements it.
#[async_trait::async_trait]
pub trait RawWrites: Send + Sync {
    /// A build that is also the latest of its job.
    async fn raw_build(&self, id: i64, job: &str, number: i64, package_path: &str);
    async fn raw_session(&self, email: &str, is_admin: bool);
    async fn raw_test_item(&self, id: i64, notify_email: &str);
    /// Overwrites stored run `id` (of `lane`) with JSON that names its id and lane but does
    /// not decode as a run.
    async fn raw_unreadable_run(&self, id: i64, lane: &str);
    /// A notification channel whose document is `doc`, as stored.
    async fn raw_channel(&self, id: i64, doc: &str);
}

/// A channel record that no longer reads (a kind this version does not know) is left out
/// of the list the delivery reads, so the other channels are still told.
pub async fn an_unreadable_channel_is_left_out_of_the_list(
    store: Arc<dyn Store>,
    raw: Arc<dyn RawWrites>,
) {
    use shared::domain::{ChannelFields, ChannelInput};
    use shared::ports::StoreError;
    let good = ChannelFields::parse(
        &ChannelInput {
            name: "team",
            kind: "slack",
            url: "https://hooks.slack.com/services/T/B/x",
            secret: None,
            rule: "always",
            test_item_ids: &[],
            language: "en",
            enabled: true,
        },
        None,
    )
    .unwrap();
    let kept = store.create_channel(&good, t0()).await.unwrap();
    raw.raw_channel(
        500,
        r#"{"name":"old","kind":"irc","url":"http://h.example","rule":"always","language":"en","enabled":true}"#,
    )
    .await;
    assert!(matches!(
        store
            .get_channel(shared::domain::ChannelId::from_stored(500))
            .await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.list_channels().await.unwrap(), vec![kept]);
}

/// Issue 13 review: Finalize's last resort releases a run's lane by the run's id; a run
/// record that cannot be read must not keep its lane held forever.
pub async fn a_lane_is_released_by_run_id_when_its_run_cannot_be_read(
    store: Arc<dyn Store>,
    raw: Arc<dyn RawWrites>,
) {
    use super::runs::{lease, run, start};
    use shared::domain::LaneId;
    use shared::ports::StoreError;
    let lane_a = LaneId::parse("lane", "A").unwrap();
    let mut on_a = run(1, 1);
    on_a.lane = lane_a.clone();
    start(&store, &on_a, lease()).await.unwrap();
    start(&store, &run(2, 1), lease()).await.unwrap();
    raw.raw_unreadable_run(1, "A").await;
    assert!(
        matches!(store.get_run(1).await, Err(StoreError::Corrupt(_))),
        "the record does not read"
    );

    assert_eq!(
        store.release_lock_of_run(1).await.unwrap(),
        Some(lane_a.clone())
    );
    assert_eq!(store.get_run_lock(&lane_a).await.unwrap(), None);
    assert_eq!(
        store.release_lock_of_run(1).await.unwrap(),
        None,
        "released once"
    );
    assert_eq!(
        store
            .get_run_lock(&LaneId::default())
            .await
            .unwrap()
            .map(|l| l.run_id),
        Some(2),
        "another lane's lock stays"
    );
    let mut next = run(3, 1);
    next.lane = lane_a.clone();
    start(&store, &next, lease()).await.unwrap();
    // A readable run is released by its id too, on its own lane only.
    assert_eq!(
        store.release_lock_of_run(2).await.unwrap(),
        Some(LaneId::default())
    );
    assert_eq!(
        store.get_run_lock(&lane_a).await.unwrap().map(|l| l.run_id),
        Some(3)
    );
}

pub async fn unreadable_records_are_left_out_of_lists(
    store: Arc<dyn Store>,
    raw: Arc<dyn RawWrites>,
) {
    for (job, n) in [("A", 1), ("A", 2), ("B", 1)] {
        store.insert_build(&new_build(job, n), t0()).await.unwrap();
    }
    // "CDN/. " was accepted by the old parser and never re-reads.
    raw.raw_build(100, "C", 1, "CDN/. ").await;
    raw.raw_build(101, "A", 3, "CDN/. ").await;

    let all = store.list_builds(None, None, 200).await.unwrap();
    let ids: Vec<_> = all.items.iter().map(|b| b.id).collect();
    assert_eq!(
        ids,
        [3, 2, 1],
        "the bad builds are left out, the rest listed"
    );
    assert_eq!(all.next, None);
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = store.list_builds(None, cursor, 1).await.unwrap();
        seen.extend(page.items.iter().map(|b| b.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, [3, 2, 1], "a skipped row never ends the paging early");
    let job_a = JobName::parse("j", "A").unwrap();
    let a = store.list_builds(Some(&job_a), None, 200).await.unwrap();
    assert_eq!(a.items.iter().map(|b| b.id).collect::<Vec<_>>(), [2, 1]);

    let jobs = store.list_jobs(None, 200).await.unwrap();
    let names: Vec<_> = jobs.items.iter().map(|j| j.job_name.to_string()).collect();
    assert_eq!(
        names,
        ["B"],
        "jobs whose latest build cannot be read are left out"
    );
    let first = store.list_jobs(None, 1).await.unwrap();
    let rest = store.list_jobs(first.next.as_deref(), 200).await.unwrap();
    let mut paged: Vec<_> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|j| j.job_name.to_string())
        .collect();
    paged.dedup();
    assert_eq!(paged, ["B"]);

    // 32 × 'İ' passed the old length check before lower-casing.
    raw.raw_session(&format!("{}@example.com", "i\u{307}".repeat(32)), false)
        .await;
    store
        .put_session(&session(
            "dev@example.com",
            "s1",
            t0() + TimeDelta::hours(1),
        ))
        .await
        .unwrap();
    let sessions = store.list_sessions(t0()).await.unwrap();
    let emails: Vec<_> = sessions.iter().map(|s| s.email.to_string()).collect();
    assert_eq!(emails, ["dev@example.com"]);

    // An address the mailer refuses, accepted by the old parser: the stored item stays
    // readable (listed, fetched, updated), the address read as it was stored.
    raw.raw_test_item(50, " A..B@Example.com").await;
    let good = store
        .create_test_item(
            &shared::domain::TestItemFields {
                name: shared::domain::ServiceName::parse("name", "cds").unwrap(),
                job_name: job_a.clone(),
                parameter_set_id: None,
                environment_id: None,
                description: String::new(),
                enabled: true,
                notify_emails: vec![email("qa@example.com")],
                trigger_on_new_build: false,
            },
            t0(),
        )
        .await
        .unwrap();
    let items = store.list_test_items(None, 200).await.unwrap();
    let mut ids: Vec<_> = items.items.iter().map(|i| i.id).collect();
    ids.sort();
    let mut want = vec![50, good.id];
    want.sort();
    assert_eq!(ids, want, "the old item is listed");
    let old = store.get_test_item(50).await.unwrap().unwrap();
    assert_eq!(
        old.environment_id, None,
        "stored before environments: the default"
    );
    let stored: Vec<_> = old.notify_emails.iter().map(|e| e.as_str()).collect();
    assert_eq!(stored, ["a..b@example.com"]);
    let fields = shared::domain::TestItemFields {
        name: old.name.clone(),
        job_name: old.job_name.clone(),
        parameter_set_id: None,
        environment_id: None,
        description: "repaired".into(),
        enabled: true,
        notify_emails: vec![email("qa@example.com")],
        trigger_on_new_build: false,
    };
    let repaired = store
        .update_test_item(50, &fields, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(repaired.notify_emails, fields.notify_emails);
    assert_eq!(
        store
            .get_test_item(50)
            .await
            .unwrap()
            .unwrap()
            .notify_emails,
        [email("qa@example.com")]
    );
}

/// Jenkins repeats a webhook whose build was stored before the stricter parser
/// (`CDN/. `): the stored row is repaired from the request (same id), never a 500 forever.
pub async fn repeat_webhook_repairs_an_unreadable_stored_build(
    store: Arc<dyn Store>,
    raw: Arc<dyn RawWrites>,
) {
    raw.raw_build(100, "C", 1, "CDN/. ").await;
    let repeat = new_build("C", 1);
    for _ in 0..2 {
        let (build, created) = store.insert_build(&repeat, t0()).await.unwrap();
        assert!(!created, "the build was stored before");
        assert_eq!(build.id, 100);
        assert_eq!(build.package_path, repeat.package_path);
    }
    let read = store.get_build(100).await.unwrap().unwrap();
    assert_eq!(read.package_path.as_str(), "CDN/pass/C-1/el7");
    let all = store.list_builds(None, None, 200).await.unwrap();
    assert_eq!(all.items.iter().map(|b| b.id).collect::<Vec<_>>(), [100]);
}
