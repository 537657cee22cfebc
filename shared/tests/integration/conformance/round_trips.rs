//! Property tests on a real store: every value the parsers accept is stored and read
//! back equal (job names, package paths, emails, params, settings), and the cursors a
//! list hands out lead through it whole. Modest case counts keep the suite fast on moto.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use serde_json::json;
use shared::domain::config_values::parse_email_list;
use shared::domain::{
    Email, JobName, NewBuild, Params, ServiceName, Session, Settings, TestItemFields,
};
use shared::http::{ListResponse, PageParams};
use shared::ports::{Page, Store};

use super::t0;

// The generators the domain's own property tests draw from.
#[path = "../../../src/domain/round_trips/generators.rs"]
mod generators;
use generators::{emailish, job_name_ish, package_pathish, params_value, settings_patch};

const CASES: u32 = 64;

/// Encodes a page's cursor as the API does and decodes it as the next request would.
fn through_the_api<T, K: ToString>(page: Page<T, K>) -> (Vec<T>, PageParams) {
    let list = ListResponse::from_page(page);
    let next = PageParams {
        limit: None,
        cursor: list.next_cursor,
    };
    (list.items, next)
}

pub async fn accepted_values_re_read_equal(store: Arc<dyn Store>) {
    let handle = tokio::runtime::Handle::current();
    let next_number = std::sync::atomic::AtomicI64::new(1);
    let stored = std::sync::Mutex::new((BTreeSet::new(), Vec::new(), Vec::new()));
    // A fixed seed: the store round trip runs on both stores in every `make test`, and the
    // check below that enough generated builds were accepted must not depend on luck (the
    // domain's own property tests stay random).
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = (
        job_name_ish(),
        package_pathish(),
        prop::collection::vec(emailish(), 0..3),
        params_value(),
        settings_patch(),
    );
    let result = tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |(job, path, emails, params, patch)| {
                handle.block_on(async {
                let n = next_number.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let store = &store;
                // Builds: job name and package path as the webhook sends them.
                let webhook =
                    json!({"JOB_NAME": job, "BUILD_NUMBER": n.to_string(), "PACKAGE_PATH": path});
                let job_name = match NewBuild::from_webhook(&webhook) {
                    Ok(new) => {
                        let (b, created) = store.insert_build(&new, t0()).await.unwrap();
                        prop_assert!(created);
                        prop_assert_eq!(&b.package_path, &new.package_path);
                        let got = store.get_build(b.id).await.unwrap();
                        prop_assert_eq!(got.as_ref(), Some(&b));
                        let listed = store
                            .list_builds(Some(&new.job_name), None, 1)
                            .await
                            .unwrap();
                        prop_assert_eq!(listed.items.first(), Some(&b));
                        let latest = store.latest_build(&new.job_name).await.unwrap();
                        prop_assert_eq!(latest.as_ref(), Some(&b));
                        let mut seen = stored.lock().unwrap();
                        seen.0.insert(new.job_name.to_string());
                        seen.1.push(b.id);
                        new.job_name
                    }
                    Err(_) => JobName::parse("j", "J").unwrap(),
                };
                // Emails: sessions and a test item's notify list.
                for raw in &emails {
                    if let Ok(email) = Email::parse("email", raw) {
                        let s = Session {
                            email: email.clone(),
                            session_id: format!("s{n}"),
                            is_admin: n % 2 == 0,
                            token_sha256: "h".into(),
                            created_at: t0(),
                            expires_at: t0() + TimeDelta::hours(1),
                        };
                        store.put_session(&s).await.unwrap();
                        prop_assert_eq!(
                            store.get_session(&email, s.is_admin).await.unwrap(),
                            Some(s.clone())
                        );
                        stored.lock().unwrap().2.push(s);
                    }
                }
                if let Ok(list) = parse_email_list("notify_emails", &emails) {
                    let fields = TestItemFields {
                        name: ServiceName::parse("name", &format!("svc{n}")).unwrap(),
                        job_name: job_name.clone(),
                        parameter_set_id: None,
                        environment_id: None,
                        description: String::new(),
                        enabled: true,
                        notify_emails: list.clone(),
                        trigger_on_new_build: false,
                    };
                    let item = store.create_test_item(&fields, t0()).await.unwrap();
                    let got = store.get_test_item(item.id).await.unwrap().unwrap();
                    prop_assert_eq!(&got.notify_emails, &list);
                    prop_assert_eq!(&got.job_name, &job_name);
                }
                // Params: stored as JSON text, read back equal (floats included).
                if let Ok(p) = Params::parse("params", &params) {
                    let set = store
                        .create_parameter_set(&format!("set{n}"), "", &p, "a@example.com", t0())
                        .await
                        .unwrap();
                    let got = store.get_parameter_set(set.id).await.unwrap().unwrap();
                    prop_assert_eq!(got.params, p);
                }
                // Settings: saved whole, read back equal.
                if let Ok(s) = Settings::default().patched(&patch) {
                    let (_, version) = store.get_settings().await.unwrap();
                    let v = store.put_settings(&s, version).await.unwrap();
                    prop_assert_eq!(store.get_settings().await.unwrap(), (s, v));
                }
                Ok::<(), TestCaseError>(())
            })
            })
            // The failure (with the minimal input) as text: the error type is large.
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (jobs_stored, mut build_ids, sessions) = stored.into_inner().unwrap();
    // The latest session of each (email, role) is listed as stored.
    let listed = store.list_sessions(t0()).await.unwrap();
    for s in &sessions {
        let newest = sessions
            .iter()
            .rfind(|o| o.email == s.email && o.is_admin == s.is_admin);
        if newest == Some(s) {
            assert!(listed.contains(s), "{s:?} not listed");
        }
    }
    assert!(
        jobs_stored.len() >= CASES as usize / 4,
        "too few accepted builds to say anything: {}",
        jobs_stored.len()
    );

    // The cursors handed out lead through each list whole, in order.
    let mut names = Vec::new();
    let mut next = PageParams::default();
    for _ in 0..=jobs_stored.len() {
        let page = store
            .list_jobs(next.cursor().unwrap().as_deref(), 3)
            .await
            .unwrap();
        let (items, following) = through_the_api(page);
        names.extend(items.into_iter().map(|j| j.job_name.to_string()));
        next = following;
        if next.cursor.is_none() {
            break;
        }
    }
    let mut names_j = jobs_stored.clone();
    names_j.insert("J".into());
    let listed: BTreeSet<String> = names.iter().cloned().collect();
    assert!(listed.is_subset(&names_j), "{listed:?}");
    assert_eq!(
        names.iter().filter(|n| jobs_stored.contains(*n)).count(),
        jobs_stored.len(),
        "every job once"
    );
    assert!(names.windows(2).all(|w| w[0] < w[1]), "by name: {names:?}");

    let mut ids = Vec::new();
    let mut next = PageParams::default();
    for _ in 0..=build_ids.len() {
        let page = store
            .list_builds(None, next.id_cursor().unwrap(), 5)
            .await
            .unwrap();
        let (items, following) = through_the_api(page);
        ids.extend(items.into_iter().map(|b| b.id));
        next = following;
        if next.cursor.is_none() {
            break;
        }
    }
    build_ids.reverse();
    assert_eq!(ids, build_ids, "every build once, newest first");
}
