//! The timestamp contract of the store ports (`shared::ports::Store`): a stored time reads
//! back to the millisecond. Digits below the millisecond may be dropped (truncated, never
//! rounded: SQLite keeps exactly three), or kept (DynamoDB and JSON-held records keep
//! nanoseconds); nothing coarser is allowed, on every kind of record.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use shared::domain::Params;
use shared::ports::Store;

use super::config::{fields, selection};
use super::runs::run;
use super::{new_build, session, t0};

/// Checks one read-back time against the contract for a time written as `written`.
fn assert_kept_to_the_millisecond(what: &str, written: DateTime<Utc>, read: DateTime<Utc>) {
    let truncated =
        written - TimeDelta::nanoseconds(i64::from(written.timestamp_subsec_nanos() % 1_000_000));
    assert!(
        read == written || read == truncated,
        "{what}: wrote {written:?}, read back {read:?}; the contract is the millisecond \
         ({truncated:?}) or the exact time"
    );
}

pub async fn timestamps_read_back_to_the_millisecond(store: Arc<dyn Store>) {
    // GIVEN a time with digits below the millisecond (t0 is 10:00:00.123).
    let t = t0() + TimeDelta::nanoseconds(456_789);
    assert_ne!(t, t0());
    let kept = |what: &str, read: DateTime<Utc>| assert_kept_to_the_millisecond(what, t, read);

    // WHEN every kind of record is written with it THEN each reads back to the millisecond.
    let (build, _) = store
        .insert_build(&new_build("ts/JOB", 7), t)
        .await
        .unwrap();
    let build = store.get_build(build.id).await.unwrap().expect("build");
    kept("build created_at", build.created_at);

    let mut s = session("ts@example.com", "admin-ts", t + TimeDelta::hours(1));
    s.created_at = t;
    store.put_session(&s).await.unwrap();
    let got = store
        .get_session(&s.email, s.is_admin)
        .await
        .unwrap()
        .expect("session");
    kept("session created_at", got.created_at);
    assert_kept_to_the_millisecond("session expires_at", s.expires_at, got.expires_at);

    store
        .take_login_attempt("ts-key", 5, t)
        .await
        .unwrap()
        .unwrap();
    let failures = store
        .get_login_failures("ts-key")
        .await
        .unwrap()
        .expect("failures");
    kept("login failures window_start", failures.window_start);

    let params = Params::parse("params", &json!({"a": 1})).unwrap();
    let set = store
        .create_parameter_set("ts-set", "", &params, "dev@example.com", t)
        .await
        .unwrap();
    let got = store.get_parameter_set(set.id).await.unwrap().expect("set");
    kept("parameter set created_at", got.created_at);
    kept("parameter set updated_at", got.updated_at);
    let versions = store.list_parameter_set_versions(set.id).await.unwrap();
    kept("parameter set version updated_at", versions[0].updated_at);

    let item = store
        .create_test_item(&fields("ts-svc", "ts/JOB", None), t)
        .await
        .unwrap();
    let got = store.get_test_item(item.id).await.unwrap().expect("item");
    kept("test item created_at", got.created_at);
    kept("test item updated_at", got.updated_at);

    let env = store
        .create_environment(
            &super::environments::environment("ts-env", "http://127.0.0.1:9001"),
            t,
        )
        .await
        .unwrap();
    let got = store
        .get_environment(env.id)
        .await
        .unwrap()
        .expect("environment");
    kept("environment created_at", got.created_at);
    kept("environment updated_at", got.updated_at);

    let mut sel = selection("ts/JOB", build.id, 7);
    sel.last_synced_at = t;
    sel.updated_at = t;
    store.put_job_selection(&sel, None).await.unwrap();
    let got = store
        .get_job_selection(&sel.job_name)
        .await
        .unwrap()
        .expect("selection");
    kept("job selection last_synced_at", got.last_synced_at);
    kept("job selection updated_at", got.updated_at);

    let mut r = run(1, item.id);
    r.started_at = t;
    super::runs::start(&store, &r, t + TimeDelta::hours(1))
        .await
        .expect("the lock is free");
    let got = store.get_run(r.id.get()).await.unwrap().expect("run");
    kept("run started_at", got.started_at);
    let lock = store
        .get_run_lock(&Default::default())
        .await
        .unwrap()
        .expect("lock");
    assert_kept_to_the_millisecond(
        "run lock lease_until",
        t + TimeDelta::hours(1),
        lock.lease_until,
    );
}
