//! Triggering deploy-test runs: one at a time per lane (queued behind the active one), with a
//! snapshot of build and parameters.

use crate::workflow::WorkflowStarter;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use super::lanes::{self, AdmittedRun};
use crate::deps::Deps;
use crate::domain::{
    Build, BuildId, Email, PlanRefusal, Run, RunId, RunStatus, TestItemId, TestPlan, timing,
};
use crate::tasks::{RunChangeError, change_run};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    /// The build to test; absent: the job's selected build.
    #[schema(minimum = 1, value_type = Option<i64>)]
    pub build_info_id: Option<BuildId>,
    /// `false`: fail fast with 409 naming the active run when the lane is busy, instead of
    /// queueing behind it (the default, `true`).
    pub queue: Option<bool>,
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

/// Starts a run of test item `item_id`, or queues it behind its lane's active run (202 with
/// the run either way); with `queue: false` a busy lane is 409 naming the active run.
#[tracing::instrument(skip_all, fields(item_id, by = %by))]
pub async fn trigger(
    state: &Deps,
    by: &Email,
    item_id: TestItemId,
    input: TriggerInput,
) -> ServiceResult<AdmittedRun> {
    trigger_as(state, by, item_id, input, false).await
}

/// [`trigger`], recording whether the build webhook (not a person) asked for it.
pub(crate) async fn trigger_as(
    state: &Deps,
    by: &Email,
    item_id: TestItemId,
    input: TriggerInput,
    by_webhook: bool,
) -> ServiceResult<AdmittedRun> {
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
    let mut run = Run::new(id, &item, &build, &set, by, state.clock.now());
    run.started_by_webhook = by_webhook;
    let admitted = lanes::admit(
        state,
        &run,
        input.queue.unwrap_or(true),
        settings.max_monitor_seconds,
    )
    .await?;
    tracing::info!(run_id = %run.id, item = %item.name, build = build.id, status = admitted.run.status.as_str(), "run triggered");
    Ok(admitted)
}

fn no_run(id: RunId) -> ServiceError {
    ServiceError::no_such("run", id)
}

/// The body of a re-run; no body, or `{}`, re-runs the whole suite.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunInput {
    /// `true`: run only the tests that failed or broke in the run (their stored cases),
    /// sent to the test server as an Allure test plan (`testplan` in the trigger body).
    pub only_failed: Option<bool>,
}

/// Starts a new run with the same build and parameter snapshot as run `run_id`.
pub async fn rerun(state: &Deps, by: &Email, run_id: RunId) -> ServiceResult<AdmittedRun> {
    rerun_with(state, by, run_id, RerunInput::default()).await
}

/// The test plan of a re-run of only run `old`'s failed and broken cases.
async fn plan_of_failures(state: &Deps, old: &Run) -> ServiceResult<TestPlan> {
    let cases = state.store.all_test_cases(old.id.get()).await?;
    let refused = |code, message: String| unprocessable(code, format!("only_failed: {message}"));
    TestPlan::of_failures(old.id.get(), &cases).map_err(|r| match r {
        PlanRefusal::NoFailures => refused(
            "no_failed_tests",
            match &old.test_cases {
                Some(note) if note.stored > 0 => format!(
                    "run {} has no failed or broken test among its {} stored cases; re-run it without only_failed",
                    old.id, note.stored
                ),
                _ => format!(
                    "run {} has no test cases stored ({}); re-run it without only_failed",
                    old.id,
                    old.test_cases
                        .as_ref()
                        .and_then(|n| n.reason.as_deref())
                        .unwrap_or("its report was not read")
                ),
            },
        ),
        PlanRefusal::NoneNamed { failures } => refused(
            "no_failed_tests",
            format!(
                "none of run {}'s {failures} failed or broken tests has a full name or a report id a test plan can select; re-run it without only_failed",
                old.id
            ),
        ),
        PlanRefusal::TooLarge { entries, bytes } => refused(
            "test_plan_too_large",
            format!(
                "the plan of run {}'s {entries} failed tests is {bytes} bytes, over {}; re-run it without only_failed",
                old.id,
                TestPlan::MAX_JSON_BYTES
            ),
        ),
    })
}

/// [`rerun`]; with `only_failed: true` the new run carries a test plan of the old run's
/// failed and broken cases (422 `no_failed_tests` when it has none stored).
#[tracing::instrument(skip_all, fields(run_id, by = %by))]
pub async fn rerun_with(
    state: &Deps,
    by: &Email,
    run_id: RunId,
    input: RerunInput,
) -> ServiceResult<AdmittedRun> {
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
    let plan = match input.only_failed {
        Some(true) => Some(plan_of_failures(state, &old).await?),
        _ => None,
    };
    let id = RunId::from_stored(state.store.next_id("runs").await?);
    let mut run = old.rerun(id, by, state.clock.now());
    run.test_plan = plan;
    // A re-run tests on the old run's environment (its server was resolved above), so it
    // takes that environment's lane, even if the item has moved to another one since.
    run.lane = crate::domain::lane_of_environment(old.environment_id);
    let admitted = lanes::admit(state, &run, true, settings.max_monitor_seconds).await?;
    tracing::info!(new_run = %run.id, status = admitted.run.status.as_str(), planned = run.test_plan.as_ref().map(|p| p.tests.len()), "re-run triggered");
    Ok(admitted)
}

/// Cancels a live run: the person who triggered it or an admin. Marks it CANCELLED (no
/// result mail), stops its execution, releases its lane and starts the next queued run. A
/// QUEUED run just leaves the queue, never started.
#[tracing::instrument(skip_all, fields(run_id, by = %by))]
pub async fn cancel(state: &Deps, by: &Email, is_admin: bool, run_id: RunId) -> ServiceResult<Run> {
    for _ in 0..CANCEL_ATTEMPTS {
        match cancel_queued(state, by, is_admin, run_id).await? {
            QueuedCancel::Done(cancelled) => {
                state.metrics.run_ended(&cancelled);
                return Ok(*cancelled);
            }
            QueuedCancel::NotQueued => break,
            QueuedCancel::Changed => continue,
        }
    }
    let run = change_run(state, run_id.get(), |run| {
        ensure_may_cancel(run, by, is_admin, run_id)?;
        // A QUEUED run leaves its lane's queue only with the store's queue cancel: written
        // here, it would stay counted in the queue.
        if run.status == RunStatus::Queued {
            return Err(lane_busy(run_id));
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
    state
        .store
        .release_run_lock(&run.lane, run_id.get())
        .await?;
    tracing::info!("run cancelled");
    state.metrics.run_ended(&run);
    lanes::after_run_ended(state, &run.lane).await;
    Ok(run)
}

fn ensure_may_cancel(run: &Run, by: &Email, is_admin: bool, run_id: RunId) -> ServiceResult<()> {
    if &run.triggered_by != by && !is_admin {
        return Err(ServiceError::Forbidden {
            code: "not_your_run",
            message: format!(
                "only {} (who triggered it) or an admin can cancel run {run_id}",
                run.triggered_by
            ),
        });
    }
    Ok(())
}

/// How often a cancel re-reads a queued run that changed under it.
const CANCEL_ATTEMPTS: usize = 3;

/// What [`cancel_queued`] did.
enum QueuedCancel {
    /// Cancelled while queued: it never starts.
    Done(Box<Run>),
    /// Not (or no longer) queued: cancel it as a live run.
    NotQueued,
    /// It changed between the read and the cancel (it may have started): read it again.
    Changed,
}

fn lane_busy(run_id: RunId) -> ServiceError {
    ServiceError::Conflict {
        code: "run_busy",
        message: format!(
            "run {run_id} is queued and its lane is busy with other changes; try again"
        ),
        details: None,
    }
}

/// Cancels run `run_id` while it is QUEUED (it leaves the queue, never started).
async fn cancel_queued(
    state: &Deps,
    by: &Email,
    is_admin: bool,
    run_id: RunId,
) -> ServiceResult<QueuedCancel> {
    let Some(run) = state.store.get_run(run_id.get()).await? else {
        return Err(no_run(run_id));
    };
    if run.status != RunStatus::Queued {
        return Ok(QueuedCancel::NotQueued);
    }
    ensure_may_cancel(&run, by, is_admin, run_id)?;
    let mut cancelled = run.clone();
    cancelled.cancel(by.as_str(), state.clock.now());
    cancelled.revision += 1;
    match state.store.cancel_queued_run(&cancelled).await {
        Ok(true) => {
            tracing::info!("queued run cancelled");
            Ok(QueuedCancel::Done(Box::new(cancelled)))
        }
        Ok(false) => Ok(QueuedCancel::Changed),
        // The lane kept changing: nothing was written, and the run is still queued.
        Err(crate::ports::StoreError::Conflict(_)) => Err(lane_busy(run_id)),
        Err(e) => Err(e.into()),
    }
}

/// The message the sweeper leaves on runs it fails (the seed's wording).
pub const SWEEPER_MESSAGE: &str = "Test timeout - automatically failed by cleanup";

/// Fails every run still live after its [`timing::lease_until`] (the rule the lock's lease
/// comes from), stops its execution and releases its lane (starting the lane's next run),
/// then starts the head of every free lane. Returns the runs it failed (the caller sends
/// their failure mail). A healthy run never gets that old: its own poll deadline ends it.
#[tracing::instrument(skip_all)]
pub async fn sweep_stale(state: &Deps) -> ServiceResult<Vec<Run>> {
    let settings = state.settings().await?;
    let now = state.clock.now();
    let mut failed = Vec::new();
    // A QUEUED run is not stale however long it waits: it has not started.
    for status in RunStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal() && *s != RunStatus::Queued)
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
                state
                    .store
                    .release_run_lock(&run.lane, run.id.get())
                    .await?;
                tracing::warn!(run_id = %run.id, "stale run failed by the sweeper");
                lanes::after_run_ended(state, &run.lane).await;
                failed.push(run);
            }
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
    }
    // The safety net: a lane freed without its ending starting the next run (a crash between
    // the two, a lost race) gets its head started here.
    lanes::start_free_lanes(state).await?;
    Ok(failed)
}
