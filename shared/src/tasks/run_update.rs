use crate::deps::Deps;
use crate::domain::Run;
use crate::ports::StoreError;

use super::TaskError;

/// Reads run `run_id`, applies `change`, and writes it back conditionally on its revision,
/// re-reading and re-applying on a concurrent write (a few times). `change` sees the fresh
/// record every time; it may refuse with an error (e.g. the run already ended).
pub async fn update_run<F>(state: &Deps, run_id: i64, mut change: F) -> Result<Run, TaskError>
where
    F: FnMut(&mut Run) -> Result<(), TaskError>,
{
    for _ in 0..8 {
        let mut run = state.store.get_run(run_id).await?.ok_or_else(|| {
            TaskError::new(TaskError::RUN_ENDED, format!("run {run_id} does not exist"))
        })?;
        change(&mut run)?;
        run.revision += 1;
        match state.store.update_run(&run).await {
            Ok(()) => return Ok(run),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(TaskError::new(
        TaskError::STORE_BUSY,
        format!("run {run_id} kept changing while it was being updated"),
    ))
}

/// Refuses to work on a run that has already ended (cancelled, failed by the sweeper, ...).
pub fn ensure_live(run: &Run) -> Result<(), TaskError> {
    if run.status.is_terminal() {
        return Err(TaskError::new(
            TaskError::RUN_ENDED,
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
