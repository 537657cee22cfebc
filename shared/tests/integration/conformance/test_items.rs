//! Conformance checks for what a new build of a job starts (issue 13's trigger on new build).

use std::sync::Arc;

use chrono::TimeDelta;
use shared::domain::{JobName, TestItem, TestItemFields};
use shared::ports::Store;

use super::config::fields;
use super::t0;

fn starting(name: &str, job: &str, trigger: bool, enabled: bool) -> TestItemFields {
    TestItemFields {
        trigger_on_new_build: trigger,
        enabled,
        ..fields(name, job, None)
    }
}

/// The ids of what a new build of `job` starts, checked to be the stored items.
async fn started_by(store: &Arc<dyn Store>, job: &str) -> Vec<i64> {
    let job = JobName::parse("job_name", job).unwrap();
    let items: Vec<TestItem> = store.new_build_trigger_items(&job).await.unwrap();
    for item in &items {
        assert_eq!(
            store.get_test_item(item.id).await.unwrap().as_ref(),
            Some(item)
        );
    }
    items.iter().map(|i| i.id).collect()
}

pub async fn a_new_build_starts_only_its_jobs_enabled_trigger_items(store: Arc<dyn Store>) {
    let create = |f: TestItemFields| {
        let store = store.clone();
        async move { store.create_test_item(&f, t0()).await.unwrap() }
    };
    let a = create(starting("a", "CDN_CORE", true, true)).await;
    let b = create(starting("b", "CDN_CORE", true, false)).await;
    let c = create(starting("c", "CDN_CORE", false, true)).await;
    let d = create(starting("d", "CDN_EDGE", true, true)).await;
    let e = create(starting("e", "CDN_CORE", true, true)).await;
    assert_eq!(started_by(&store, "CDN_CORE").await, [a.id, e.id]);
    assert_eq!(started_by(&store, "CDN_EDGE").await, [d.id]);
    assert_eq!(started_by(&store, "CDN_NONE").await, Vec::<i64>::new());

    // Every change of the trigger, the switch or the job moves the item in or out.
    let later = t0() + TimeDelta::seconds(1);
    let update = |id: i64, f: TestItemFields| {
        let store = store.clone();
        async move {
            store
                .update_test_item(id, &f, later)
                .await
                .unwrap()
                .unwrap()
        }
    };
    update(a.id, starting("a", "CDN_CORE", false, true)).await;
    update(c.id, starting("c", "CDN_CORE", true, true)).await;
    update(e.id, starting("e", "CDN_EDGE", true, true)).await;
    update(b.id, starting("b", "CDN_CORE", true, true)).await;
    assert_eq!(started_by(&store, "CDN_CORE").await, [b.id, c.id]);
    assert_eq!(started_by(&store, "CDN_EDGE").await, [d.id, e.id]);
    update(d.id, starting("d", "CDN_EDGE", true, false)).await;
    assert!(store.delete_test_item(c.id).await.unwrap());
    assert_eq!(started_by(&store, "CDN_CORE").await, [b.id]);
    assert_eq!(started_by(&store, "CDN_EDGE").await, [e.id]);
}
