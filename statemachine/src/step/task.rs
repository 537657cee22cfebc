//! The Task state's part of the step: schedule the invocation, then on its result apply
//! ResultSelector/ResultPath, or pick a retrier (with its backoff) or a catcher.

use serde_json::{Value, json};

use super::{Decided, Outcome, Run, TIMEOUT, enter, scaled};
use crate::error::TaskFailure;
use crate::history::NewEvent;
use crate::path::apply_result_path;
use crate::record::{Cursor, Pending};
use crate::state::{Retrier, TaskState};

impl Run<'_> {
    pub(super) fn schedule(self, task: &TaskState) -> Decided {
        let input = self.effective_input()?;
        let input = match &task.parameters {
            Some(parameters) => parameters.render(&input, self.context)?,
            None => input,
        };
        self.events.push(
            NewEvent::new("TaskScheduled")
                .state(&self.cursor.state)
                .resource(&task.resource)
                .input(input.clone()),
        );
        Ok(Outcome::Continue(Cursor {
            pending: Pending::Invoke {
                resource: task.resource.clone(),
                input,
            },
            ..self.cursor.clone()
        }))
    }

    pub(super) fn task_succeeded(self, task: &TaskState, resource: &str, result: Value) -> Decided {
        self.events.push(
            NewEvent::new("TaskSucceeded")
                .state(&self.cursor.state)
                .resource(resource)
                .output(result.clone()),
        );
        let result = match &task.result_selector {
            Some(selector) => selector.render(&result, self.context)?,
            None => result,
        };
        let output = self.output(task.result_path.as_ref(), result)?;
        Ok(self.leave(&task.transition, output))
    }

    pub(super) fn task_failed(
        mut self,
        task: &TaskState,
        resource: &str,
        failure: TaskFailure,
    ) -> Decided {
        let kind = if failure.error == TIMEOUT {
            "TaskTimedOut"
        } else {
            "TaskFailed"
        };
        self.events.push(
            NewEvent::new(kind)
                .state(&self.cursor.state)
                .resource(resource)
                .failure(&failure.error, &failure.cause),
        );
        // The first retrier whose ErrorEquals matches decides; once it is used up the
        // error goes to Catch (later retriers are not consulted, as in Step Functions).
        if let Some((index, retrier)) = task
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| matches(&r.errors, &failure.error))
        {
            let used = self.cursor.retries.get(index).copied().unwrap_or(0);
            if used < retrier.max_attempts {
                let mut retries = self.cursor.retries.clone();
                retries.resize(task.retry.len(), 0);
                retries[index] = used + 1;
                let until = self.env.now + scaled(retry_delay(retrier, used), self.env.retry_scale);
                return Ok(Outcome::Continue(Cursor {
                    retries,
                    pending: Pending::RetryAt { until },
                    ..self.cursor.clone()
                }));
            }
        }
        let Some(catcher) = task
            .catch
            .iter()
            .find(|c| matches(&c.errors, &failure.error))
        else {
            return Ok(Outcome::Failed {
                error: Some(failure.error),
                cause: Some(failure.cause),
            });
        };
        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
        // The catcher's ResultPath applies to the raw input; OutputPath does not apply.
        let output = apply_result_path(
            &self.cursor.input,
            catcher.result_path.as_ref(),
            error_output,
        )?;
        self.exited(output.clone());
        Ok(enter(
            self.definition,
            &catcher.next,
            output,
            self.env.now,
            self.events,
        ))
    }
}

/// Whether an `ErrorEquals` list matches `error`.
fn matches(errors: &[String], error: &str) -> bool {
    errors.iter().any(|name| {
        name == error || name == "States.ALL" || (name == "States.TaskFailed" && error != TIMEOUT)
    })
}

/// The delay before retry number `attempt + 1`, in (unscaled) seconds.
fn retry_delay(retrier: &Retrier, attempt: u64) -> f64 {
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    match retrier.max_delay_seconds {
        Some(max) => delay.min(max as f64),
        None => delay,
    }
}
