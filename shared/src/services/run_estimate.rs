//! A live run's remaining time (`GET /deploy-test-runs/{id}/estimate`, the Queue view).

use super::error::ServiceResult;
use crate::deps::Deps;
use crate::domain::run_estimate::{ESTIMATE_RUNS, RunEstimate, estimate};
use crate::domain::{Run, RunStatus};

/// The item's runs read for the medians: enough to find [`ESTIMATE_RUNS`] that completed
/// among failed and cancelled ones, one bounded page.
const SCAN: usize = 3 * ESTIMATE_RUNS;

/// `run`'s estimate now; `None` when it is queued or has ended, or its item has no completed
/// run before it yet.
pub async fn estimate_for(state: &Deps, run: &Run) -> ServiceResult<Option<RunEstimate>> {
    if run.status.is_terminal() || run.status == RunStatus::Queued {
        return Ok(None);
    }
    // Only runs older than this one: later ones (queued behind it) have not completed.
    let recent = state
        .store
        .list_runs_of_item(run.test_item_id.get(), Some(run.id.get()), SCAN)
        .await?;
    Ok(estimate(run, &recent.items, state.clock.now()))
}
