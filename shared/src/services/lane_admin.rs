//! What people see of the lanes (`GET /queue`) and an admin's way out of a stuck one
//! (`POST /environments/{id}/release`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use super::lanes::{self, AdmittedRun};
use crate::deps::Deps;
use crate::domain::run_estimate::RunEstimate;
use crate::domain::{Email, EnvironmentId, FieldError, LaneId, Run};
use crate::tasks::{ErrorName, RunChangeError, RunRef, change_run};
use crate::workflow::WorkflowStarter;

/// One lane: its active run and its queued runs, first in line first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LaneView {
    /// `default`, or the test environment's id.
    pub id: LaneId,
    /// The environment's name; `null` for the default lane (the settings' test server).
    pub name: Option<String>,
    pub active_run: Option<Run>,
    /// The active run's remaining time; `null` without an active run or history to go by.
    pub active_estimate: Option<RunEstimate>,
    pub queued: Vec<AdmittedRun>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub lanes: Vec<LaneView>,
}

/// Every lane in use (the default one always) with its active and queued runs. The
/// completed runs the estimates come from are read once (when any run waits), for every
/// lane and place.
pub async fn queue_view(state: &Deps) -> ServiceResult<QueueView> {
    let mut history = None;
    let mut views = Vec::new();
    for lane in lanes::lanes_in_use(state).await? {
        let active_run = match state.store.get_run_lock(&lane).await? {
            Some(lock) => lanes::lane_holder(state, &lock).await?,
            None => None,
        };
        // The estimate is a nicety: a store error reading the item's history leaves it out
        // rather than failing the whole Queue view.
        let active_estimate = match &active_run {
            Some(run) => super::run_estimate::estimate_for(state, run)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(run_id = run.id.get(), error = %e, "queue view: no estimate");
                    None
                }),
            None => None,
        };
        let waiting = state.store.queued_runs(&lane).await?;
        if !waiting.is_empty() && history.is_none() {
            history = Some(lanes::RecentRuns::read(state).await?);
        }
        let estimate = history
            .as_ref()
            .and_then(|h| h.median_seconds(&lane))
            .map(|median| lanes::StartEstimate::new(state, active_run.as_ref(), median));
        let queued = waiting
            .into_iter()
            .enumerate()
            .map(|(i, run)| AdmittedRun {
                run,
                queue_position: Some(i + 1),
                estimated_start_at: estimate.as_ref().map(|e| e.at(i + 1)),
            })
            .collect();
        let name = match lane.as_str().parse::<EnvironmentId>() {
            Ok(env) => state.store.get_environment(env).await?.map(|e| e.name),
            Err(_) => None,
        };
        views.push(LaneView {
            id: lane,
            name,
            active_run,
            active_estimate,
            queued,
        });
    }
    Ok(QueueView { lanes: views })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// Why the lane is released: recorded as the active run's error and mailed. 1–500 characters,
    /// not only spaces or control characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[\s\S]*[^\s\x00-\x1f\x7f-\x9f][\s\S]*$"
    )]
    pub reason: String,
}

const MAX_REASON_CHARS: usize = 500;

/// An admin ends lane `lane`'s stuck active run: FAILED with the reason, its execution
/// stopped, its failure mail sent, the lane released and its next queued run started.
#[tracing::instrument(skip_all, fields(%lane, by = %by))]
pub async fn force_release(
    state: &Deps,
    by: &Email,
    lane: &LaneId,
    input: ReleaseInput,
) -> ServiceResult<Run> {
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(FieldError::new(
            "reason",
            "must say why the lane is released (1-500 characters)",
        )
        .into());
    }
    let Some(lock) = state.store.get_run_lock(lane).await? else {
        return Err(ServiceError::Conflict {
            code: "lane_free",
            message: format!("lane {lane} has no active run; nothing to release"),
            details: None,
        });
    };
    let message = format!("released by {by}: {reason}");
    let now = state.clock.now();
    let run = match change_run(state, lock.run_id, |run| {
        run.finish(Some((ErrorName::Released.as_str(), &message)), now);
        Ok::<(), ServiceError>(())
    })
    .await
    {
        Ok(run) => Some(run),
        Err(RunChangeError::Missing) => None,
        Err(RunChangeError::Refused(e)) => return Err(e),
        Err(RunChangeError::KeptChanging) => {
            return Err(ServiceError::Conflict {
                code: "run_busy",
                message: format!("run {} kept changing; try again", lock.run_id),
                details: None,
            });
        }
        Err(RunChangeError::Store(e)) => return Err(e.into()),
    };
    if let Some(run) = &run
        && let Err(e) = state.workflow.stop(&run.execution_id, &message).await
    {
        tracing::warn!(error = %e, "could not stop the execution of a released run");
    }
    state.store.release_run_lock(lane, lock.run_id).await?;
    tracing::warn!(run_id = lock.run_id, "lane force-released");
    // Once each (notify skips a run whose mail already went out, announce a channel it
    // already told); a failure stays on the run.
    crate::mail::notify_all(
        state,
        RunRef {
            run_id: lock.run_id,
        },
    )
    .await;
    lanes::after_run_ended(state, lane).await;
    match state.store.get_run(lock.run_id).await? {
        Some(run) => Ok(run),
        None => Err(ServiceError::no_such("run", lock.run_id)),
    }
}
