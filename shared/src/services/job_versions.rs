//! Which build of each job runs by default, and how selections follow new builds.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::{Build, JobName, JobSelection, JobVersion};
use crate::ports::StoreError;

/// Who moved a selection when no person did.
pub const AUTO_SYNC_ACTOR: &str = "auto-sync";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectInput {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub job_name: String,
    #[schema(minimum = 1)]
    pub build_id: i64,
    /// Follow the job's newest build every `auto_sync_interval_hours`.
    pub auto_sync: bool,
    /// With `auto_sync`: move as soon as Jenkins posts a newer build. Absent: unchanged (false at first).
    pub sync_on_new_build: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AutoSyncMove {
    #[schema(value_type = String)]
    pub job_name: JobName,
    pub from_build_id: i64,
    pub to_build_id: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AutoSyncReport {
    /// Selections with auto-sync whose interval had passed.
    pub due: usize,
    /// Those that moved to a newer build.
    pub moved: Vec<AutoSyncMove>,
}

fn no_selection(job: &JobName) -> ServiceError {
    ServiceError::NotFound(format!("job {job} has no selected build"))
}

async fn view(state: &Deps, s: JobSelection) -> ServiceResult<JobVersion> {
    let build = state.store.get_build(s.build_id).await?;
    Ok(JobVersion::new(s, build))
}

pub async fn get(state: &Deps, job: &JobName) -> ServiceResult<JobVersion> {
    let s = state
        .store
        .get_job_selection(job)
        .await?
        .ok_or_else(|| no_selection(job))?;
    view(state, s).await
}

pub async fn list(state: &Deps) -> ServiceResult<Vec<JobVersion>> {
    let mut out = Vec::new();
    for s in state.store.list_job_selections().await? {
        out.push(view(state, s).await?);
    }
    Ok(out)
}

/// A person selects a build of a job.
#[tracing::instrument(skip_all, fields(by = %by))]
pub async fn select(state: &Deps, by: &str, input: SelectInput) -> ServiceResult<JobVersion> {
    let job = JobName::parse("job_name", &input.job_name)?;
    let build = state
        .store
        .get_build(input.build_id)
        .await?
        .ok_or_else(|| ServiceError::Unprocessable {
            code: "build_not_found",
            message: format!("build_id: no build with id {}", input.build_id),
        })?;
    if build.job_name != job {
        return Err(ServiceError::Unprocessable {
            code: "build_not_in_job",
            message: format!(
                "build_id: build {} belongs to job {}, not {job}",
                build.id, build.job_name
            ),
        });
    }
    let previous = state.store.get_job_selection(&job).await?;
    let now = state.clock.now();
    let selection = JobSelection {
        job_name: job,
        build_id: build.id,
        build_number: build.build_number,
        auto_sync: input.auto_sync,
        sync_on_new_build: input
            .sync_on_new_build
            .or(previous.map(|p| p.sync_on_new_build))
            .unwrap_or(false),
        last_synced_at: now,
        updated_by: by.to_owned(),
        updated_at: now,
    };
    state.store.put_job_selection(&selection, None).await?;
    tracing::info!(job = %selection.job_name, build_id = build.id, "build selected");
    Ok(JobVersion::new(selection, Some(build)))
}

/// A person moves the job's selection to its newest build now.
pub async fn sync_now(state: &Deps, by: &str, job: &JobName) -> ServiceResult<JobVersion> {
    let newest =
        state
            .store
            .latest_build(job)
            .await?
            .ok_or_else(|| ServiceError::Unprocessable {
                code: "job_has_no_builds",
                message: format!(
                    "job {job} has no builds yet; Jenkins posts them to /api/v1/builds"
                ),
            })?;
    let now = state.clock.now();
    let selection = match state.store.get_job_selection(job).await? {
        Some(current) => current.moved_to(&newest, by, now),
        None => JobSelection {
            job_name: job.clone(),
            build_id: newest.id,
            build_number: newest.build_number,
            auto_sync: false,
            sync_on_new_build: false,
            last_synced_at: now,
            updated_by: by.to_owned(),
            updated_at: now,
        },
    };
    state.store.put_job_selection(&selection, None).await?;
    tracing::info!(job = %job, build_id = newest.id, "synced to newest build");
    Ok(JobVersion::new(selection, Some(newest)))
}

pub async fn delete(state: &Deps, job: &JobName) -> ServiceResult<()> {
    if state.store.delete_job_selection(job).await? {
        Ok(())
    } else {
        Err(no_selection(job))
    }
}

/// Moves every due auto-sync selection to its job's newest build. Safe to run from
/// several places at once: each move is conditional on the selection not having changed.
#[tracing::instrument(skip_all)]
pub async fn auto_sync(state: &Deps) -> ServiceResult<AutoSyncReport> {
    let interval = TimeDelta::hours(i64::from(state.settings().await?.auto_sync_interval_hours));
    let now = state.clock.now();
    let mut report = AutoSyncReport {
        due: 0,
        moved: Vec::new(),
    };
    for current in state.store.list_job_selections().await? {
        if !current.auto_sync_due(now, interval) {
            continue;
        }
        report.due += 1;
        let Some(newest) = state.store.latest_build(&current.job_name).await? else {
            continue;
        };
        let next = current.moved_to(&newest, AUTO_SYNC_ACTOR, now);
        match state
            .store
            .put_job_selection(&next, Some(current.build_id))
            .await
        {
            Ok(()) if newest.id != current.build_id => report.moved.push(AutoSyncMove {
                job_name: current.job_name.clone(),
                from_build_id: current.build_id,
                to_build_id: newest.id,
            }),
            Ok(()) => {}
            // Someone changed it meanwhile: their choice stands.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(
        due = report.due,
        moved = report.moved.len(),
        "auto-sync done"
    );
    Ok(report)
}

/// After the webhook stores `build`: move the job's selection to it when the selection asks to.
pub async fn follow_new_build(state: &Deps, build: &Build) -> ServiceResult<bool> {
    let Some(current) = state.store.get_job_selection(&build.job_name).await? else {
        return Ok(false);
    };
    if !current.follows_new_build(build) {
        return Ok(false);
    }
    let next = current.moved_to(build, AUTO_SYNC_ACTOR, state.clock.now());
    match state
        .store
        .put_job_selection(&next, Some(current.build_id))
        .await
    {
        Ok(()) => {
            tracing::info!(job = %build.job_name, build_id = build.id, "selection followed the new build");
            Ok(true)
        }
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
