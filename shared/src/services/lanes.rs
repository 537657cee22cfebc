//! Lanes and their queues: admitting a new run (start it, or queue it behind the active
//! run), starting the head of a freed lane, the queue view, and an admin's force-release.
//! The store decides every race (admission, the head's claim of the lane); this module only
//! reacts to what it decided. Every place that frees a lane calls [`start_next`]; the
//! sweeper and the local server's start call it for every lane as the safety net.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::{LaneId, Run, RunLock, RunStatus, timing};
use crate::ports::{Admission, StoreError};
use crate::tasks::ErrorName;
use crate::workflow::WorkflowStarter;

/// A run as a trigger answers it: while QUEUED, its place and when it may start.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdmittedRun {
    #[serde(flatten)]
    pub run: Run,
    /// 1-based place in its lane's queue while QUEUED, else `null`.
    pub queue_position: Option<usize>,
    /// From the median duration of the lane's recent completed runs; `null` when there are none.
    pub estimated_start_at: Option<DateTime<Utc>>,
}

/// Reads as its run wherever a run is read.
impl std::ops::Deref for AdmittedRun {
    type Target = Run;

    fn deref(&self) -> &Run {
        &self.run
    }
}

impl AdmittedRun {
    pub fn started(run: Run) -> Self {
        Self {
            run,
            queue_position: None,
            estimated_start_at: None,
        }
    }
}

/// How many completed runs of a lane the estimate looks at (newest first).
const ESTIMATE_SAMPLE: usize = 20;
/// How many runs back the estimate reads to find them.
const ESTIMATE_SCAN: usize = 200;
/// How many heads one [`start_next`] tries before leaving the rest to the next ending or sweep.
const MAX_START_ATTEMPTS: usize = 20;

fn busy(lane: &LaneId, lock: Option<&RunLock>, active: Option<&Run>) -> ServiceError {
    let details = active.map(|r| {
        json!({"active_run": {"id": r.id, "test_item_id": r.test_item_id, "test_item_name": r.test_item_name,
            "status": r.status, "triggered_by": r.triggered_by, "started_at": r.started_at, "lane": r.lane}})
    });
    ServiceError::Conflict {
        code: "run_active",
        message: match (active, lock) {
            (Some(r), _) => format!(
                "run {} ({} for {}, {}) is active on lane {lane}; one run at a time — wait for it, cancel it, or trigger without \"queue\": false to queue",
                r.id,
                r.test_item_name,
                r.triggered_by,
                r.status.as_str()
            ),
            (None, Some(l)) => format!(
                "run {} is active on lane {lane}; one run at a time",
                l.run_id
            ),
            (None, None) => {
                format!("lane {lane} has runs waiting; trigger without \"queue\": false to queue")
            }
        },
        details,
    }
}

/// The same person's live run of the same build and item (`twin`): queueing it again is a
/// mistake (a double click). The store finds it as part of the admission.
fn duplicate(twin: &Run) -> ServiceError {
    ServiceError::Conflict {
        code: "run_duplicate",
        message: format!(
            "run {} of {} build {} by {} is already {}; wait for it or cancel it",
            twin.id,
            twin.test_item_name,
            twin.build.build_number,
            twin.triggered_by,
            twin.status.as_str()
        ),
        details: Some(json!({"run": {"id": twin.id, "status": twin.status, "lane": twin.lane}})),
    }
}

/// Stores the new `run` and starts it, or queues it (`queue`) behind its lane's active run;
/// without `queue`, a busy lane is 409 naming the active run. The same person's live run of
/// the same item and build (on any lane) is 409 naming it. A lock left by a run that
/// already ended (its finalize never released it) is freed once first.
pub async fn admit(
    state: &Deps,
    run: &Run,
    queue: bool,
    max_monitor_seconds: u32,
) -> ServiceResult<AdmittedRun> {
    free_stale_lock(state, &run.lane).await?;
    // Started now, not when the record was made: the checks above may have waited behind
    // other writes, and the lane's previous run may have ended meanwhile (its end time
    // must not follow this run's start).
    let mut run = run.clone();
    run.started_at = state.clock.now();
    let run = &run;
    let lease_until = timing::lease_until(run, max_monitor_seconds);
    match state.store.admit_run(run, queue, lease_until).await? {
        Admission::Started => {
            if let Err(e) = begin_execution(state, run).await {
                // Runs may have queued behind this one while its start was in flight: the
                // lane is free again, so its head starts now, not at the next sweep.
                after_run_ended(state, &run.lane).await;
                return Err(e);
            }
            Ok(AdmittedRun::started(run.clone()))
        }
        Admission::Queued { position } => {
            // The active run may have ended between the admission and now; its ending then
            // found no queue: start the head here (perhaps this run).
            start_next(state, &run.lane).await?;
            let stored = state
                .store
                .get_run(run.id.get())
                .await?
                .unwrap_or_else(|| run.clone());
            if stored.status != RunStatus::Queued {
                return Ok(AdmittedRun::started(stored));
            }
            let estimated_start_at = estimate_start(state, &run.lane, position).await?;
            tracing::info!(run_id = %run.id, lane = %run.lane, position, "run queued");
            Ok(AdmittedRun {
                run: stored,
                queue_position: Some(position),
                estimated_start_at,
            })
        }
        Admission::Duplicate { twin } => {
            give_back_id(state, run.id).await;
            Err(duplicate(&twin))
        }
        Admission::Busy { lock, queue_full } => {
            give_back_id(state, run.id).await;
            if queue_full {
                return Err(ServiceError::Conflict {
                    code: "queue_full",
                    message: format!(
                        "lane {} already has {} runs waiting; try again later",
                        run.lane,
                        crate::domain::MAX_QUEUED_PER_LANE
                    ),
                    details: None,
                });
            }
            // An unreadable active run is still named by its id (from the lock).
            let active = match &lock {
                Some(l) => lane_holder(state, l).await?,
                None => None,
            };
            Err(busy(&run.lane, lock.as_ref(), active.as_ref()))
        }
    }
}

/// A refused run wrote nothing under its id: the id goes back (unless a later one was taken
/// meanwhile), so refused triggers leave no gaps in the run ids people see.
async fn give_back_id(state: &Deps, id: crate::domain::RunId) {
    if let Err(e) = state.store.give_back_id("runs", id.get()).await {
        tracing::warn!(run_id = %id, error = %e, "a refused run's id was not given back");
    }
}

/// The run holding `lock`, `None` when it is gone or its record cannot be read (logged):
/// one unreadable record must not fail every trigger and view of its lane.
pub(super) async fn lane_holder(state: &Deps, lock: &RunLock) -> ServiceResult<Option<Run>> {
    match state.store.get_run(lock.run_id).await {
        Err(StoreError::Corrupt(why)) => {
            tracing::warn!(run_id = lock.run_id, %why, "a lane's holder cannot be read");
            Ok(None)
        }
        read => Ok(read?),
    }
}

/// Releases the lane's lock when its holder ended or is gone. `true` when the lane is free.
async fn free_stale_lock(state: &Deps, lane: &LaneId) -> ServiceResult<bool> {
    let Some(lock) = state.store.get_run_lock(lane).await? else {
        return Ok(true);
    };
    let holder = match state.store.get_run(lock.run_id).await {
        Ok(holder) => holder,
        // It may still be running: the lane stays held (its Finalize or an admin's
        // force-release frees it), and triggers queue behind it rather than fail.
        Err(StoreError::Corrupt(why)) => {
            tracing::warn!(%lane, run_id = lock.run_id, %why, "the lane's holder cannot be read; the lane stays held");
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if holder.is_some_and(|r| !r.status.is_terminal()) {
        return Ok(false);
    }
    if state.store.release_run_lock(lane, lock.run_id).await? {
        tracing::warn!(%lane, stale_run = lock.run_id, "released a lock left by an ended run");
    }
    Ok(true)
}

/// `run`, a queued head just stored as holding its lane, with its start read from the clock
/// after the store said so: a run never starts before its predecessor ended. A start taken
/// before the claim can be stale by a whole run: a starter that read the queue, then waited
/// behind other writes while the head before it ran and ended, still wins the freed lane.
/// One conditional write; if it fails (the run changed meanwhile, the store is busy) the run
/// keeps the start it was stored with, since starting it matters more than its timestamp.
/// (A trigger's admission takes its start just before its one store call, so its window is
/// that call alone, and a trigger stays within its DynamoDB call budget.)
async fn restamp_start(state: &Deps, run: Run) -> Run {
    let now = state.clock.now();
    if now <= run.started_at {
        return run;
    }
    let stamped = Run {
        started_at: now,
        revision: run.revision + 1,
        ..run.clone()
    };
    match state.store.update_run(&stamped).await {
        Ok(()) => stamped,
        Err(e) => {
            tracing::warn!(run_id = %run.id, error = %e, "the run's start time was not updated");
            run
        }
    }
}

/// Starts `run`'s execution (it holds its lane). If that fails, the run is FAILED, the lane
/// released, and the error returned.
async fn begin_execution(state: &Deps, run: &Run) -> ServiceResult<()> {
    let Err(e) = state
        .workflow
        .start(
            &run.execution_id,
            json!({"run_id": run.id, "failure": null}),
        )
        .await
    else {
        return Ok(());
    };
    let mut failed = run.clone();
    failed.finish(
        Some((
            ErrorName::StartFailed.as_str(),
            "the deploy-test workflow could not be started",
        )),
        state.clock.now(),
    );
    failed.revision += 1;
    let _ = state.store.update_run(&failed).await;
    let _ = state.store.release_run_lock(&run.lane, run.id.get()).await;
    Err(ServiceError::Internal(format!(
        "starting execution {}: {e}",
        run.execution_id
    )))
}

/// Starts the oldest QUEUED run of `lane` if the lane is free: the head claims the lane in
/// the store (exactly one of concurrent starters wins), then its execution starts. Returns
/// the run it started, if any. A head whose execution cannot start is failed and the next
/// one tried.
#[tracing::instrument(skip(state))]
pub async fn start_next(state: &Deps, lane: &LaneId) -> ServiceResult<Option<Run>> {
    let max_monitor_seconds = state.settings().await?.max_monitor_seconds;
    for _ in 0..MAX_START_ATTEMPTS {
        if !free_stale_lock(state, lane).await? {
            return Ok(None);
        }
        let Some(head) = state.store.queued_runs(lane).await?.into_iter().next() else {
            return Ok(None);
        };
        let started = head.leave_queue(state.clock.now());
        let lease_until = timing::lease_until(&started, max_monitor_seconds);
        if !state.store.claim_lane(&started, lease_until).await? {
            continue; // another starter won, or the head was cancelled: look again
        }
        let started = restamp_start(state, started).await;
        if let Some(queued_at) = head.queued_at {
            let waited = (started.started_at - queued_at)
                .to_std()
                .unwrap_or_default();
            state.metrics.queue_wait(waited);
        }
        match begin_execution(state, &started).await {
            Ok(()) => {
                tracing::info!(run_id = %started.id, "queued run started");
                return Ok(Some(started));
            }
            Err(e) => {
                tracing::error!(run_id = %started.id, error = %e, "queued run could not start")
            }
        }
    }
    Ok(None)
}

/// [`start_next`] after a run of `lane` ended: a failure is logged, not raised (the run's
/// own ending stands; the sweeper starts the head later).
pub async fn after_run_ended(state: &Deps, lane: &LaneId) {
    if let Err(e) = start_next(state, lane).await {
        tracing::warn!(%lane, error = %e, "the next queued run was not started; the sweeper will");
    }
}

/// The default lane, every test environment's, and any other lane with a queued run: what
/// the queue view shows and the safety net looks at.
pub async fn lanes_in_use(state: &Deps) -> ServiceResult<Vec<LaneId>> {
    let mut lanes = vec![LaneId::default_lane()];
    let mut after = None;
    loop {
        let page = state.store.list_environments(after, 200).await?;
        lanes.extend(page.items.iter().map(|e| LaneId::of_environment(e.id)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut before = None;
    loop {
        let page = state
            .store
            .list_runs(Some(RunStatus::Queued), before, 200)
            .await?;
        lanes.extend(page.items.into_iter().map(|r| r.lane));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    // The default lane first, then by environment id.
    lanes.sort_by_key(|l| (!l.is_default(), l.as_str().parse::<i64>().ok(), l.clone()));
    lanes.dedup();
    Ok(lanes)
}

/// Starts the head of every free lane (the sweeper's and the local start's safety net).
/// Returns the runs it started.
pub async fn start_free_lanes(state: &Deps) -> ServiceResult<Vec<Run>> {
    let mut started = Vec::new();
    for lane in lanes_in_use(state).await? {
        started.extend(start_next(state, &lane).await?);
    }
    Ok(started)
}

/// When the run at `position` may start: the active run's start plus `position` median
/// durations of the lane's recent completed runs (never before now); `None` without history.
pub async fn estimate_start(
    state: &Deps,
    lane: &LaneId,
    position: usize,
) -> ServiceResult<Option<DateTime<Utc>>> {
    let history = RecentRuns::read(state).await?;
    let Some(median) = history.median_seconds(lane) else {
        return Ok(None);
    };
    let active = match state.store.get_run_lock(lane).await? {
        Some(lock) => lane_holder(state, &lock).await?,
        None => None,
    };
    Ok(Some(
        StartEstimate::new(state, active.as_ref(), median).at(position),
    ))
}

/// The recent completed runs of every lane, read once for as many estimates as needed.
pub struct RecentRuns(Vec<Run>);

impl RecentRuns {
    pub async fn read(state: &Deps) -> ServiceResult<Self> {
        let recent = state
            .store
            .list_runs(Some(RunStatus::Completed), None, ESTIMATE_SCAN)
            .await?;
        Ok(Self(recent.items))
    }

    /// The median duration of `lane`'s newest completed runs; `None` when it has none.
    pub fn median_seconds(&self, lane: &LaneId) -> Option<i64> {
        let durations = self
            .0
            .iter()
            .filter(|r| &r.lane == lane)
            .filter_map(|r| {
                r.finished_at
                    .map(|f| (f - r.started_at).num_seconds().max(0))
            })
            .take(ESTIMATE_SAMPLE)
            .collect();
        crate::domain::lane::median_seconds(durations)
    }
}

/// A lane's queued runs' start estimates: from the active run's start (now when none).
pub struct StartEstimate {
    from: DateTime<Utc>,
    median_seconds: i64,
    now: DateTime<Utc>,
}

impl StartEstimate {
    pub fn new(state: &Deps, active: Option<&Run>, median_seconds: i64) -> Self {
        let now = state.clock.now();
        Self {
            from: active.map(|r| r.started_at).unwrap_or(now),
            median_seconds,
            now,
        }
    }

    /// The estimate of the run at 1-based `position`.
    pub fn at(&self, position: usize) -> DateTime<Utc> {
        let wait = self.median_seconds.saturating_mul(position as i64);
        (self.from + TimeDelta::seconds(wait)).max(self.now)
    }
}
