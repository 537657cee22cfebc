//! `crat export` / `crat import` across the back ends (issue 16 part 4, "from one machine
//! to the cloud"): an embedded store with every record kind, exported, imported into
//! DynamoDB (moto), exported from there, imported into a fresh embedded store and exported
//! again: the three exports are byte-identical, a second import creates nothing, and new
//! records get ids above the imported ones.

use std::sync::Arc;

use shared::adapters::SqliteStore;
use shared::ports::Store;

use crate::conformance::import::{export_text, import_text, seeded_source};
use crate::conformance::{new_build, t0};
use crate::store_dynamodb::fresh_dynamo;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_to_dynamodb_to_embedded_exports_the_same() {
    let Some((dynamo, _)) = fresh_dynamo().await else {
        return;
    };
    let dynamo: Arc<dyn Store> = Arc::new(dynamo);
    let (source, made) = seeded_source().await;
    let first = export_text(&source).await;
    // The header and one line per record.
    let records: usize = made.iter().map(|(_, n)| n).sum();
    assert_eq!(first.lines().count(), 1 + records, "{first}");
    for (kind, _) in made {
        assert!(
            first.contains(&format!("{{\"kind\":\"{kind}\"")),
            "{kind} missing:\n{first}"
        );
    }

    let into_dynamo = import_text(&dynamo, &first).await;
    assert_eq!(into_dynamo.total(), records);
    assert_eq!(into_dynamo.changed(), records, "{into_dynamo:?}");
    let second = export_text(&dynamo).await;
    assert_eq!(
        second, first,
        "DynamoDB exports what the embedded store did"
    );
    let again = import_text(&dynamo, &second).await;
    assert_eq!(
        again.changed(),
        0,
        "a second import changes nothing: {again:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let back: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let into_back = import_text(&back, &second).await;
    assert_eq!(into_back.created("run"), 1);
    let third = export_text(&back).await;
    assert_eq!(third, first, "back on the embedded store, the same again");
    assert_eq!(import_text(&back, &third).await.changed(), 0);

    // Both targets hand out ids above the imported ones.
    for store in [&dynamo, &back] {
        let (build, created) = store
            .insert_build(&new_build("CDN_CORE", 200), t0())
            .await
            .unwrap();
        assert!(created);
        assert_eq!(build.id, 3);
        assert_eq!(store.next_id("runs").await.unwrap(), 2);
    }
}
