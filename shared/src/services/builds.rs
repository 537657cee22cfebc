use serde_json::Value;

use super::error::ServiceResult;
use crate::deps::Deps;
use crate::domain::{Build, NewBuild};

/// Stores a build posted by Jenkins. Returns it and whether this call created it
/// (a repeat of the same job and number returns the first one).
#[tracing::instrument(skip_all)]
pub async fn record_build(state: &Deps, body: &Value) -> ServiceResult<(Build, bool)> {
    let new = NewBuild::from_webhook(body).inspect_err(|_| state.metrics.webhook("refused"))?;
    let (build, created) = state.store.insert_build(&new, state.clock.now()).await?;
    state
        .metrics
        .webhook(if created { "created" } else { "repeated" });
    if created {
        tracing::info!(build_id = build.id, job = %build.job_name, number = %build.build_number, "build recorded");
    } else if build.package_path != new.package_path {
        tracing::warn!(build_id = build.id, job = %build.job_name, number = %build.build_number,
            "repeat webhook with a different PACKAGE_PATH; keeping the first");
    }
    // Also on repeats: a retry after a failure here still moves the selection (it is idempotent).
    super::job_versions::follow_new_build(state, &build).await?;
    if created {
        super::new_build::trigger_items_of(state, &build).await?;
    }
    Ok((build, created))
}
