//! Step Functions history events mapped to the execution view's events: a pure function,
//! so the mapping is tested on hand-built histories without a service.

use aws_sdk_sfn::primitives::DateTime as SdkDateTime;
use aws_sdk_sfn::types::HistoryEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::workflow::ExecutionEvent;

/// A Step Functions history, as the execution view gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedHistory {
    pub events: Vec<ExecutionEvent>,
    /// While running: the innermost state entered and not yet exited (else the last one
    /// entered). Once finished: the last state entered.
    pub current_state: Option<String>,
}

/// Maps a history (oldest first) to execution events and the current state.
///
/// Event types keep their Step Functions names. `state` is the state's name on
/// `*StateEntered`/`*StateExited` (and `EvaluationFailed`, Map iterations); the other
/// events inside a state (`TaskScheduled`, `TaskSucceeded`, `TaskFailed`,
/// `LambdaFunction*`, ...) get the state they happened in, as the embedded executor
/// records them; `Execution*` events have none. JSON strings in the details are parsed
/// (a string that is not JSON is kept as a JSON string); empty error/cause are absent.
pub fn map_history(history: &[HistoryEvent], running: bool) -> MappedHistory {
    let mut open: Vec<String> = Vec::new();
    let mut last_entered: Option<String> = None;
    let mut events = Vec::with_capacity(history.len());
    // For a page that starts inside a state: where the event it follows happened.
    let mut state_of: std::collections::HashMap<i64, Option<String>> =
        std::collections::HashMap::new();
    for event in history {
        let d = details(event);
        let state = match d.place {
            Place::Entered(name) => {
                open.push(name.to_owned());
                last_entered = Some(name.to_owned());
                Some(name.to_owned())
            }
            Place::Exited(name) => {
                if let Some(i) = open.iter().rposition(|s| s == name) {
                    open.remove(i);
                }
                Some(name.to_owned())
            }
            Place::Named(name) => Some(name.to_owned()),
            Place::Execution => None,
            Place::Inside => open
                .last()
                .cloned()
                .or_else(|| state_of.get(&event.previous_event_id()).cloned().flatten()),
        };
        state_of.insert(event.id(), state.clone());
        events.push(ExecutionEvent {
            id: u64::try_from(event.id()).unwrap_or_default(),
            event_type: event.r#type().as_str().to_owned(),
            state,
            timestamp: to_chrono(event.timestamp()),
            input: d.input.map(parse_json),
            output: d.output.map(parse_json),
            error: non_empty(d.error),
            cause: non_empty(d.cause),
        });
    }
    let current_state = if running {
        open.pop().or(last_entered)
    } else {
        last_entered
    };
    MappedHistory {
        events,
        current_state,
    }
}

/// Where an event happened.
enum Place<'a> {
    Entered(&'a str),
    Exited(&'a str),
    /// The event names its state itself.
    Named(&'a str),
    /// An execution-level event.
    Execution,
    /// Inside whatever state is open.
    Inside,
}

struct Details<'a> {
    place: Place<'a>,
    input: Option<&'a str>,
    output: Option<&'a str>,
    error: Option<&'a str>,
    cause: Option<&'a str>,
}

impl<'a> Details<'a> {
    fn at(place: Place<'a>) -> Self {
        Self {
            place,
            input: None,
            output: None,
            error: None,
            cause: None,
        }
    }
    fn input(mut self, input: Option<&'a str>) -> Self {
        self.input = input;
        self
    }
    fn output(mut self, output: Option<&'a str>) -> Self {
        self.output = output;
        self
    }
    fn failure(mut self, error: Option<&'a str>, cause: Option<&'a str>) -> Self {
        self.error = error;
        self.cause = cause;
        self
    }
}

/// The details member that is set decides; an event with none (e.g. `TaskStarted`,
/// `WaitStateAborted`) is placed by its type.
fn details(e: &HistoryEvent) -> Details<'_> {
    use Place::{Entered, Execution, Exited, Inside, Named};
    if let Some(d) = e.state_entered_event_details() {
        return Details::at(Entered(d.name())).input(d.input());
    }
    if let Some(d) = e.state_exited_event_details() {
        return Details::at(Exited(d.name())).output(d.output());
    }
    if let Some(d) = e.execution_started_event_details() {
        return Details::at(Execution).input(d.input());
    }
    if let Some(d) = e.execution_succeeded_event_details() {
        return Details::at(Execution).output(d.output());
    }
    if let Some(d) = e.execution_failed_event_details() {
        return Details::at(Execution).failure(d.error(), d.cause());
    }
    if let Some(d) = e.execution_aborted_event_details() {
        return Details::at(Execution).failure(d.error(), d.cause());
    }
    if let Some(d) = e.execution_timed_out_event_details() {
        return Details::at(Execution).failure(d.error(), d.cause());
    }
    if let Some(d) = e.task_scheduled_event_details() {
        // The rendered Parameters: what the task is given.
        return Details::at(Inside).input(Some(d.parameters()));
    }
    if let Some(d) = e.task_succeeded_event_details() {
        return Details::at(Inside).output(d.output());
    }
    if let Some(d) = e.task_submitted_event_details() {
        return Details::at(Inside).output(d.output());
    }
    if let Some(d) = e.task_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.task_timed_out_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.task_start_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.task_submit_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_scheduled_event_details() {
        return Details::at(Inside).input(d.input());
    }
    if let Some(d) = e.lambda_function_succeeded_event_details() {
        return Details::at(Inside).output(d.output());
    }
    if let Some(d) = e.lambda_function_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_timed_out_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_start_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.lambda_function_schedule_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.activity_scheduled_event_details() {
        return Details::at(Inside).input(d.input());
    }
    if let Some(d) = e.activity_succeeded_event_details() {
        return Details::at(Inside).output(d.output());
    }
    if let Some(d) = e.activity_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.activity_timed_out_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.activity_schedule_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.map_run_failed_event_details() {
        return Details::at(Inside).failure(d.error(), d.cause());
    }
    if let Some(d) = e.evaluation_failed_event_details() {
        let place = if d.state().is_empty() {
            Inside
        } else {
            Named(d.state())
        };
        return Details::at(place).failure(d.error(), d.cause());
    }
    let iteration = e
        .map_iteration_started_event_details()
        .or(e.map_iteration_succeeded_event_details())
        .or(e.map_iteration_failed_event_details())
        .or(e.map_iteration_aborted_event_details());
    if let Some(name) = iteration.and_then(|d| d.name()) {
        return Details::at(Named(name));
    }
    if e.r#type().as_str().starts_with("Execution") {
        Details::at(Execution)
    } else {
        Details::at(Inside)
    }
}

/// A JSON document from a history event; text that is not JSON stays text.
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.filter(|t| !t.is_empty()).map(str::to_owned)
}

/// Smithy's timestamp as chrono's (out-of-range values, which Step Functions never
/// sends, become the epoch).
pub fn to_chrono(t: &SdkDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}
