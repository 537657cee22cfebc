//! The store conformance suite: every adapter must pass all of it.
//! Each check takes a fresh, empty store.

mod config;
mod round_trips;
pub mod runs;
mod timestamps;
pub use config::*;
pub use round_trips::*;
pub use runs::*;
pub use timestamps::*;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use shared::domain::{
    Email, JobName, LOGIN_WINDOW, LoginFailures, MAX_LOGIN_FAILURES, NewBuild, Session,
};
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

pub async fn one_session_per_email_and_role(store: Arc<dyn Store>) {
    let later = t0() + TimeDelta::hours(24);
    let dev = email("dev@example.com");
    for (addr, sid) in [
        ("dev@example.com", "s1"),
        ("admin@example.com", "admin1"),
        ("dev@example.com", "s2"),
    ] {
        store.put_session(&session(addr, sid, later)).await.unwrap();
    }
    let got = store.get_session(&dev, false).await.unwrap().unwrap();
    assert_eq!(
        got.session_id, "s2",
        "a newer session replaces the older one"
    );
    assert_eq!(got, session("dev@example.com", "s2", later));
    assert_eq!(store.get_session(&dev, true).await.unwrap(), None);

    // The same address as admin: a second session, and neither replaces the other.
    store
        .put_session(&session("dev@example.com", "admin-dev", later))
        .await
        .unwrap();
    store
        .put_session(&session("dev@example.com", "s3", later))
        .await
        .unwrap();
    let admin = store.get_session(&dev, true).await.unwrap().unwrap();
    assert_eq!(
        (admin.session_id.as_str(), admin.is_admin),
        ("admin-dev", true)
    );
    let user = store.get_session(&dev, false).await.unwrap().unwrap();
    assert_eq!((user.session_id.as_str(), user.is_admin), ("s3", false));

    let listed = store.list_sessions(t0()).await.unwrap();
    let keys: Vec<_> = listed
        .iter()
        .map(|s| (s.email.to_string(), s.is_admin))
        .collect();
    assert_eq!(
        keys,
        [
            ("admin@example.com".to_owned(), true),
            ("dev@example.com".to_owned(), false),
            ("dev@example.com".to_owned(), true),
        ]
    );

    // Logout ends one role's session; ending the email's sessions ends both.
    assert!(store.delete_session(&dev, Some(false)).await.unwrap());
    assert_eq!(store.get_session(&dev, false).await.unwrap(), None);
    assert!(store.get_session(&dev, true).await.unwrap().is_some());
    assert!(!store.delete_session(&dev, Some(false)).await.unwrap());
    store
        .put_session(&session("dev@example.com", "s4", later))
        .await
        .unwrap();
    assert!(store.delete_session(&dev, None).await.unwrap());
    assert_eq!(store.get_session(&dev, false).await.unwrap(), None);
    assert_eq!(store.get_session(&dev, true).await.unwrap(), None);
    assert!(!store.delete_session(&dev, None).await.unwrap());
    let left: Vec<_> = store
        .list_sessions(t0())
        .await
        .unwrap()
        .iter()
        .map(|s| s.email.to_string())
        .collect();
    assert_eq!(left, ["admin@example.com"]);
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

pub async fn login_attempts_are_checked_and_counted_atomically(store: Arc<dyn Store>) {
    const KEY: &str = "admin:email:a@example.com";
    assert_eq!(store.get_login_failures(KEY).await.unwrap(), None);
    let mut handles = Vec::new();
    for _ in 0..40 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.take_login_attempt(KEY, MAX_LOGIN_FAILURES, t0())
                .await
                .unwrap()
        }));
    }
    let (mut taken, mut refused) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => taken += 1,
            Err(locked) => {
                refused += 1;
                assert_eq!(locked.window_end(), t0() + LOGIN_WINDOW);
            }
        }
    }
    assert_eq!(
        (taken, refused),
        (MAX_LOGIN_FAILURES, 40 - MAX_LOGIN_FAILURES),
        "exactly the limit is taken, however many race"
    );
    let f = store.get_login_failures(KEY).await.unwrap().unwrap();
    assert_eq!((f.count, f.window_start), (MAX_LOGIN_FAILURES, t0()));

    // A success gives one back; the limit then holds again.
    store.give_back_login_attempt(KEY, t0()).await.unwrap();
    let again = store
        .take_login_attempt(KEY, MAX_LOGIN_FAILURES, t0())
        .await;
    assert_eq!(again.unwrap().unwrap().count, MAX_LOGIN_FAILURES);
    assert!(
        store
            .take_login_attempt(KEY, MAX_LOGIN_FAILURES, t0())
            .await
            .unwrap()
            .is_err()
    );

    // Another key is counted apart; a closed window counts for nothing.
    store
        .take_login_attempt("admin:ip:192.0.2.1", 20, t0())
        .await
        .unwrap()
        .unwrap();
    let later = t0() + LOGIN_WINDOW + TimeDelta::seconds(1);
    let fresh = store
        .take_login_attempt(KEY, MAX_LOGIN_FAILURES, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fresh.count, fresh.window_start), (1, later));
    let stale = store
        .get_login_failures("admin:ip:192.0.2.1")
        .await
        .unwrap();
    assert_eq!(
        LoginFailures::current(stale, later),
        None,
        "a closed window is deleted or expires"
    );
    // Giving back in a closed window changes nothing.
    store
        .give_back_login_attempt("admin:ip:192.0.2.1", later)
        .await
        .unwrap();

    store.clear_login_failures(KEY).await.unwrap();
    assert_eq!(store.get_login_failures(KEY).await.unwrap(), None);
}

/// Writes records the way an older, laxer version of CRAT (or a hand edit) could have
/// left them, bypassing every check: each adapter's test file implements it.
#[async_trait::async_trait]
pub trait RawWrites: Send + Sync {
    /// A build that is also the latest of its job.
    async fn raw_build(&self, id: i64, job: &str, number: i64, package_path: &str);
    async fn raw_session(&self, email: &str, is_admin: bool);
    async fn raw_test_item(&self, id: i64, notify_email: &str);
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
                description: String::new(),
                enabled: true,
                notify_emails: vec![email("qa@example.com")],
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
    let stored: Vec<_> = old.notify_emails.iter().map(|e| e.as_str()).collect();
    assert_eq!(stored, ["a..b@example.com"]);
    let fields = shared::domain::TestItemFields {
        name: old.name.clone(),
        job_name: old.job_name.clone(),
        parameter_set_id: None,
        description: "repaired".into(),
        enabled: true,
        notify_emails: vec![email("qa@example.com")],
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

/// Runs every check, each on a fresh store from `make_store`.
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr, $make_raw:expr) => {
        /// A store with a way to write records past its checks.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn unreadable_records_are_left_out_of_lists() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::unreadable_records_are_left_out_of_lists(store, raw).await;
        }
        /// A repeated webhook repairs a build stored under the old rules.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn repeat_webhook_repairs_an_unreadable_stored_build() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::repeat_webhook_repairs_an_unreadable_stored_build(store, raw).await;
        }
        $crate::conformance_tests!(@each $make_store;
            ids_are_sequential_per_sequence,
            build_round_trips,
            repeat_insert_returns_the_first_build,
            concurrent_identical_inserts_create_one_build,
            builds_list_newest_first_with_pages_and_job_filter,
            jobs_list_their_highest_build,
            one_session_per_email_and_role,
            expired_sessions_are_not_listed,
            login_attempts_are_checked_and_counted_atomically,
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
            execution_history_is_appended_and_read_page_by_page,
            accepted_values_re_read_equal,
            timestamps_read_back_to_the_millisecond,
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
