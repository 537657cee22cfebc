//! Sessions and login attempts: one session per email and role, expiry, atomic counting.

use super::*;
use chrono::TimeDelta;
use shared::domain::{LOGIN_WINDOW, LoginFailures, MAX_LOGIN_FAILURES};
use shared::ports::Store;
use std::sync::Arc;

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
