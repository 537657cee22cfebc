//! The pure decision: given the definition, an execution's cursor and the result of the
//! effect it was waiting on, what happens next (events + the next cursor or the end).
//! No I/O and no clock: the runner passes `now` in and performs the effects.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::definition::Definition;
use crate::error::TaskFailure;
use crate::history::NewEvent;
use crate::path::{Path, apply_result_path, select};
use crate::record::{Cursor, ExecutionRecord, ExecutionStatus, Pending};
use crate::state::{FailState, Kind, State, Transition, WaitFor};
use crate::{choice, state};

mod task;

pub(crate) const RUNTIME: &str = "States.Runtime";
pub(crate) const TIMEOUT: &str = "States.Timeout";

/// What the step needs besides the definition and the record.
pub(crate) struct StepEnv<'a> {
    pub(crate) now: DateTime<Utc>,
    pub(crate) wait_scale: f64,
    pub(crate) retry_scale: f64,
    pub(crate) state_machine_id: &'a str,
}

/// The result of the effect the cursor was waiting on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Nothing to report: run a freshly entered state, or a wait/retry delay is over.
    Proceed,
    /// The scheduled task finished.
    TaskDone(Result<Value, TaskFailure>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Continue(Cursor),
    Succeeded(Value),
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
    TimedOut {
        error: String,
        cause: String,
    },
    Aborted {
        error: Option<String>,
        cause: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub(crate) events: Vec<NewEvent>,
    pub(crate) outcome: Outcome,
}

/// A new RUNNING record: `ExecutionStarted`, then StartAt entered.
pub(crate) fn start(
    definition: &Definition,
    execution_id: &str,
    input: Value,
    now: DateTime<Utc>,
) -> ExecutionRecord {
    let mut record = ExecutionRecord {
        execution_id: execution_id.to_string(),
        status: ExecutionStatus::Running,
        current_state: None,
        input: input.clone(),
        output: None,
        error: None,
        cause: None,
        started_at: now,
        stopped_at: None,
        events: Vec::new(),
        event_count: 0,
        cursor: None,
    };
    let mut events = vec![NewEvent::new("ExecutionStarted").input(input.clone())];
    let outcome = enter(definition, &definition.start_at, input, now, &mut events);
    apply(&mut record, finish(events, outcome), now);
    record
}

/// Decides what follows `effect` for a RUNNING record.
pub(crate) fn step(
    definition: &Definition,
    record: &ExecutionRecord,
    effect: Effect,
    env: &StepEnv,
) -> Step {
    let mut events = Vec::new();
    let outcome = match &record.cursor {
        None => Err("the execution has no cursor to continue from".to_string()),
        Some(cursor) => match definition.state(&cursor.state) {
            None => Err(format!("state '{}' does not exist", cursor.state)),
            Some(state) => {
                let context = context(record, cursor, env);
                Run {
                    definition,
                    state,
                    cursor,
                    context: &context,
                    env,
                    events: &mut events,
                }
                .effect(effect)
            }
        },
    };
    let outcome = outcome.unwrap_or_else(|cause| Outcome::Failed {
        error: Some(RUNTIME.to_string()),
        cause: Some(cause),
    });
    finish(events, outcome)
}

/// The machine's TimeoutSeconds passed.
pub(crate) fn time_out(definition: &Definition) -> Step {
    let cause = format!(
        "the execution ran longer than its TimeoutSeconds ({})",
        definition.timeout_seconds.unwrap_or_default()
    );
    Step {
        events: vec![NewEvent::new("ExecutionTimedOut").failure(TIMEOUT, &cause)],
        outcome: Outcome::TimedOut {
            error: TIMEOUT.to_string(),
            cause,
        },
    }
}

/// A stop request.
pub(crate) fn abort(error: Option<String>, cause: Option<String>) -> Step {
    let mut event = NewEvent::new("ExecutionAborted");
    event.error = error.clone();
    event.cause = cause.clone();
    Step {
        events: vec![event],
        outcome: Outcome::Aborted { error, cause },
    }
}

/// Records the step's events (numbered after the last one) and its outcome.
pub(crate) fn apply(record: &mut ExecutionRecord, step: Step, now: DateTime<Utc>) {
    for event in step.events {
        record.event_count += 1;
        record.events.push(event.record(record.event_count, now));
    }
    let stop = |record: &mut ExecutionRecord, status, error, cause| {
        record.status = status;
        record.error = error;
        record.cause = cause;
        record.stopped_at = Some(now);
        record.cursor = None;
    };
    match step.outcome {
        Outcome::Continue(cursor) => {
            record.current_state = Some(cursor.state.clone());
            record.cursor = Some(cursor);
        }
        Outcome::Succeeded(output) => {
            record.output = Some(output);
            stop(record, ExecutionStatus::Succeeded, None, None);
        }
        Outcome::Failed { error, cause } => stop(record, ExecutionStatus::Failed, error, cause),
        Outcome::TimedOut { error, cause } => {
            stop(record, ExecutionStatus::TimedOut, Some(error), Some(cause))
        }
        Outcome::Aborted { error, cause } => stop(record, ExecutionStatus::Aborted, error, cause),
    }
}

/// The Task TimeoutSeconds of the state the cursor is in, if it is a Task with one.
pub(crate) fn task_timeout(definition: &Definition, cursor: &Cursor) -> Option<u64> {
    match &definition.state(&cursor.state)?.kind {
        Kind::Task(task) => task.timeout_seconds,
        _ => None,
    }
}

/// Adds the execution-level event for a terminal outcome.
fn finish(mut events: Vec<NewEvent>, outcome: Outcome) -> Step {
    match &outcome {
        Outcome::Succeeded(output) => {
            events.push(NewEvent::new("ExecutionSucceeded").output(output.clone()))
        }
        Outcome::Failed { error, cause } => {
            let mut event = NewEvent::new("ExecutionFailed");
            event.error = error.clone();
            event.cause = cause.clone();
            events.push(event);
        }
        _ => {}
    }
    Step { events, outcome }
}

/// The context object (`$$`).
fn context(record: &ExecutionRecord, cursor: &Cursor, env: &StepEnv) -> Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "Execution": {
            "Id": record.execution_id,
            "Name": record.execution_id,
            "Input": record.input,
            "StartTime": time(record.started_at),
        },
        "State": {
            "Name": cursor.state,
            "EnteredTime": time(cursor.entered_at),
            "RetryCount": cursor.retry_count(),
        },
        "StateMachine": { "Id": env.state_machine_id, "Name": env.state_machine_id },
    })
}

/// Enters `name` with `input`: its `<Type>StateEntered` event and a fresh cursor.
fn enter(
    definition: &Definition,
    name: &str,
    input: Value,
    now: DateTime<Utc>,
    events: &mut Vec<NewEvent>,
) -> Outcome {
    let Some(state) = definition.state(name) else {
        return Outcome::Failed {
            error: Some(RUNTIME.to_string()),
            cause: Some(format!("state '{name}' does not exist")),
        };
    };
    events.push(
        NewEvent::new(format!("{}StateEntered", state.type_name()))
            .state(name)
            .input(input.clone()),
    );
    Outcome::Continue(Cursor::enter(name, input, now))
}

fn scaled(seconds: f64, scale: f64) -> TimeDelta {
    TimeDelta::milliseconds((seconds * scale * 1000.0).round().max(0.0) as i64)
}

/// One step inside one state.
struct Run<'a> {
    definition: &'a Definition,
    state: &'a State,
    cursor: &'a Cursor,
    context: &'a Value,
    env: &'a StepEnv<'a>,
    events: &'a mut Vec<NewEvent>,
}

type Decided = Result<Outcome, String>;

impl Run<'_> {
    fn effect(mut self, effect: Effect) -> Decided {
        match (&self.state.kind, &self.cursor.pending, effect) {
            (Kind::Task(task), Pending::Run | Pending::RetryAt { .. }, Effect::Proceed) => {
                self.schedule(task)
            }
            (Kind::Task(task), Pending::Invoke { resource, .. }, Effect::TaskDone(result)) => {
                match result {
                    Ok(result) => self.task_succeeded(task, resource, result),
                    Err(failure) => self.task_failed(task, resource, failure),
                }
            }
            (Kind::Wait { wait, .. }, Pending::Run, Effect::Proceed) => self.start_wait(wait),
            (Kind::Wait { transition, .. }, Pending::WaitUntil { .. }, Effect::Proceed) => {
                let output = select(
                    self.state.io.output.as_ref(),
                    &self.effective_input()?,
                    self.context,
                )?;
                Ok(self.leave(transition, output))
            }
            (Kind::Choice { choices, default }, Pending::Run, Effect::Proceed) => {
                self.choose(choices, default.as_deref())
            }
            (Kind::Pass(pass), Pending::Run, Effect::Proceed) => {
                let input = self.effective_input()?;
                let result = match (&pass.result, &pass.parameters) {
                    (Some(result), _) => result.clone(),
                    (None, Some(parameters)) => parameters.render(&input, self.context)?,
                    (None, None) => input,
                };
                let output = self.output(pass.result_path.as_ref(), result)?;
                Ok(self.leave(&pass.transition, output))
            }
            (Kind::Succeed, Pending::Run, Effect::Proceed) => {
                let output = select(
                    self.state.io.output.as_ref(),
                    &self.effective_input()?,
                    self.context,
                )?;
                self.exited(output.clone());
                Ok(Outcome::Succeeded(output))
            }
            (Kind::Fail(fail), Pending::Run, Effect::Proceed) => self.fail(fail),
            (_, pending, effect) => Err(format!(
                "internal: {} state '{}' cannot take {effect:?} while {pending:?}",
                self.state.type_name(),
                self.cursor.state
            )),
        }
    }

    fn effective_input(&self) -> Result<Value, String> {
        select(
            self.state.io.input.as_ref(),
            &self.cursor.input,
            self.context,
        )
    }

    /// ResultPath into the raw input, then OutputPath.
    fn output(&self, result_path: Option<&Path>, result: Value) -> Result<Value, String> {
        let combined = apply_result_path(&self.cursor.input, result_path, result)?;
        select(self.state.io.output.as_ref(), &combined, self.context)
    }

    fn exited(&mut self, output: Value) {
        let event = NewEvent::new(format!("{}StateExited", self.state.type_name()));
        self.events
            .push(event.state(&self.cursor.state).output(output));
    }

    /// `<Type>StateExited`, then the next state or the end of the execution.
    fn leave(mut self, transition: &Transition, output: Value) -> Outcome {
        self.exited(output.clone());
        match transition {
            Transition::End => Outcome::Succeeded(output),
            Transition::Next(next) => {
                enter(self.definition, next, output, self.env.now, self.events)
            }
        }
    }

    fn start_wait(self, wait: &WaitFor) -> Decided {
        let input = self.effective_input()?;
        let now = self.env.now;
        let seconds = match wait {
            WaitFor::Seconds(seconds) => *seconds as f64,
            WaitFor::SecondsPath(path) => {
                let value = path.require(&input, self.context)?;
                value.as_u64().ok_or_else(|| {
                    format!(
                        "SecondsPath '{}' is {value}, not a non-negative integer",
                        path.text()
                    )
                })? as f64
            }
            WaitFor::Timestamp(at) => seconds_until(now, *at),
            WaitFor::TimestampPath(path) => {
                let value = path.require(&input, self.context)?;
                let at = value
                    .as_str()
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .ok_or_else(|| {
                        format!(
                            "TimestampPath '{}' is {value}, not an RFC 3339 timestamp",
                            path.text()
                        )
                    })?;
                seconds_until(now, at.with_timezone(&Utc))
            }
        };
        let until = now + scaled(seconds, self.env.wait_scale);
        Ok(Outcome::Continue(Cursor {
            pending: Pending::WaitUntil { until },
            ..self.cursor.clone()
        }))
    }

    fn choose(self, choices: &[state::ChoiceBranch], default: Option<&str>) -> Decided {
        let input = self.effective_input()?;
        let mut next = None;
        for branch in choices {
            if choice::evaluate(&branch.rule, &input, self.context)? {
                next = Some(branch.next.as_str());
                break;
            }
        }
        let Some(next) = next.or(default) else {
            return Ok(Outcome::Failed {
                error: Some("States.NoChoiceMatched".to_string()),
                cause: Some(format!(
                    "no choice rule of '{}' matched and it has no Default",
                    self.cursor.state
                )),
            });
        };
        let output = select(self.state.io.output.as_ref(), &input, self.context)?;
        Ok(self.leave(&Transition::Next(next.to_string()), output))
    }

    fn fail(self, fail: &FailState) -> Decided {
        let from_path = |path: &Option<Path>, field: &str| -> Result<Option<String>, String> {
            let Some(path) = path else { return Ok(None) };
            match path.require(&self.cursor.input, self.context)? {
                Value::String(text) => Ok(Some(text.clone())),
                other => Err(format!(
                    "{field} '{}' is {other}, not a string",
                    path.text()
                )),
            }
        };
        let error = fail
            .error
            .clone()
            .or(from_path(&fail.error_path, "ErrorPath")?);
        let cause = fail
            .cause
            .clone()
            .or(from_path(&fail.cause_path, "CausePath")?);
        Ok(Outcome::Failed { error, cause })
    }
}

fn seconds_until(now: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    ((at - now).num_milliseconds().max(0) as f64) / 1000.0
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
