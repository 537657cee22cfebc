//! How long a live run has left, from its test item's recent runs: the median time of each
//! step the run waits on (download, trigger, monitor) over the item's newest full runs that
//! completed (passed or with failed tests), laid over the live run's own steps. A step that
//! is done counts what it took; the running step counts its median less what it has run
//! already (nothing once it is over its median); a step still to come counts its median.
//! NOTIFY is left out: the run has its outcome, and has ended, before its mail goes out.
//! A queued run has no estimate: when it starts depends on the run ahead of it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::lane::median_seconds;
use super::run::{Run, RunOutcome, RunStatus, StepName, StepStatus};

/// How many of the item's completed runs the medians are taken over (newest first).
pub const ESTIMATE_RUNS: usize = 10;

/// A live run's remaining time.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunEstimate {
    /// Seconds since the run started (left the queue).
    pub elapsed_seconds: i64,
    /// Seconds the run is expected to take still: the running step's median less its time
    /// so far (0 once past it) plus the medians of the steps still to come.
    pub remaining_seconds: i64,
    /// When it is expected to end.
    pub finish_at: DateTime<Utc>,
    /// Share done, 0–99 while the run is live (it reaches 100 only by ending).
    pub percent: u8,
    /// True when the run has taken longer than its item's runs usually take in all (the
    /// sum of its steps' medians); the remaining time is still given.
    pub overdue: bool,
    /// How many completed runs of the item the medians come from.
    pub based_on_runs: usize,
    /// Seconds each step has taken (done) or has run so far (running); not started: absent.
    pub step_elapsed_seconds: Vec<StepElapsed>,
}

/// One step's time so far.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepElapsed {
    #[schema(value_type = String, example = "MONITOR")]
    pub step: &'static str,
    pub seconds: i64,
    /// The step's median over the item's completed runs; `null` when none ran it.
    pub usual_seconds: Option<i64>,
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

/// Full runs that ended the normal way: their step times are what a run of the item takes.
/// A rerun of only the failed tests (a test plan) runs fewer tests, so it is not one.
fn completed_normally(run: &Run) -> bool {
    run.status == RunStatus::Completed
        && run.test_plan.is_none()
        && matches!(
            run.outcome,
            Some(RunOutcome::Passed | RunOutcome::TestsFailed)
        )
}

/// The median time of `step` over `history`'s runs that have both its times.
fn usual(history: &[&Run], step: StepName) -> Option<i64> {
    let times = history
        .iter()
        .filter_map(|r| r.steps.iter().find(|s| s.name == step))
        .filter_map(|s| Some(seconds(s.started_at?, s.finished_at?)))
        .collect();
    median_seconds(times)
}

/// The estimate of `run` at `now` from `recent` (the item's runs, newest first; `run`
/// itself and runs that did not complete normally are skipped). `None` when `run` is
/// queued or has ended, or no completed run of the item is there to learn from.
pub fn estimate(run: &Run, recent: &[Run], now: DateTime<Utc>) -> Option<RunEstimate> {
    if run.status.is_terminal() || run.status == RunStatus::Queued {
        return None;
    }
    let history: Vec<&Run> = recent
        .iter()
        .filter(|r| r.id != run.id && r.test_item_id == run.test_item_id)
        .filter(|r| completed_normally(r))
        .take(ESTIMATE_RUNS)
        .collect();
    if history.is_empty() {
        return None;
    }
    let mut remaining = 0;
    let mut usual_total = 0;
    let mut step_elapsed = Vec::new();
    for step in run.steps.iter().filter(|s| s.name != StepName::Notify) {
        let usual_seconds = usual(&history, step.name);
        let median = usual_seconds.unwrap_or(0);
        if step.status != StepStatus::Skipped {
            usual_total += median;
        }
        match (step.status, step.started_at, step.finished_at) {
            (_, Some(start), Some(end)) => step_elapsed.push(StepElapsed {
                step: step.name.as_str(),
                seconds: seconds(start, end),
                usual_seconds,
            }),
            (StepStatus::Running, Some(start), None) => {
                let so_far = seconds(start, now);
                remaining += (median - so_far).max(0);
                step_elapsed.push(StepElapsed {
                    step: step.name.as_str(),
                    seconds: so_far,
                    usual_seconds,
                });
            }
            (StepStatus::Pending, None, _) => remaining += median,
            _ => {} // skipped or cancelled before it began: takes no time
        }
    }
    let elapsed = seconds(run.started_at, now);
    let total = elapsed + remaining;
    let percent = if total == 0 {
        0
    } else {
        (elapsed * 100 / total).clamp(0, 99) as u8
    };
    Some(RunEstimate {
        elapsed_seconds: elapsed,
        remaining_seconds: remaining,
        finish_at: now + chrono::TimeDelta::seconds(remaining),
        percent,
        overdue: elapsed > usual_total,
        based_on_runs: history.len(),
        step_elapsed_seconds: step_elapsed,
    })
}

#[cfg(test)]
mod tests;
