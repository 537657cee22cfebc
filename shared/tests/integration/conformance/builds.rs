//! Builds and jobs: sequential ids, round trips, idempotent inserts, pages and filters.

use super::*;
use chrono::TimeDelta;
use shared::domain::JobName;
use shared::ports::Store;
use std::sync::Arc;

pub async fn ids_are_sequential_per_sequence(store: Arc<dyn Store>) {
    assert_eq!(store.next_id("a").await.unwrap(), 1);
    assert_eq!(store.next_id("a").await.unwrap(), 2);
    assert_eq!(store.next_id("b").await.unwrap(), 1);
    let mut handles = Vec::new();
    for _ in 0..20 {
        let s = store.clone();
        handles.push(tokio::spawn(async move { s.next_id("a").await.unwrap() }));
    }
    let mut got: Vec<i64> = Vec::new();
    for h in handles {
        got.push(h.await.unwrap());
    }
    got.sort();
    assert_eq!(
        got,
        (3..23).collect::<Vec<_>>(),
        "concurrent ids must be distinct and gapless"
    );
}

pub async fn a_given_back_id_is_handed_out_again(store: Arc<dyn Store>) {
    assert_eq!(store.next_id("runs").await.unwrap(), 1);
    assert_eq!(store.next_id("runs").await.unwrap(), 2);
    assert!(store.give_back_id("runs", 2).await.unwrap());
    assert_eq!(store.next_id("runs").await.unwrap(), 2, "2 was given back");
    assert_eq!(store.next_id("runs").await.unwrap(), 3);
    // Not the latest: 3 was taken after 2, so 2 stays taken (ids never repeat in use).
    assert!(!store.give_back_id("runs", 2).await.unwrap());
    assert!(!store.give_back_id("never-used", 1).await.unwrap());
    assert_eq!(store.next_id("runs").await.unwrap(), 4);
    assert_eq!(store.next_id("never-used").await.unwrap(), 1);
}

pub async fn build_round_trips(store: Arc<dyn Store>) {
    let (b, created) = store
        .insert_build(&new_build("team/CDN_CORE", 101), t0())
        .await
        .unwrap();
    assert!(created);
    assert!(b.id > 0);
    assert_eq!(b.created_at, t0());
    let got = store.get_build(b.id).await.unwrap().expect("stored build");
    assert_eq!(got, b);
    assert_eq!(got.job_name.as_str(), "team/CDN_CORE");
    assert_eq!(got.build_user.as_deref(), Some("jenkins"));
    assert_eq!(store.get_build(b.id + 1000).await.unwrap(), None);
}

pub async fn repeat_insert_returns_the_first_build(store: Arc<dyn Store>) {
    let (first, created) = store
        .insert_build(&new_build("CDN_CORE", 7), t0())
        .await
        .unwrap();
    assert!(created);
    let mut changed = new_build("CDN_CORE", 7);
    changed.build_user = None;
    let (again, created) = store
        .insert_build(&changed, t0() + TimeDelta::hours(1))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first, "a repeat returns the stored build unchanged");
    let (other, created) = store
        .insert_build(&new_build("CDN_EDGE", 7), t0())
        .await
        .unwrap();
    assert!(created, "the same number in another job is another build");
    assert_ne!(other.id, first.id);
}

pub async fn concurrent_identical_inserts_create_one_build(store: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for _ in 0..50 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.insert_build(&new_build("CDN_CORE", 101), t0())
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for h in handles {
        let (b, c) = h.await.unwrap();
        created += usize::from(c);
        ids.insert(b.id);
    }
    assert_eq!(created, 1, "exactly one caller creates");
    assert_eq!(ids.len(), 1, "every caller sees the same id");
    let page = store.list_builds(None, None, 200).await.unwrap();
    assert_eq!(page.items.len(), 1, "one row stored");
}

/// Jenkins retrying one webhook a thousand times at once (issue 12): one build, and every
/// other caller is told it is a repeat of that build; no errors, no second row. All 1,000
/// callers start together; at most `in_flight` of them are inside the store at a time
/// (the bound a test server can take; see the store files).
pub async fn a_thousand_identical_webhooks_make_one_build(store: Arc<dyn Store>, in_flight: usize) {
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let (s, permits) = (store.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire().await.unwrap();
                s.insert_build(&new_build("CDN_CORE", 4242), t0()).await
            })
        })
        .collect();
    let (mut created, mut repeats) = (Vec::new(), Vec::new());
    for h in handles {
        match h.await.unwrap() {
            Ok((b, true)) => created.push(b),
            Ok((b, false)) => repeats.push(b),
            Err(e) => panic!("an identical webhook must not fail: {e}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one caller creates the build");
    assert_eq!(
        repeats.len(),
        999,
        "every other caller is answered as a repeat"
    );
    assert!(
        repeats.iter().all(|b| *b == created[0]),
        "every repeat returns the created build unchanged"
    );
    let page = store.list_builds(None, None, 200).await.unwrap();
    assert_eq!(page.items, created, "one row stored");
}

pub async fn builds_list_newest_first_with_pages_and_job_filter(store: Arc<dyn Store>) {
    for n in 1..=5 {
        store.insert_build(&new_build("A", n), t0()).await.unwrap();
        store.insert_build(&new_build("B", n), t0()).await.unwrap();
    }
    let all = store.list_builds(None, None, 200).await.unwrap();
    assert_eq!(all.items.len(), 10);
    assert_eq!(all.next, None);
    assert!(
        all.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );

    let job = JobName::parse("job_name", "A").unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_builds(Some(&job), cursor, 2).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|b| b.build_number.get()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![5, 4, 3, 2, 1]);
    let exact = store.list_builds(Some(&job), None, 5).await.unwrap();
    assert_eq!(exact.items.len(), 5);
    assert_eq!(exact.next, None, "no cursor when nothing follows");
    let none = store
        .list_builds(Some(&JobName::parse("j", "C").unwrap()), None, 20)
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

pub async fn jobs_list_their_highest_build(store: Arc<dyn Store>) {
    store.insert_build(&new_build("B", 3), t0()).await.unwrap();
    store.insert_build(&new_build("A", 10), t0()).await.unwrap();
    // A lower number arriving later is not the latest.
    store.insert_build(&new_build("A", 9), t0()).await.unwrap();
    store
        .insert_build(&new_build("C/x", 1), t0())
        .await
        .unwrap();
    let first = store.list_jobs(None, 2).await.unwrap();
    let names: Vec<_> = first.items.iter().map(|j| j.job_name.to_string()).collect();
    assert_eq!(names, ["A", "B"]);
    assert_eq!(first.items[0].latest_build.build_number.get(), 10);
    let rest = store.list_jobs(first.next.as_deref(), 2).await.unwrap();
    let names: Vec<_> = rest.items.iter().map(|j| j.job_name.to_string()).collect();
    assert_eq!(names, ["C/x"]);
    assert_eq!(rest.next, None);
}

pub async fn a_build_is_found_by_its_job_and_number(store: Arc<dyn Store>) {
    use shared::domain::BuildNumber;
    let (old, _) = store
        .insert_build(&new_build("team/CDN_CORE", 7), t0())
        .await
        .unwrap();
    for n in 8..30 {
        store
            .insert_build(&new_build("team/CDN_CORE", n), t0())
            .await
            .unwrap();
    }
    let (other, _) = store
        .insert_build(&new_build("CDN_EDGE", 7), t0())
        .await
        .unwrap();
    let core = JobName::parse("job", "team/CDN_CORE").unwrap();
    let edge = JobName::parse("job", "CDN_EDGE").unwrap();
    let seven = BuildNumber::from_stored(7);
    assert_eq!(store.find_build(&core, seven).await.unwrap(), Some(old));
    assert_eq!(store.find_build(&edge, seven).await.unwrap(), Some(other));
    assert_eq!(
        store
            .find_build(&edge, BuildNumber::from_stored(8))
            .await
            .unwrap(),
        None,
        "build 8 is CDN_CORE's only"
    );
    let unknown = JobName::parse("job", "NOPE").unwrap();
    assert_eq!(store.find_build(&unknown, seven).await.unwrap(), None);
}
