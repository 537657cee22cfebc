//! A live run's remaining time (`GET /deploy-test-runs/{id}/estimate`, the Queue view).

use super::error::ServiceResult;
use crate::deps::Deps;
use crate::domain::Run;
use crate::domain::run_estimate::{ESTIMATE_RUNS, RunEstimate, estimate};

/// The item's runs read for the medians: enough to find [`ESTIMATE_RUNS`] that completed
/// among failed and cancelled ones, one bounded page.
const SCAN: usize = 3 * ESTIMATE_RUNS;

/// `run`'s estimate now; `None` when it has ended or its item has no completed run yet.
pub async fn estimate_for(state: &Deps, run: &Run) -> ServiceResult<Option<RunEstimate>> {
    if run.status.is_terminal() {
        return Ok(None);
    }
    let recent = state
        .store
        .list_runs_of_item(run.test_item_id.get(), None, SCAN)
        .await?;
    Ok(estimate(run, &recent.items, state.clock.now()))
}
