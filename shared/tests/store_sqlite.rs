#![allow(clippy::unwrap_used)]
//! The conformance suite on the embedded SQLite store, plus its durability.

mod conformance;

use std::sync::Arc;

use shared::adapters::SqliteStore;
use shared::ports::{BuildStore, IdCounters, Store};

async fn fresh_store() -> Option<Arc<dyn Store>> {
    // The folder must outlive the store; leak it for the test's duration.
    let dir = tempfile::tempdir().unwrap().keep();
    Some(Arc::new(SqliteStore::open(&dir).unwrap()))
}

conformance_tests!(fresh_store());

#[tokio::test]
async fn builds_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .insert_build(&conformance::new_build("CDN_CORE", 101), conformance::t0())
            .await
            .unwrap()
            .0
            .id
    };
    let reopened = SqliteStore::open(dir.path()).unwrap();
    let got = reopened
        .get_build(id)
        .await
        .unwrap()
        .expect("build kept across reopen");
    assert_eq!(got.build_number.get(), 101);
    let (again, created) = reopened
        .insert_build(&conformance::new_build("CDN_CORE", 101), conformance::t0())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, id);
    assert!(
        reopened.next_id("builds").await.unwrap() > id,
        "counters survive too"
    );
}
