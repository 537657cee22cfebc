//! The store conformance suite: every adapter must pass all of it.
//! Each check takes a fresh, empty store.

mod config;
mod runs;
pub use config::*;
pub use runs::*;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use shared::domain::{Email, JobName, LoginFailures, MAX_LOGIN_FAILURES, NewBuild, Session};
use shared::ports::Store;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123Z")
        .unwrap()
        .to_utc()
}

pub fn new_build(job: &str, number: i64) -> NewBuild {
    NewBuild::from_webhook(&json!({"JOB_NAME": job, "BUILD_NUMBER": number.to_string(),
        "PACKAGE_PATH": format!("CDN/pass/{job}-{number}/el7"), "BUILD_USER": "jenkins"}))
    .unwrap()
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

fn session(addr: &str, sid: &str, expires_at: DateTime<Utc>) -> Session {
    Session {
        email: email(addr),
        session_id: sid.into(),
        is_admin: sid.starts_with("admin"),
        token_sha256: format!("hash-{sid}"),
        created_at: t0(),
        expires_at,
    }
}

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

pub async fn one_session_per_email(store: Arc<dyn Store>) {
    let later = t0() + TimeDelta::hours(24);
    store
        .put_session(&session("dev@example.com", "s1", later))
        .await
        .unwrap();
    store
        .put_session(&session("admin@example.com", "admin1", later))
        .await
        .unwrap();
    store
        .put_session(&session("dev@example.com", "s2", later))
        .await
        .unwrap();
    let got = store
        .get_session(&email("dev@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.session_id, "s2",
        "a newer session replaces the older one"
    );
    assert_eq!(got, session("dev@example.com", "s2", later));
    let listed = store.list_sessions(t0()).await.unwrap();
    let emails: Vec<_> = listed.iter().map(|s| s.email.to_string()).collect();
    assert_eq!(emails, ["admin@example.com", "dev@example.com"]);
    assert!(listed[0].is_admin);

    assert!(
        store
            .delete_session(&email("dev@example.com"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_session(&email("dev@example.com"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_session(&email("dev@example.com")).await.unwrap(),
        None
    );
}

pub async fn expired_sessions_are_not_listed(store: Arc<dyn Store>) {
    store
        .put_session(&session(
            "old@example.com",
            "s1",
            t0() + TimeDelta::minutes(1),
        ))
        .await
        .unwrap();
    store
        .put_session(&session(
            "new@example.com",
            "s2",
            t0() + TimeDelta::hours(1),
        ))
        .await
        .unwrap();
    let listed = store
        .list_sessions(t0() + TimeDelta::minutes(2))
        .await
        .unwrap();
    let emails: Vec<_> = listed.iter().map(|s| s.email.to_string()).collect();
    assert_eq!(emails, ["new@example.com"]);
}

pub async fn login_failures_count_atomically_and_clear(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .get_login_failures("admin:a@example.com")
            .await
            .unwrap(),
        None
    );
    let mut handles = Vec::new();
    for _ in 0..20 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.record_login_failure("admin:a@example.com", t0())
                .await
                .unwrap()
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let f = store
        .get_login_failures("admin:a@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.count, 20, "no failure lost under concurrency");
    assert_eq!(f.window_start, t0());
    assert!(LoginFailures::locked_for(Some(f), t0()).is_some());
    assert!(f.count >= MAX_LOGIN_FAILURES);

    // A failure after the window starts a new one.
    let later = t0() + TimeDelta::hours(1);
    let fresh = store
        .record_login_failure("admin:a@example.com", later)
        .await
        .unwrap();
    assert_eq!((fresh.count, fresh.window_start), (1, later));

    store
        .clear_login_failures("admin:a@example.com")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_login_failures("admin:a@example.com")
            .await
            .unwrap(),
        None
    );
}

/// Runs every check, each on a fresh store from `make_store`.
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr) => {
        $crate::conformance_tests!(@each $make_store;
            ids_are_sequential_per_sequence,
            build_round_trips,
            repeat_insert_returns_the_first_build,
            concurrent_identical_inserts_create_one_build,
            builds_list_newest_first_with_pages_and_job_filter,
            jobs_list_their_highest_build,
            one_session_per_email,
            expired_sessions_are_not_listed,
            login_failures_count_atomically_and_clear,
            first_parameter_set_is_the_default_and_names_are_unique,
            concurrent_first_sets_make_one_default,
            updates_bump_version_and_keep_history,
            default_and_in_use_sets_are_not_deleted,
            test_items_round_trip_and_are_unique_per_job,
            job_selections_save_conditionally,
            latest_build_is_the_highest_number,
            settings_default_then_versioned_saves,
            run_lock_admits_one_run_at_a_time,
            run_lock_lease_is_renewed_by_its_holder_only,
            concurrent_starts_have_one_winner,
            runs_round_trip_and_update_by_revision,
            runs_list_by_status_and_item,
            execution_records_round_trip_and_running_ones_are_listed,
        );
    };
    (@each $make_store:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make_store.await else { return };
                conformance::$name(store).await;
            }
        )*
    };
}
