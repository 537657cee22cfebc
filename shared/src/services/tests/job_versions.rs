//! Selections: a person picks a build; auto-sync and new builds move it when asked.

use chrono::TimeDelta;

use super::{Fixture, refusal};
use crate::domain::JobName;
use crate::services::job_versions::{self, AUTO_SYNC_ACTOR, SelectInput};

fn select(job: &str, build_id: i64, auto_sync: bool, on_new: Option<bool>) -> SelectInput {
    SelectInput {
        job_name: job.to_owned(),
        build_id,
        auto_sync,
        sync_on_new_build: on_new,
    }
}

fn job(name: &str) -> JobName {
    JobName::parse("job_name", name).unwrap()
}

#[tokio::test]
async fn a_selection_names_a_build_of_its_own_job() {
    let f = Fixture::new();
    let build = f.build("CDN_CORE", 101).await;
    let other = f.build("OTHER_JOB", 7).await;

    let unknown = refusal(
        job_versions::select(&f.state, "u@x.test", select("CDN_CORE", 999, false, None)).await,
    );
    assert_eq!(
        (unknown.status.as_u16(), unknown.code.as_str()),
        (422, "build_not_found")
    );
    let wrong = refusal(
        job_versions::select(
            &f.state,
            "u@x.test",
            select("CDN_CORE", other.id, false, None),
        )
        .await,
    );
    assert_eq!(wrong.code, "build_not_in_job");
    let bad_name = refusal(
        job_versions::select(&f.state, "u@x.test", select(" ", build.id, false, None)).await,
    );
    assert_eq!(
        (bad_name.status.as_u16(), bad_name.field.as_deref()),
        (400, Some("job_name"))
    );
    assert_eq!(
        refusal(job_versions::get(&f.state, &job("CDN_CORE")).await).code,
        "not_found"
    );

    let chosen = job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", build.id, true, None),
    )
    .await
    .unwrap();

    assert_eq!(chosen.build_id, build.id);
    assert!(!chosen.sync_on_new_build, "off unless asked");
    assert_eq!(chosen.updated_by, "u@x.test");
    let read = job_versions::get(&f.state, &job("CDN_CORE")).await.unwrap();
    assert_eq!(read.build.map(|b| b.id), Some(build.id));
    assert_eq!(job_versions::list(&f.state).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_absent_sync_on_new_build_keeps_the_previous_choice() {
    let f = Fixture::new();
    let build = f.build("CDN_CORE", 101).await;
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", build.id, true, Some(true)),
    )
    .await
    .unwrap();

    let again = job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", build.id, true, None),
    )
    .await
    .unwrap();

    assert!(again.sync_on_new_build);
}

#[tokio::test]
async fn a_newer_build_moves_only_a_selection_that_follows_new_builds() {
    let f = Fixture::new();
    let core = f.build("CDN_CORE", 101).await;
    let edge = f.build("CDN_EDGE", 101).await;
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", core.id, true, Some(true)),
    )
    .await
    .unwrap();
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_EDGE", edge.id, true, Some(false)),
    )
    .await
    .unwrap();

    let newer_core = f.build("CDN_CORE", 102).await;
    f.build("CDN_EDGE", 102).await;
    // An older build than the selected one never moves it.
    f.build("CDN_CORE", 100).await;

    let core_now = job_versions::get(&f.state, &job("CDN_CORE")).await.unwrap();
    assert_eq!(core_now.build_id, newer_core.id);
    assert_eq!(core_now.updated_by, AUTO_SYNC_ACTOR);
    let edge_now = job_versions::get(&f.state, &job("CDN_EDGE")).await.unwrap();
    assert_eq!(edge_now.build_id, edge.id);
}

#[tokio::test]
async fn auto_sync_moves_due_selections_to_the_newest_build() {
    let f = Fixture::new();
    let first = f.build("CDN_CORE", 101).await;
    let manual = f.build("CDN_EDGE", 101).await;
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", first.id, true, None),
    )
    .await
    .unwrap();
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_EDGE", manual.id, false, None),
    )
    .await
    .unwrap();
    let newest = f.build("CDN_CORE", 103).await;
    f.build("CDN_EDGE", 103).await;

    // Before the interval (24 h by default) nothing is due.
    f.clock.advance(TimeDelta::hours(23));
    let early = job_versions::auto_sync(&f.state).await.unwrap();
    assert_eq!((early.due, early.moved.len()), (0, 0));

    f.clock.advance(TimeDelta::hours(1));
    let report = job_versions::auto_sync(&f.state).await.unwrap();

    assert_eq!(report.due, 1);
    assert_eq!(report.moved.len(), 1);
    assert_eq!(report.moved[0].from_build_id, first.id);
    assert_eq!(report.moved[0].to_build_id, newest.id);
    let core = job_versions::get(&f.state, &job("CDN_CORE")).await.unwrap();
    assert_eq!(core.build_id, newest.id);
    let edge = job_versions::get(&f.state, &job("CDN_EDGE")).await.unwrap();
    assert_eq!(edge.build_id, manual.id, "no auto-sync: left alone");
    // Just synced: not due again until another interval passes.
    assert_eq!(job_versions::auto_sync(&f.state).await.unwrap().due, 0);
}

#[tokio::test]
async fn sync_now_moves_to_the_newest_build_and_needs_one() {
    let f = Fixture::new();
    assert_eq!(
        refusal(job_versions::sync_now(&f.state, "u@x.test", &job("CDN_CORE")).await).code,
        "job_has_no_builds"
    );
    f.build("CDN_CORE", 101).await;
    let newest = f.build("CDN_CORE", 104).await;

    let synced = job_versions::sync_now(&f.state, "u@x.test", &job("CDN_CORE"))
        .await
        .unwrap();

    assert_eq!(synced.build_id, newest.id);
    assert!(!synced.auto_sync);
    assert_eq!(
        job_versions::get(&f.state, &job("CDN_CORE"))
            .await
            .unwrap()
            .build_id,
        newest.id
    );
}

#[tokio::test]
async fn deleting_a_selection_needs_one() {
    let f = Fixture::new();
    let build = f.build("CDN_CORE", 101).await;
    job_versions::select(
        &f.state,
        "u@x.test",
        select("CDN_CORE", build.id, false, None),
    )
    .await
    .unwrap();

    job_versions::delete(&f.state, &job("CDN_CORE"))
        .await
        .unwrap();

    assert_eq!(
        refusal(job_versions::delete(&f.state, &job("CDN_CORE")).await).code,
        "not_found"
    );
    assert!(job_versions::list(&f.state).await.unwrap().is_empty());
}
