use crate::deps::Deps;
use crate::domain::Run;
use crate::ports::StoreError;
use crate::tasks::ErrorName;

use super::TaskError;

/// How many times a run update re-reads and re-applies after a concurrent write.
const UPDATE_ATTEMPTS: usize = 8;

/// Why [`change_run`] gave up, for the caller to word in its own error type.
#[derive(Debug)]
pub enum RunChangeError<E> {
    /// No run has this id.
    Missing,
    /// `change` refused (e.g. the run already ended).
    Refused(E),
    /// Every attempt lost to a concurrent write.
    KeptChanging,
    Store(StoreError),
}

/// Reads run `run_id`, applies `change`, and writes it back conditionally on its revision
/// (unless `change` left it as it was),
/// re-reading and re-applying on a concurrent write (a few times). `change` sees the fresh
/// record every time; it may refuse with its own error. The one retry loop for every run
/// update: the tasks' ([`update_run`]) and the API's (cancel).
pub async fn change_run<E, F>(
    state: &Deps,
    run_id: i64,
    mut change: F,
) -> Result<Run, RunChangeError<E>>
where
    F: FnMut(&mut Run) -> Result<(), E>,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let mut run = state
            .store
            .get_run(run_id)
            .await
            .map_err(RunChangeError::Store)?
            .ok_or(RunChangeError::Missing)?;
        let before = run.clone();
        change(&mut run).map_err(RunChangeError::Refused)?;
        // Nothing changed (a poll of a run already monitoring): nothing to write. Each
        // write of a run record is several write units in the cloud, every poll cycle.
        if run == before {
            return Ok(run);
        }
        run.revision += 1;
        match state.store.update_run(&run).await {
            Ok(()) => return Ok(run),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(RunChangeError::Store(e)),
        }
    }
    Err(RunChangeError::KeptChanging)
}

/// [`change_run`] for a task: a missing run has ended, a busy one is retried by the ASL.
pub async fn update_run<F>(state: &Deps, run_id: i64, change: F) -> Result<Run, TaskError>
where
    F: FnMut(&mut Run) -> Result<(), TaskError>,
{
    change_run(state, run_id, change)
        .await
        .map_err(|e| match e {
            RunChangeError::Missing => {
                TaskError::new(ErrorName::RunEnded, format!("run {run_id} does not exist"))
            }
            RunChangeError::Refused(e) => e,
            RunChangeError::KeptChanging => TaskError::new(
                ErrorName::StoreBusy,
                format!("run {run_id} kept changing while it was being updated"),
            ),
            RunChangeError::Store(e) => e.into(),
        })
}

/// Refuses to work on a run that has already ended (cancelled, failed by the sweeper, ...).
pub fn ensure_live(run: &Run) -> Result<(), TaskError> {
    if run.status.is_terminal() {
        return Err(TaskError::new(
            ErrorName::RunEnded,
            format!("run {} already ended ({})", run.id, run.status.as_str()),
        ));
    }
    Ok(())
}

/// Records a task's error on its step (the step stays RUNNING: the state machine may retry;
/// finalize marks it FAILED if it gives up) and hands the error back for returning.
pub async fn note_step_error(
    state: &Deps,
    run_id: i64,
    step: crate::domain::StepName,
    error: TaskError,
) -> TaskError {
    let message = error.message.clone();
    if let Err(e) = update_run(state, run_id, |run| {
        run.step_mut(step).error = Some(message.clone());
        Ok(())
    })
    .await
    {
        tracing::warn!(error = %e, "could not record the step error");
    }
    error
}
