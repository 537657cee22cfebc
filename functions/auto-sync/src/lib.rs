//! Auto-sync, run by a schedule: EventBridge in the cloud, an in-process timer locally.

use serde_json::Value;
use shared::Deps;
use shared::services::job_versions::{self, AutoSyncReport};

/// How often the schedule looks; each selection's own interval comes from the settings.
pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The scheduled event's content is not used: the work depends only on the store and the clock.
pub async fn handle(
    state: &Deps,
    _event: Value,
) -> Result<AutoSyncReport, shared::services::ServiceError> {
    job_versions::auto_sync(state).await
}

/// The local server's timer: runs auto-sync every [`CHECK_EVERY`], logging failures.
pub fn spawn_timer(state: Deps) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = job_versions::auto_sync(&state).await {
                tracing::error!(error = %e, "auto-sync failed; will try again next hour");
            }
        }
    })
}
