//! Task: the end of every path. Sets the terminal status (COMPLETED, or FAILED with the
//! failing step and error), `finished_at`, releases the run's lane and starts the lane's
//! next queued run. Idempotent.
//!
//! The ASL's `ReleaseLock` state calls it again with `finalize_error` when Finalize kept
//! failing: then the lock is released first (it must not stay held for hours), and the
//! run is marked FAILED with that error if it has no failure of its own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::Deps;
use shared::domain::RunStatus;
use shared::ports::StoreError;
use shared::tasks::{ErrorName, TaskError, update_run};

/// `failure` is the ASL Catch output `{"Error", "Cause"}`, or null on success.
#[derive(Debug, Deserialize, Serialize)]
pub struct FinalizeInput {
    pub run_id: i64,
    #[serde(default)]
    pub failure: Option<Value>,
    /// The Catch output of a failed Finalize (last-resort call only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize_error: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FinalizeOutput {
    pub status: RunStatus,
}

/// The error name and a human message from a Catch output. Step Functions wraps a Lambda
/// error's Cause as JSON `{"errorMessage", "errorType", ...}`; the embedded executor passes
/// the message itself. Both are read.
pub fn describe_failure(failure: &Value) -> (String, String) {
    let error = failure["Error"]
        .as_str()
        .unwrap_or(ErrorName::Unknown.as_str())
        .to_owned();
    let cause = match &failure["Cause"] {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) if v["errorMessage"].is_string() => {
                v["errorMessage"].as_str().unwrap_or_default().to_owned()
            }
            _ => s.clone(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let cause = if cause.is_empty() {
        format!("the run failed ({error})")
    } else {
        cause
    };
    (error, shared::tasks::bounded(&cause, 2000))
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &Deps, input: FinalizeInput) -> Result<FinalizeOutput, TaskError> {
    let state = deps;
    let last_resort = input.finalize_error.as_ref().filter(|f| !f.is_null());
    let mut released = None;
    if last_resort.is_some() {
        // By run id: the lane must not stay held because the run's record cannot be read.
        released = state.store.release_lock_of_run(input.run_id).await?;
        tracing::warn!(lane = ?released, "finalize failed before; lock released first (last resort)");
    }
    // The lane the run holds (a run that is gone held the default lane, if any).
    let lane = match state.store.get_run(input.run_id).await {
        Ok(Some(run)) => run.lane,
        Ok(None) => shared::domain::LaneId::default_lane(),
        Err(StoreError::Corrupt(why)) => {
            // It can never be finished; its lane is freed and the queue moves on.
            tracing::error!(%why, "the run's record cannot be read; its lane is released");
            if released.is_none() {
                released = state.store.release_lock_of_run(input.run_id).await?;
            }
            if let Some(lane) = released {
                shared::services::lanes::after_run_ended(state, &lane).await;
            }
            return Err(StoreError::Corrupt(why).into());
        }
        Err(e) => return Err(e.into()),
    };
    let failure = input
        .failure
        .as_ref()
        .filter(|f| !f.is_null())
        .map(describe_failure)
        .or_else(|| {
            last_resort.map(|e| {
                let (_, cause) = describe_failure(e);
                (
                    ErrorName::FinalizeFailed.into(),
                    format!("finishing the run failed: {cause}"),
                )
            })
        });
    let now = state.clock.now();
    let mut ended_here = false;
    let run = match update_run(state, input.run_id, |run| {
        ended_here = !run.status.is_terminal();
        run.finish(failure.as_ref().map(|(e, c)| (e.as_str(), c.as_str())), now);
        Ok(())
    })
    .await
    {
        Ok(run) => {
            // Once per run: a retried finalize finds it ended (and a cancel counted it).
            if ended_here {
                state.metrics.run_ended(&run);
            }
            Some(run)
        }
        // A run that is gone still must not keep the lock.
        Err(e) if e.name == ErrorName::RunEnded => None,
        Err(e) => return Err(e),
    };
    state.store.release_run_lock(&lane, input.run_id).await?;
    let status = run.map(|r| r.status).unwrap_or(RunStatus::Failed);
    tracing::info!(status = status.as_str(), "run finished; lock released");
    // The lane is free: its next queued run starts now (the sweeper is the safety net).
    shared::services::lanes::after_run_ended(state, &lane).await;
    Ok(FinalizeOutput { status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_from_both_hosts_read_the_same() {
        let embedded = json!({"Error": ErrorName::PackageNotFound.as_str(), "Cause": "no cds-*.tar.gz in listing"});
        let lambda = json!({"Error": ErrorName::PackageNotFound.as_str(),
            "Cause": json!({"errorType": ErrorName::PackageNotFound.as_str(),
                "errorMessage": "no cds-*.tar.gz in listing"}).to_string()});
        assert_eq!(describe_failure(&embedded), describe_failure(&lambda));
        assert_eq!(describe_failure(&embedded).1, "no cds-*.tar.gz in listing");
        let bare = describe_failure(&json!({"Error": "States.Timeout"}));
        assert_eq!(
            bare,
            (
                "States.Timeout".into(),
                "the run failed (States.Timeout)".into()
            )
        );
    }
}
