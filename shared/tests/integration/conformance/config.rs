//! Conformance checks for test items, parameter sets, job selections and settings.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;
use shared::domain::{
    BuildNumber, Email, JobName, JobSelection, MailLanguage, Params, ServiceName, Settings,
    TestItemFields,
};
use shared::ports::{SetDeletion, Store, StoreError};

use super::{new_build, t0};

fn params(v: serde_json::Value) -> Params {
    Params::parse("params", &v).unwrap()
}

pub(super) fn fields(name: &str, job: &str, set: Option<i64>) -> TestItemFields {
    TestItemFields {
        name: ServiceName::parse("name", name).unwrap(),
        job_name: JobName::parse("job_name", job).unwrap(),
        parameter_set_id: set,
        environment_id: None,
        description: "d".into(),
        enabled: true,
        notify_emails: vec![Email::parse("e", "qa@example.com").unwrap()],
        trigger_on_new_build: false,
    }
}

pub async fn first_parameter_set_is_the_default_and_names_are_unique(store: Arc<dyn Store>) {
    assert_eq!(store.default_parameter_set().await.unwrap(), None);
    let a = store
        .create_parameter_set(
            "base",
            "first",
            &params(json!({"upgrade_type": "full"})),
            "admin@example.com",
            t0(),
        )
        .await
        .unwrap();
    assert!(a.is_default);
    assert_eq!(a.version, 1);
    assert_eq!((a.created_at, a.updated_at), (t0(), t0()));
    assert_eq!(a.updated_by.as_deref(), Some("admin@example.com"));
    let b = store
        .create_parameter_set("other", "", &params(json!({})), "admin@example.com", t0())
        .await
        .unwrap();
    assert!(!b.is_default);
    assert_ne!(a.id, b.id);
    let dup = store
        .create_parameter_set("base", "", &params(json!({})), "admin@example.com", t0())
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(store.get_parameter_set(a.id).await.unwrap().unwrap(), a);
    assert_eq!(
        store.default_parameter_set().await.unwrap().unwrap().id,
        a.id
    );
    assert_eq!(store.get_parameter_set(9999).await.unwrap(), None);

    let page = store.list_parameter_sets(None, 1).await.unwrap();
    assert_eq!(page.items.iter().map(|s| s.id).collect::<Vec<_>>(), [a.id]);
    let rest = store.list_parameter_sets(page.next, 1).await.unwrap();
    assert_eq!(rest.items.iter().map(|s| s.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(rest.next, None);
}

pub async fn concurrent_first_sets_make_one_default(store: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.create_parameter_set(
                &format!("set{i}"),
                "",
                &params(json!({})),
                "a@example.com",
                t0(),
            )
            .await
            .unwrap()
        }));
    }
    let mut defaults = 0;
    for h in handles {
        defaults += usize::from(h.await.unwrap().is_default);
    }
    assert_eq!(defaults, 1, "exactly one default");
    let all = store.list_parameter_sets(None, 200).await.unwrap();
    assert_eq!(all.items.iter().filter(|s| s.is_default).count(), 1);
}

pub async fn updates_bump_version_and_keep_history(store: Arc<dyn Store>) {
    let v1 = store
        .create_parameter_set(
            "base",
            "v1",
            &params(json!({"n": 1})),
            "a@example.com",
            t0(),
        )
        .await
        .unwrap();
    let mut current = v1.clone();
    for n in 2..=4 {
        let mut next = current.clone();
        next.version += 1;
        next.description = format!("v{n}");
        next.params = params(json!({"n": n}));
        next.updated_at = t0() + TimeDelta::minutes(n);
        next.updated_by = Some("b@example.com".into());
        current = store.update_parameter_set(&next).await.unwrap().unwrap();
        assert_eq!(current.version, n);
        assert_eq!(current.created_at, t0());
    }
    let versions = store.list_parameter_set_versions(v1.id).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [4, 3, 2, 1]
    );
    assert_eq!(versions[3].params, params(json!({"n": 1})));
    assert_eq!(versions[3].description, "v1");
    assert_eq!(versions[0].params, params(json!({"n": 4})));

    // A stale writer loses.
    let mut stale = current.clone();
    stale.version = 4; // stored is 4, so expected 3: stale
    assert!(matches!(
        store.update_parameter_set(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    // Renaming onto another set's name loses.
    store
        .create_parameter_set("taken", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let mut rename = current.clone();
    rename.version += 1;
    rename.name = "taken".into();
    assert!(matches!(
        store.update_parameter_set(&rename).await,
        Err(StoreError::Conflict(_))
    ));
    // Renaming frees the old name.
    rename.name = "renamed".into();
    store.update_parameter_set(&rename).await.unwrap().unwrap();
    store
        .create_parameter_set("base", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let mut missing = current.clone();
    missing.id = 9999;
    assert_eq!(store.update_parameter_set(&missing).await.unwrap(), None);
}

pub async fn default_and_in_use_sets_are_not_deleted(store: Arc<dyn Store>) {
    let default = store
        .create_parameter_set("base", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let used = store
        .create_parameter_set("used", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let free = store
        .create_parameter_set("free", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let item = store
        .create_test_item(&fields("cds", "CDN_CORE", Some(used.id)), t0())
        .await
        .unwrap();

    assert_eq!(
        store.delete_parameter_set(default.id).await.unwrap(),
        SetDeletion::IsDefault
    );
    assert_eq!(
        store.delete_parameter_set(used.id).await.unwrap(),
        SetDeletion::InUse
    );
    assert_eq!(
        store.delete_parameter_set(free.id).await.unwrap(),
        SetDeletion::Deleted
    );
    assert_eq!(
        store.delete_parameter_set(free.id).await.unwrap(),
        SetDeletion::NotFound
    );
    assert_eq!(store.get_parameter_set(free.id).await.unwrap(), None);

    // Moving the item off the set frees it; moving the default makes the old one deletable.
    store
        .update_test_item(item.id, &fields("cds", "CDN_CORE", None), t0())
        .await
        .unwrap()
        .unwrap();
    assert!(store.set_default_parameter_set(used.id).await.unwrap());
    assert!(
        !store
            .get_parameter_set(default.id)
            .await
            .unwrap()
            .unwrap()
            .is_default
    );
    assert_eq!(
        store.default_parameter_set().await.unwrap().unwrap().id,
        used.id
    );
    assert_eq!(
        store.delete_parameter_set(default.id).await.unwrap(),
        SetDeletion::Deleted
    );
    assert_eq!(
        store.delete_parameter_set(used.id).await.unwrap(),
        SetDeletion::IsDefault
    );
    assert!(!store.set_default_parameter_set(9999).await.unwrap());
    // Deleting the item frees its set.
    let other = store
        .create_parameter_set("other", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let item2 = store
        .create_test_item(&fields("sds", "CDN_CORE", Some(other.id)), t0())
        .await
        .unwrap();
    assert_eq!(
        store.delete_parameter_set(other.id).await.unwrap(),
        SetDeletion::InUse
    );
    assert!(store.delete_test_item(item2.id).await.unwrap());
    assert_eq!(
        store.delete_parameter_set(other.id).await.unwrap(),
        SetDeletion::Deleted
    );
}

pub async fn test_items_round_trip_and_are_unique_per_job(store: Arc<dyn Store>) {
    let set = store
        .create_parameter_set("base", "", &params(json!({})), "a@example.com", t0())
        .await
        .unwrap();
    let a = store
        .create_test_item(&fields("cds", "CDN_CORE", None), t0())
        .await
        .unwrap();
    assert_eq!(a.name.as_str(), "cds");
    assert_eq!(a.notify_emails.len(), 1);
    assert_eq!(store.get_test_item(a.id).await.unwrap().unwrap(), a);
    let dup = store
        .create_test_item(&fields("cds", "CDN_CORE", None), t0())
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let b = store
        .create_test_item(&fields("cds", "team/CDN_EDGE", Some(set.id)), t0())
        .await
        .unwrap();
    let missing_set = store
        .create_test_item(&fields("sds", "CDN_CORE", Some(9999)), t0())
        .await;
    assert!(
        matches!(missing_set, Err(StoreError::Conflict(_))),
        "{missing_set:?}"
    );

    let mut changed = fields("sls", "CDN_CORE", Some(set.id));
    changed.enabled = false;
    changed.notify_emails.clear();
    let later = t0() + TimeDelta::hours(1);
    let updated = store
        .update_test_item(a.id, &changed, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.enabled,
            updated.parameter_set_id
        ),
        ("sls", false, Some(set.id))
    );
    assert_eq!((updated.created_at, updated.updated_at), (t0(), later));
    // Renaming onto b's (name, job) is a conflict; onto a free one is fine, and frees the old one.
    let clash = store
        .update_test_item(a.id, &fields("cds", "team/CDN_EDGE", None), later)
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    store
        .create_test_item(&fields("cds", "CDN_CORE", None), t0())
        .await
        .unwrap();
    assert_eq!(
        store.update_test_item(9999, &changed, later).await.unwrap(),
        None
    );

    let page = store.list_test_items(None, 2).await.unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [a.id, b.id]
    );
    assert_eq!(
        store
            .list_test_items(page.next, 2)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(store.delete_test_item(b.id).await.unwrap());
    assert!(!store.delete_test_item(b.id).await.unwrap());
    assert_eq!(store.get_test_item(b.id).await.unwrap(), None);
}

pub(super) fn selection(job: &str, build_id: i64, number: i64) -> JobSelection {
    JobSelection {
        job_name: JobName::parse("job_name", job).unwrap(),
        build_id,
        build_number: BuildNumber::from_stored(number),
        auto_sync: true,
        sync_on_new_build: false,
        last_synced_at: t0(),
        updated_by: "dev@example.com".into(),
        updated_at: t0(),
    }
}

pub async fn job_selections_save_conditionally(store: Arc<dyn Store>) {
    let job = JobName::parse("job_name", "team/CDN_CORE").unwrap();
    assert_eq!(store.get_job_selection(&job).await.unwrap(), None);
    // A conditional move of a missing selection is a conflict.
    assert!(matches!(
        store
            .put_job_selection(&selection("team/CDN_CORE", 1, 1), Some(1))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .put_job_selection(&selection("team/CDN_CORE", 1, 1), None)
        .await
        .unwrap();
    store
        .put_job_selection(&selection("A", 7, 3), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_job_selection(&job).await.unwrap().unwrap(),
        selection("team/CDN_CORE", 1, 1)
    );
    store
        .put_job_selection(&selection("team/CDN_CORE", 2, 2), Some(1))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_job_selection(&selection("team/CDN_CORE", 3, 3), Some(1))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_job_selection(&job)
            .await
            .unwrap()
            .unwrap()
            .build_id,
        2
    );
    let all = store.list_job_selections().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|s| s.job_name.to_string())
            .collect::<Vec<_>>(),
        ["A", "team/CDN_CORE"]
    );
    assert!(store.delete_job_selection(&job).await.unwrap());
    assert!(!store.delete_job_selection(&job).await.unwrap());
}

pub async fn latest_build_is_the_highest_number(store: Arc<dyn Store>) {
    let job = JobName::parse("job_name", "CDN_CORE").unwrap();
    assert_eq!(store.latest_build(&job).await.unwrap(), None);
    store
        .insert_build(&new_build("CDN_CORE", 10), t0())
        .await
        .unwrap();
    store
        .insert_build(&new_build("CDN_CORE", 9), t0())
        .await
        .unwrap();
    store
        .insert_build(&new_build("OTHER", 99), t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .latest_build(&job)
            .await
            .unwrap()
            .unwrap()
            .build_number
            .get(),
        10
    );
}

pub async fn settings_default_then_versioned_saves(store: Arc<dyn Store>) {
    let (s, v) = store.get_settings().await.unwrap();
    assert_eq!((s, v), (Settings::default(), 0));
    let changed = Settings::default()
        .patched(
            &json!({"poll_interval_seconds": 5, "notify_cc": ["qa@example.com"],
            "report_origins": ["HTTP://Reports.Example:80/", "http://127.0.0.1:8080"],
            "mail_language": "zh-CN"}),
        )
        .unwrap();
    assert_eq!(changed.report_origins.len(), 2);
    assert_eq!(changed.mail_language, MailLanguage::SimplifiedChinese);
    let v1 = store.put_settings(&changed, 0).await.unwrap();
    assert_eq!(v1, 1);
    assert_eq!(store.get_settings().await.unwrap(), (changed.clone(), 1));
    assert!(matches!(
        store.put_settings(&Settings::default(), 0).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.put_settings(&Settings::default(), 1).await.unwrap(),
        2
    );
    assert_eq!(
        store.get_settings().await.unwrap(),
        (Settings::default(), 2)
    );
}
