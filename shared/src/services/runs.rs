//! Triggering deploy-test runs: one at a time, with a snapshot of build and parameters.

use crate::workflow::WorkflowStarter;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::{Build, BuildId, Email, Run, RunId, RunLock, TestItemId, timing};
use crate::tasks::{RunChangeError, change_run};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    /// The build to test; absent: the job's selected build.
    #[schema(minimum = 1, value_type = Option<i64>)]
    pub build_info_id: Option<BuildId>,
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Unprocessable {
        code,
        message: message.into(),
    }
}

async fn build_to_test(
    state: &Deps,
    job: &crate::domain::JobName,
    requested: Option<BuildId>,
) -> ServiceResult<Build> {
    let build = match requested {
        Some(id) => state.store.get_build(id.get()).await?.ok_or_else(|| {
            unprocessable(
                "build_not_found",
                format!("build_info_id: no build with id {id}"),
            )
        })?,
        None => {
            let selection = state.store.get_job_selection(job).await?.ok_or_else(|| {
                unprocessable(
                    "no_selected_build",
                    format!("job {job} has no selected build; select one or pass build_info_id"),
                )
            })?;
            state
                .store
                .get_build(selection.build_id)
                .await?
                .ok_or_else(|| {
                    unprocessable(
                        "build_not_found",
                        format!("the selected build {} no longer exists", selection.build_id),
                    )
                })?
        }
    };
    if &build.job_name != job {
        return Err(unprocessable(
            "build_not_in_job",
            format!(
                "build_info_id: build {} belongs to job {}, not {job}",
                build.id, build.job_name
            ),
        ));
    }
    Ok(build)
}

async fn busy(state: &Deps, lock: &RunLock) -> ServiceResult<ServiceError> {
    let active = state.store.get_run(lock.run_id).await?;
    let details = active.as_ref().map(|r| {
        json!({"active_run": {"id": r.id, "test_item_id": r.test_item_id, "test_item_name": r.test_item_name,
            "status": r.status, "triggered_by": r.triggered_by, "started_at": r.started_at}})
    });
    Ok(ServiceError::Conflict {
        code: "run_active",
        message: match &active {
            Some(r) => format!(
                "run {} ({} for {}, {}) is active; one run at a time — wait for it or cancel it",
                r.id,
                r.test_item_name,
                r.triggered_by,
                r.status.as_str()
            ),
            None => format!("run {} is active; one run at a time", lock.run_id),
        },
        details,
    })
}

fn ensure_enabled(item: &crate::domain::TestItem) -> ServiceResult<()> {
    if item.enabled {
        return Ok(());
    }
    Err(unprocessable(
        "test_item_disabled",
        format!(
            "test item {} is disabled; an admin can enable it",
            item.name
        ),
    ))
}

/// A run needs somewhere to download from and a test server to talk to.
fn ensure_settings_complete(settings: &crate::domain::Settings) -> ServiceResult<()> {
    for (key, value) in [
        (
            "package_download_base_url",
            &settings.package_download_base_url,
        ),
        (
            "external_test_server_url",
            &settings.external_test_server_url,
        ),
    ] {
        if value.is_none() {
            return Err(unprocessable(
                "settings_incomplete",
                format!("{key} is not set; an admin sets it in the settings"),
            ));
        }
    }
    Ok(())
}

/// Starts a run of test item `item_id`: 202 with the run, or 409 naming the active run.
#[tracing::instrument(skip_all, fields(item_id, by = %by))]
pub async fn trigger(
    state: &Deps,
    by: &Email,
    item_id: TestItemId,
    input: TriggerInput,
) -> ServiceResult<Run> {
    let item = state
        .store
        .get_test_item(item_id.get())
        .await?
        .ok_or_else(|| ServiceError::no_such("test item", item_id))?;
    ensure_enabled(&item)?;
    let build = build_to_test(state, &item.job_name, input.build_info_id).await?;
    let set = match item.parameter_set_id {
        Some(id) => state.store.get_parameter_set(id).await?,
        None => state.store.default_parameter_set().await?,
    }
    .ok_or_else(|| {
        unprocessable(
            "no_parameter_set",
            "there is no parameter set to use; an admin creates one first",
        )
    })?;
    let settings = state.settings().await?;
    // The item's environment must exist, be enabled and have a test server.
    let server = super::environments::test_server_for_item(state, &item, &settings).await?;
    ensure_settings_complete(&settings.on_test_server(&server))?;

    let id = RunId::from_stored(state.store.next_id("runs").await?);
    let run = Run::new(id, &item, &build, &set, by, state.clock.now());
    start(state, &run, settings.max_monitor_seconds).await?;
    tracing::info!(run_id = %run.id, item = %item.name, build = build.id, "run started");
    Ok(run)
}

/// Stores `run` with the run lock (409 naming the active run when taken) and starts its
/// execution; if the execution cannot start, the run is failed and the lock released.
/// The lease is [`timing::lease_until`]: the longest a healthy run can take to finalize
/// (poll renews it when monitoring begins). A lock whose lease lapsed while its run is still
/// live is NOT taken over: that run is the sweeper's to fail (same rule), never a reason
/// to start a second run beside it.
async fn start(state: &Deps, run: &Run, max_monitor_seconds: u32) -> ServiceResult<()> {
    let lease_until = timing::lease_until(run, max_monitor_seconds);
    let now = run.started_at;
    if let Some(lock) = state.store.get_run_lock().await?
        && !lock.is_held(now)
        && let Some(holder) = state.store.get_run(lock.run_id).await?
        && !holder.status.is_terminal()
    {
        return Err(busy(state, &lock).await?);
    }
    let mut attempt = state
        .store
        .create_run_with_lock(run, now, lease_until)
        .await?;
    if let Err(lock) = &attempt {
        // A lock held by a run that already ended (its finalize never released it): free it once.
        let holder = state.store.get_run(lock.run_id).await?;
        if holder.is_none_or(|r| r.status.is_terminal())
            && state.store.release_run_lock(lock.run_id).await?
        {
            tracing::warn!(
                stale_run = lock.run_id,
                "released a lock left by an ended run"
            );
            attempt = state
                .store
                .create_run_with_lock(run, now, lease_until)
                .await?;
        }
    }
    if let Err(lock) = attempt {
        return Err(busy(state, &lock).await?);
    }
    if let Err(e) = state
        .workflow
        .start(
            &run.execution_id,
            json!({"run_id": run.id, "failure": null}),
        )
        .await
    {
        let mut failed = run.clone();
        failed.finish(
            Some((
                crate::tasks::ErrorName::StartFailed.as_str(),
                "the deploy-test workflow could not be started",
            )),
            state.clock.now(),
        );
        failed.revision += 1;
        let _ = state.store.update_run(&failed).await;
        let _ = state.store.release_run_lock(run.id.get()).await;
        return Err(ServiceError::Internal(format!(
            "starting execution {}: {e}",
            run.execution_id
        )));
    }
    Ok(())
}

fn no_run(id: RunId) -> ServiceError {
    ServiceError::no_such("run", id)
}

/// Starts a new run with the same build and parameter snapshot as run `run_id`.
#[tracing::instrument(skip_all, fields(run_id, by = %by))]
pub async fn rerun(state: &Deps, by: &Email, run_id: RunId) -> ServiceResult<Run> {
    let old = state
        .store
        .get_run(run_id.get())
        .await?
        .ok_or_else(|| no_run(run_id))?;
    // The same rules as a trigger: the item still exists and is enabled, the build still
    // exists and belongs to the item's job, the settings are complete.
    let item = state
        .store
        .get_test_item(old.test_item_id.get())
        .await?
        .ok_or_else(|| {
            unprocessable(
                "test_item_not_found",
                format!(
                    "run {run_id}'s test item {} ({}) no longer exists",
                    old.test_item_id, old.test_item_name
                ),
            )
        })?;
    ensure_enabled(&item)?;
    build_to_test(state, &item.job_name, Some(old.build_info_id)).await?;
    let settings = state.settings().await?;
    let server = super::environments::test_server_of(state, old.environment_id, &settings).await?;
    ensure_settings_complete(&settings.on_test_server(&server))?;
    let id = RunId::from_stored(state.store.next_id("runs").await?);
    let run = old.rerun(id, by, state.clock.now());
    start(state, &run, settings.max_monitor_seconds).await?;
    tracing::info!(new_run = %run.id, "re-run started");
    Ok(run)
}

/// Cancels a live run: the person who triggered it or an admin. Marks it CANCELLED (no
/// result mail), stops its execution and releases the lock.
#[tracing::instrument(skip_all, fields(run_id, by = %by))]
pub async fn cancel(state: &Deps, by: &Email, is_admin: bool, run_id: RunId) -> ServiceResult<Run> {
    let run = change_run(state, run_id.get(), |run| {
        if &run.triggered_by != by && !is_admin {
            return Err(ServiceError::Forbidden {
                code: "not_your_run",
                message: format!(
                    "only {} (who triggered it) or an admin can cancel run {run_id}",
                    run.triggered_by
                ),
            });
        }
        if !run.cancel(by.as_str(), state.clock.now()) {
            return Err(ServiceError::Conflict {
                code: "run_ended",
                message: format!("run {run_id} already ended ({})", run.status.as_str()),
                details: None,
            });
        }
        Ok(())
    })
    .await
    .map_err(|e| match e {
        RunChangeError::Missing => no_run(run_id),
        RunChangeError::Refused(e) => e,
        RunChangeError::KeptChanging => ServiceError::Conflict {
            code: "run_busy",
            message: format!("run {run_id} kept changing; try again"),
            details: None,
        },
        RunChangeError::Store(e) => e.into(),
    })?;
    if let Err(e) = state
        .workflow
        .stop(&run.execution_id, &format!("cancelled by {by}"))
        .await
    {
        // The run is CANCELLED either way; its tasks refuse to go on (the run ended).
        tracing::warn!(error = %e, "could not stop the execution");
    }
    state.store.release_run_lock(run_id.get()).await?;
    tracing::info!("run cancelled");
    Ok(run)
}

/// The message the sweeper leaves on runs it fails (the seed's wording).
pub const SWEEPER_MESSAGE: &str = "Test timeout - automatically failed by cleanup";

/// Fails every run still live after its [`timing::lease_until`] (the rule the lock's lease
/// comes from), stops its execution and releases its lock. Returns the runs it failed (the caller sends
/// their failure mail). A healthy run never gets that old: its own poll deadline ends it.
#[tracing::instrument(skip_all)]
pub async fn sweep_stale(state: &Deps) -> ServiceResult<Vec<Run>> {
    let settings = state.settings().await?;
    let now = state.clock.now();
    let mut failed = Vec::new();
    for status in crate::domain::RunStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
    {
        let mut before = None;
        loop {
            let page = state.store.list_runs(Some(status), before, 200).await?;
            for mut run in page.items {
                if !timing::is_stale(&run, settings.max_monitor_seconds, now) {
                    continue;
                }
                run.finish(
                    Some((crate::tasks::ErrorName::Timeout.as_str(), SWEEPER_MESSAGE)),
                    now,
                );
                run.revision += 1;
                match state.store.update_run(&run).await {
                    Ok(()) => {}
                    // It moved meanwhile: it is alive after all; the next sweep looks again.
                    Err(crate::ports::StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
                if let Err(e) = state
                    .workflow
                    .stop(&run.execution_id, SWEEPER_MESSAGE)
                    .await
                {
                    tracing::warn!(run_id = %run.id, error = %e, "could not stop the execution of a stale run");
                }
                state.store.release_run_lock(run.id.get()).await?;
                tracing::warn!(run_id = %run.id, "stale run failed by the sweeper");
                failed.push(run);
            }
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
    }
    Ok(failed)
}
