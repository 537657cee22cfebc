//! Conformance checks for `crat import` (the `ImportStore` port through the export
//! service): records keep their ids, a second import changes nothing, the counters move
//! past the imported ids, and uniqueness, guards and references hold as for the store's
//! own writes.

use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;
use shared::adapters::SqliteStore;
use shared::domain::{
    Build, Email, EnvironmentFields, FlakyReason, FlakyTest, JobName, JobSelection, PackagePath,
    Params, RunId, ServiceName, StepName, StepStatus, Summary, TestCase, TestId, TestItemFields,
    TestStatus,
};
use shared::ports::{EnvironmentDeletion, Imported, SetDeletion, Store, StoreError};
use shared::services::export::{self, Counts};

use super::runs::lease;
use super::{new_build, t0};

/// Every record kind an export holds, written through the store's own methods: settings
/// changed, an environment, a parameter set at version 2, two builds, a job selection, a
/// test item on the set and the environment, a finished run with its steps, summary and
/// test cases, and a flaky test. Returns how many records of each kind it made.
pub async fn seed(store: &Arc<dyn Store>) -> [(&'static str, usize); 9] {
    let (settings, version) = store.get_settings().await.unwrap();
    let changed = settings
        .patched(
            &json!({"project_name": "CDN QA", "notify_cc": ["lead@example.com"],
            "package_download_base_url": "https://packages.example/"}),
        )
        .unwrap();
    store.put_settings(&changed, version).await.unwrap();

    let env_fields = EnvironmentFields::parse(
        "staging",
        "http://tests.example:9000",
        &["http://reports.example".into()],
        "the staging lab",
        true,
    )
    .unwrap();
    let env = store.create_environment(&env_fields, t0()).await.unwrap();

    let params = Params::parse("params", &json!({"upgrade_type": "full", "n": 1.5})).unwrap();
    let set = store
        .create_parameter_set("base", "first", &params, "admin", t0())
        .await
        .unwrap();
    let mut next = set.clone();
    next.description = "second".into();
    next.params =
        Params::parse("params", &json!({"upgrade_type": "update", "深": [1, 2]})).unwrap();
    next.version = 2;
    next.updated_at = t0() + TimeDelta::seconds(5);
    next.updated_by = Some("qa@example.com".into());
    let set = store.update_parameter_set(&next).await.unwrap().unwrap();

    let (b1, _) = store
        .insert_build(&new_build("CDN_CORE", 101), t0())
        .await
        .unwrap();
    let (b2, _) = store
        .insert_build(&new_build("CDN_CORE", 102), t0() + TimeDelta::minutes(1))
        .await
        .unwrap();
    store
        .put_job_selection(
            &JobSelection {
                job_name: b2.job_name.clone(),
                build_id: b2.id,
                build_number: b2.build_number,
                auto_sync: true,
                sync_on_new_build: false,
                last_synced_at: t0(),
                updated_by: "admin".into(),
                updated_at: t0(),
            },
            None,
        )
        .await
        .unwrap();

    let item = store
        .create_test_item(
            &TestItemFields {
                name: ServiceName::parse("name", "cds").unwrap(),
                job_name: JobName::parse("job_name", "CDN_CORE").unwrap(),
                parameter_set_id: Some(set.id),
                environment_id: Some(env.id),
                description: "the CDN service".into(),
                enabled: true,
                notify_emails: vec![Email::parse("e", "qa@example.com").unwrap()],
                trigger_on_new_build: true,
            },
            t0(),
        )
        .await
        .unwrap();

    let by = Email::parse("by", "dev@example.com").unwrap();
    let id = store.next_id("runs").await.unwrap();
    let mut run = shared::domain::Run::new(RunId::from_stored(id), &item, &b1, &set, &by, t0());
    store.admit_run(&run, false, lease()).await.unwrap();
    for (i, step) in [
        StepName::Download,
        StepName::Trigger,
        StepName::Monitor,
        StepName::Notify,
    ]
    .into_iter()
    .enumerate()
    {
        let at = t0() + TimeDelta::seconds(i as i64 + 1);
        run.begin_step(step, run.status, at);
        run.finish_step(step, StepStatus::Succeeded, None, at);
    }
    if let Some(download) = run.steps.iter_mut().find(|s| s.name == StepName::Download) {
        download
            .details
            .insert("file".into(), json!("cds-1.0.tar.gz"));
    }
    run.summary = Some(Summary {
        passed: 1,
        failed: 1,
        broken: 0,
        skipped: 0,
        unknown: 0,
        total: 2,
        duration_ms: Some(1234),
    });
    run.finish(None, t0() + TimeDelta::minutes(2));
    run.revision += 1;
    store.update_run(&run).await.unwrap();
    store
        .release_run_lock(&run.lane, run.id.get())
        .await
        .unwrap();

    let case = |id: &str, status| TestCase {
        id: TestId::parse("id", id).unwrap(),
        name: format!("test {id} ✓"),
        suite: vec!["api".into()],
        status,
        duration_ms: Some(7),
        message: None,
        full_name: Some(format!("tests#{id}")),
        flaky: id == "b",
        retries: 1,
    };
    store
        .put_test_cases(
            &run,
            &[case("a", TestStatus::Passed), case("b", TestStatus::Failed)],
        )
        .await
        .unwrap();
    store
        .put_flaky_tests(
            item.id,
            &[FlakyTest {
                id: TestId::parse("id", "b").unwrap(),
                name: "test b".into(),
                reason: FlakyReason::Report,
                passed: 0,
                failed: 1,
                last_run_id: run.id.get(),
                last_seen_at: t0() + TimeDelta::minutes(2),
            }],
        )
        .await
        .unwrap();
    [
        ("settings", 1),
        ("environment", 1),
        ("parameter_set", 1),
        ("build", 2),
        ("job_selection", 1),
        ("test_item", 1),
        ("run", 1),
        ("test_cases", 1),
        ("flaky_tests", 1),
    ]
}

/// The export of `store` as text.
pub async fn export_text(store: &Arc<dyn Store>) -> String {
    let mut out = Vec::new();
    export::export(store.as_ref(), &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

pub async fn import_text(store: &Arc<dyn Store>, text: &str) -> Counts {
    export::import(store.as_ref(), text.as_bytes())
        .await
        .unwrap()
}

/// A seeded embedded store (its folder leaked for the test's duration) and what [`seed`]
/// made.
pub async fn seeded_source() -> (Arc<dyn Store>, [(&'static str, usize); 9]) {
    let dir = tempfile::tempdir().unwrap().keep();
    let source: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).unwrap());
    let made = seed(&source).await;
    (source, made)
}

pub async fn an_import_keeps_ids_and_a_second_changes_nothing(store: Arc<dyn Store>) {
    let (source, made) = seeded_source().await;
    let exported = export_text(&source).await;

    let first = import_text(&store, &exported).await;
    for (kind, n) in made {
        assert_eq!(first.created(kind), n, "{kind} created\n{first:?}");
    }
    assert_eq!(first.replaced("build"), 0);
    assert_eq!(
        export_text(&store).await,
        exported,
        "the target exports the same"
    );

    let second = import_text(&store, &exported).await;
    assert_eq!(second.changed(), 0, "{second:?}");
    assert_eq!(second.total(), first.total());
    assert_eq!(export_text(&store).await, exported);

    // The job and a test's history came along (DynamoDB keeps both beside the records).
    let job = JobName::parse("job_name", "CDN_CORE").unwrap();
    assert_eq!(store.latest_build(&job).await.unwrap().unwrap().id, 2);
    let jobs = store.list_jobs(None, 10).await.unwrap().items;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].latest_build.id, 2);
    let test_a = TestId::parse("id", "a").unwrap();
    let history = store.test_history(1, &test_a, None, 10).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].run_id, 1);
    // New records get ids above the imported ones.
    let (build, created) = store
        .insert_build(&new_build("CDN_CORE", 103), t0())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(build.id, 3);
    assert_eq!(store.next_id("runs").await.unwrap(), 2);
    assert_eq!(store.next_id("test_items").await.unwrap(), 2);
    assert_eq!(store.next_id("parameter_sets").await.unwrap(), 2);
    assert_eq!(store.next_id("environments").await.unwrap(), 2);

    // The references came along: the set and the environment are in use.
    assert_eq!(
        store.delete_parameter_set(1).await.unwrap(),
        SetDeletion::IsDefault
    );
    let env = store.list_environments(None, 10).await.unwrap().items;
    assert_eq!(
        store.delete_environment(env[0].id).await.unwrap(),
        EnvironmentDeletion::InUse
    );
    // The (job, number) guard came along: the same build again is a repeat.
    let (again, created) = store
        .insert_build(&new_build("CDN_CORE", 101), t0())
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, 1);
    // A new item on the imported job starts on a new build, as the imported one does.
    let starting = store.new_build_trigger_items(&job).await.unwrap();
    assert_eq!(starting.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
}

pub async fn an_import_replaces_a_different_record_and_keeps_uniqueness(store: Arc<dyn Store>) {
    let (source, _) = seeded_source().await;
    import_text(&store, &export_text(&source).await).await;

    // An item renamed by an import frees its old name; one on a missing set is refused.
    let mut item = store.get_test_item(1).await.unwrap().unwrap();
    item.name = ServiceName::parse("name", "edge").unwrap();
    item.parameter_set_id = None;
    assert_eq!(
        store.import_test_item(&item).await.unwrap(),
        Imported::Replaced
    );
    assert_eq!(store.get_test_item(1).await.unwrap(), Some(item.clone()));
    let fields = TestItemFields {
        name: ServiceName::parse("name", "cds").unwrap(),
        job_name: item.job_name.clone(),
        parameter_set_id: None,
        environment_id: None,
        description: String::new(),
        enabled: true,
        notify_emails: vec![],
        trigger_on_new_build: false,
    };
    store.create_test_item(&fields, t0()).await.unwrap();
    let orphan = shared::domain::TestItem {
        id: 40,
        name: ServiceName::parse("name", "orphan").unwrap(),
        parameter_set_id: Some(99),
        ..item.clone()
    };
    assert!(matches!(
        store.import_test_item(&orphan).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_test_item(40).await.unwrap(), None);
    // The set lost its only reference: it is no longer in use (it stays the default).
    let set = store.get_parameter_set(1).await.unwrap().unwrap();
    assert!(set.is_default);

    let b = Build {
        id: 5,
        job_name: JobName::parse("job_name", "J").unwrap(),
        build_number: shared::domain::BuildNumber::from_stored(1),
        build_user: None,
        package_path: PackagePath::parse("p", "CDN/pass/a/el7").unwrap(),
        created_at: t0(),
    };
    assert_eq!(store.import_build(&b).await.unwrap(), Imported::Created);
    assert_eq!(store.import_build(&b).await.unwrap(), Imported::Unchanged);
    let moved = Build {
        build_number: shared::domain::BuildNumber::from_stored(2),
        package_path: PackagePath::parse("p", "CDN/pass/b/el7").unwrap(),
        ..b.clone()
    };
    assert_eq!(
        store.import_build(&moved).await.unwrap(),
        Imported::Replaced
    );
    assert_eq!(store.get_build(5).await.unwrap(), Some(moved.clone()));
    // Another id with the same (job, number) is refused.
    let twin = Build {
        id: 6,
        ..moved.clone()
    };
    assert!(matches!(
        store.import_build(&twin).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_build(6).await.unwrap(), None);
    // The number it left is free again; the one it took is guarded.
    let (free, created) = store.insert_build(&new_build("J", 1), t0()).await.unwrap();
    assert!(created, "{free:?}");
    let (taken, created) = store.insert_build(&new_build("J", 2), t0()).await.unwrap();
    assert!(!created);
    assert_eq!(taken.id, 5);

    // A run of an item deleted before the export keeps that item's id from being reused.
    let mut orphan_run = store.get_run(1).await.unwrap().unwrap();
    orphan_run.id = shared::domain::RunId::from_stored(2);
    orphan_run.test_item_id = shared::domain::TestItemId::from_stored(70);
    let line = export::Record::Run(Box::new(orphan_run)).to_line().unwrap();
    let header = export::Record::header().to_line().unwrap();
    let counts = import_text(&store, &format!("{header}\n{line}\n")).await;
    assert_eq!(counts.created("run"), 1);
    let fields = TestItemFields {
        name: ServiceName::parse("name", "after").unwrap(),
        ..fields
    };
    assert_eq!(store.create_test_item(&fields, t0()).await.unwrap().id, 71);

    // Settings keep their version; counters never move back.
    let (settings, version) = store.get_settings().await.unwrap();
    assert_eq!(
        store.import_settings(&settings, version).await.unwrap(),
        Imported::Unchanged
    );
    assert_eq!(
        store.import_settings(&settings, version + 5).await.unwrap(),
        Imported::Replaced
    );
    assert_eq!(store.get_settings().await.unwrap().1, version + 5);
    store.advance_counter("builds", 10).await.unwrap();
    let (later, _) = store.insert_build(&new_build("J", 9), t0()).await.unwrap();
    assert_eq!(later.id, 11);
    store.advance_counter("builds", 2).await.unwrap();
    let (last, _) = store.insert_build(&new_build("J", 10), t0()).await.unwrap();
    assert_eq!(last.id, 12);
}
