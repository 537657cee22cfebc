//! The lanes' service paths on DynamoDB (moto) through a client that counts its calls and
//! can answer transactions as contended: a cancel of a queued run under contention, and
//! what a trigger costs on a free and on a busy lane. Same moto as `store_dynamodb`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use shared::Deps;
use shared::domain::{Email, LaneId, RunStatus, TestItemId};
use shared::services::runs::TriggerInput;
use shared::services::{builds, job_versions, parameter_sets, runs, settings, test_items};
use shared::workflow::{ExecutionView, WorkflowError, WorkflowStarter};

use super::dynamodb_wire::{Wire, Wired, wired_deps};

/// Starts every execution (it records nothing: these tests read the store).
struct Started;

#[async_trait]
impl WorkflowStarter for Started {
    async fn start(&self, _: &str, _: Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn describe(&self, _: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Ok(None)
    }
    async fn stop(&self, _: &str, _: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
}

/// Deps on a fresh table through a [`Wire`]d client, with an item whose job has a
/// selected build, ready to trigger; `None` when moto is not there.
async fn wired() -> Option<(Deps, Wire, TestItemId, tempfile::TempDir)> {
    let Wired {
        deps, wire, dir, ..
    } = wired_deps().await?;
    deps.workflow.bind(Arc::new(Started)).ok().unwrap();
    let item = ready_item(&deps).await;
    wire.take();
    Some((deps, wire, item, dir))
}

async fn ready_item(deps: &Deps) -> TestItemId {
    let set = parameter_sets::CreateParameterSet {
        name: "defaults".into(),
        description: String::new(),
        params: Some(json!({"service_name": "cds"})),
    };
    parameter_sets::create(deps, "admin@example.com", set)
        .await
        .unwrap();
    settings::patch(
        deps,
        "admin@example.com",
        &json!({"package_download_base_url": "http://packages.test/",
            "external_test_server_url": "http://tests.test/"}),
    )
    .await
    .unwrap();
    let item = test_items::create(
        deps,
        test_items::TestItemInput {
            name: "cds".into(),
            job_name: "CDN_CORE".into(),
            parameter_set_id: None,
            environment_id: None,
            description: String::new(),
            enabled: true,
            notify_emails: Vec::new(),
            trigger_on_new_build: false,
        },
    )
    .await
    .unwrap();
    let body = json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": "CDN_CORE", "BUILD_NUMBER": "101",
        "PACKAGE_PATH": "CDN/pass/20250613-master-101/el7"});
    let build = builds::record_build(deps, &body).await.unwrap().0;
    job_versions::select(
        deps,
        "user@example.com",
        job_versions::SelectInput {
            job_name: "CDN_CORE".into(),
            build_id: build.id,
            auto_sync: false,
            sync_on_new_build: None,
        },
    )
    .await
    .unwrap();
    TestItemId::from_stored(item.id)
}

fn email(raw: &str) -> Email {
    Email::parse("email", raw).unwrap()
}

fn selected() -> TriggerInput {
    TriggerInput {
        build_info_id: None,
        queue: None,
    }
}

/// Issue 13 review: while the lane item is contended, a cancel of a queued run must not
/// fall through to the live-run path (which wrote the run CANCELLED but left it counted in
/// the queue, so the lane never started a run directly again): it answers 409 `run_busy`
/// and changes nothing; once the contention is over it cancels, and the queue is empty.
#[tokio::test]
async fn cancel_of_a_queued_run_under_contention_is_refused_and_changes_nothing() {
    let Some((deps, wire, item, _dir)) = wired().await else {
        return;
    };
    let first = runs::trigger(&deps, &email("a@example.com"), item, selected())
        .await
        .unwrap();
    let queued = runs::trigger(&deps, &email("b@example.com"), item, selected())
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);

    wire.contend(usize::MAX);
    let refused = runs::cancel(&deps, &email("b@example.com"), false, queued.id).await;
    wire.contend(0);
    let err = refused.unwrap_err();
    assert!(
        matches!(
            &err,
            shared::services::ServiceError::Conflict {
                code: "run_busy",
                ..
            }
        ),
        "{err:?}"
    );
    let still = deps.store.get_run(queued.id.get()).await.unwrap().unwrap();
    assert_eq!(still.status, RunStatus::Queued, "nothing written");
    let lane = LaneId::default_lane();
    assert_eq!(deps.store.queued_runs(&lane).await.unwrap().len(), 1);

    let cancelled = runs::cancel(&deps, &email("b@example.com"), false, queued.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(deps.store.queued_runs(&lane).await.unwrap().is_empty());
    // The lane counts no waiting run: once the first ends, a trigger starts at once.
    runs::cancel(&deps, &email("a@example.com"), false, first.id)
        .await
        .unwrap();
    let next = runs::trigger(&deps, &email("c@example.com"), item, selected())
        .await
        .unwrap();
    assert_ne!(next.status, RunStatus::Queued, "{:?}", next.status);
}

/// What a trigger costs on DynamoDB (printed for the README's cost notes, bounded here so
/// it cannot grow unnoticed): on a free lane, and queued behind a busy one.
#[tokio::test]
async fn a_trigger_costs_a_bounded_number_of_calls() {
    let Some((deps, wire, item, _dir)) = wired().await else {
        return;
    };
    runs::trigger(&deps, &email("a@example.com"), item, selected())
        .await
        .unwrap();
    let free = wire.take();
    let queued = runs::trigger(&deps, &email("b@example.com"), item, selected())
        .await
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    let busy = wire.take();
    eprintln!("trigger, free lane: {} calls {free:?}", free.len());
    eprintln!("trigger, busy lane: {} calls {busy:?}", busy.len());
    assert!(free.len() <= 10, "free lane: {free:?}");
    assert!(busy.len() <= 17, "busy lane: {busy:?}");
}
