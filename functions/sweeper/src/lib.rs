//! The stale-run sweeper, run by a schedule: EventBridge in the cloud, a timer locally.
//! It fails runs still live past their lease (`shared::domain::timing::lease_until`, the
//! rule the run lock's lease comes from; the seed's "Test timeout - automatically failed by
//! cleanup"), stops their executions, releases the lock, and sends each one's failure mail
//! once. A healthy run never gets that old: its poll deadline ends it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::services::runs::sweep_stale;
use shared::tasks::{RunRef, TaskError};

/// How often the local timer sweeps.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepReport {
    /// The runs failed by this sweep.
    pub failed_runs: Vec<i64>,
    /// Those whose failure mail could not be sent (kept on each run's `notification`).
    pub mail_errors: Vec<i64>,
}

pub async fn handle(deps: &shared::Deps, _event: Value) -> Result<SweepReport, TaskError> {
    let failed = sweep_stale(deps).await?;
    let mut report = SweepReport {
        failed_runs: Vec::new(),
        mail_errors: Vec::new(),
    };
    for run_id in failed.iter().map(|run| run.id.get()) {
        report.failed_runs.push(run_id);
        // Mail once: notify skips a run whose mail already went out.
        if let Err(e) = shared::mail::handle(deps, RunRef { run_id }).await {
            tracing::warn!(run_id, error = %e, "failure mail of a swept run not sent");
            report.mail_errors.push(run_id);
        }
        if let Err(e) = shared::services::announce::announce(deps, RunRef { run_id }).await {
            tracing::warn!(run_id, error = %e, "chat notifications of a swept run not sent");
        }
    }
    if !report.failed_runs.is_empty() {
        tracing::warn!(failed = ?report.failed_runs, "sweeper failed stale runs");
    }
    Ok(report)
}

/// The local server's timer.
pub fn spawn_timer(deps: shared::Deps) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = handle(&deps, Value::Null).await {
                tracing::error!(error = %e, "sweep failed; will try again");
            }
        }
    })
}
