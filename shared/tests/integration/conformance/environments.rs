//! Conformance checks for test environments and the test items that refer to them.

use std::sync::Arc;

use chrono::TimeDelta;
use shared::domain::{EnvironmentFields, EnvironmentId};
use shared::ports::{EnvironmentDeletion, Store, StoreError};

use super::config::fields;
use super::t0;

pub(super) fn environment(name: &str, url: &str) -> EnvironmentFields {
    EnvironmentFields::parse(name, url, &["http://reports.example".into()], "d", true).unwrap()
}

pub async fn environments_round_trip_and_names_are_unique(store: Arc<dyn Store>) {
    let a = store
        .create_environment(&environment("staging", "http://127.0.0.1:9001"), t0())
        .await
        .unwrap();
    assert_eq!(a.name, "staging");
    assert_eq!(a.external_test_server_url.as_str(), "http://127.0.0.1:9001");
    assert_eq!(a.report_origins[0].as_str(), "http://reports.example");
    assert_eq!((a.created_at, a.updated_at), (t0(), t0()));
    assert_eq!(store.get_environment(a.id).await.unwrap().unwrap(), a);
    let dup = store
        .create_environment(&environment("staging", "http://127.0.0.1:9009"), t0())
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let b = store
        .create_environment(&environment("perf", "http://127.0.0.1:9002"), t0())
        .await
        .unwrap();
    let c = store
        .create_environment(&environment("lab #3", "http://127.0.0.1:9003"), t0())
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id);

    // Update: every field, the name included; a clash with another name is a conflict
    // and the old name is free again after a rename.
    let later = t0() + TimeDelta::hours(1);
    let mut changed =
        EnvironmentFields::parse("staging-2", "https://tests.example", &[], "new", false).unwrap();
    let updated = store
        .update_environment(a.id, &changed, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.external_test_server_url.as_str(),
            updated.report_origins.len(),
            updated.description.as_str(),
            updated.enabled
        ),
        ("staging-2", "https://tests.example", 0, "new", false)
    );
    assert_eq!((updated.created_at, updated.updated_at), (t0(), later));
    assert_eq!(store.get_environment(a.id).await.unwrap().unwrap(), updated);
    changed.name = "perf".into();
    let clash = store.update_environment(a.id, &changed, later).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    store
        .create_environment(&environment("staging", "http://127.0.0.1:9001"), t0())
        .await
        .expect("the old name is free after the rename");
    let missing = EnvironmentId::from_stored(9999);
    assert_eq!(
        store
            .update_environment(missing, &changed, later)
            .await
            .unwrap(),
        None
    );

    let page = store.list_environments(None, 2).await.unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        [a.id, b.id]
    );
    let rest = store.list_environments(page.next, 2).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.items[0].id, c.id);
    assert_eq!(rest.next, None);

    assert_eq!(
        store.delete_environment(b.id).await.unwrap(),
        EnvironmentDeletion::Deleted
    );
    assert_eq!(
        store.delete_environment(b.id).await.unwrap(),
        EnvironmentDeletion::NotFound
    );
    assert_eq!(store.get_environment(b.id).await.unwrap(), None);
    store
        .create_environment(&environment("perf", "http://127.0.0.1:9002"), t0())
        .await
        .expect("a deleted environment's name is free");
}

pub async fn environments_in_use_are_not_deleted(store: Arc<dyn Store>) {
    let a = store
        .create_environment(&environment("a", "http://127.0.0.1:9001"), t0())
        .await
        .unwrap();
    let b = store
        .create_environment(&environment("b", "http://127.0.0.1:9002"), t0())
        .await
        .unwrap();
    let mut on_a = fields("cds", "CDN_CORE", None);
    on_a.environment_id = Some(a.id);
    let item = store.create_test_item(&on_a, t0()).await.unwrap();
    assert_eq!(item.environment_id, Some(a.id));
    assert_eq!(store.get_test_item(item.id).await.unwrap().unwrap(), item);
    let default = store
        .create_test_item(&fields("sds", "CDN_CORE", None), t0())
        .await
        .unwrap();
    assert_eq!(default.environment_id, None, "no environment: the default");

    // An item cannot refer to an environment that does not exist.
    let mut on_missing = fields("sls", "CDN_CORE", None);
    on_missing.environment_id = Some(EnvironmentId::from_stored(9999));
    let refused = store.create_test_item(&on_missing, t0()).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let refused = store.update_test_item(default.id, &on_missing, t0()).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );

    assert_eq!(
        store.delete_environment(a.id).await.unwrap(),
        EnvironmentDeletion::InUse
    );
    // Renaming and disabling an environment in use is fine; the item still refers to it.
    let renamed = EnvironmentFields::parse("a2", "http://127.0.0.1:9011", &[], "", false).unwrap();
    store
        .update_environment(a.id, &renamed, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.delete_environment(a.id).await.unwrap(),
        EnvironmentDeletion::InUse
    );

    // Moving the item to b frees a and takes b.
    let mut on_b = on_a.clone();
    on_b.environment_id = Some(b.id);
    let moved = store
        .update_test_item(item.id, &on_b, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.environment_id, Some(b.id));
    assert_eq!(
        store.delete_environment(b.id).await.unwrap(),
        EnvironmentDeletion::InUse
    );
    assert_eq!(
        store.delete_environment(a.id).await.unwrap(),
        EnvironmentDeletion::Deleted
    );
    // Back to the default, then deleted: b is free as well.
    store
        .update_test_item(item.id, &fields("cds", "CDN_CORE", None), t0())
        .await
        .unwrap()
        .unwrap();
    let mut on_b_again = fields("cds2", "CDN_CORE", None);
    on_b_again.environment_id = Some(b.id);
    let second = store.create_test_item(&on_b_again, t0()).await.unwrap();
    assert!(store.delete_test_item(second.id).await.unwrap());
    assert_eq!(
        store.delete_environment(b.id).await.unwrap(),
        EnvironmentDeletion::Deleted
    );
    assert_eq!(
        store
            .get_test_item(item.id)
            .await
            .unwrap()
            .unwrap()
            .environment_id,
        None
    );
}
