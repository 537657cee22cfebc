//! The workflow port on AWS Step Functions (`aws-sdk-sfn`): StartExecution,
//! DescribeExecution + GetExecutionHistory, StopExecution.
//!
//! One execution per run: its name is the run id, so its ARN follows from the state
//! machine's ARN ([`execution_arn`]) and nothing else has to be stored. The history is
//! mapped by a pure function ([`map_history`]) to the same [`ExecutionView`] the embedded
//! executor gives.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, SdkError};
use aws_sdk_sfn::primitives::DateTime as SdkDateTime;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    ExecutionEvent, ExecutionView, HistoryError, HistoryRequest, WorkflowError, WorkflowStarter,
};
use crate::config::ConfigError;

const STATE_MACHINE_ARN_VAR: &str = "STATE_MACHINE_ARN";

/// Runs deploy-tests as executions of one Step Functions state machine.
pub struct StepFunctionsWorkflow {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsWorkflow {
    /// An adapter on `state_machine_arn` (`arn:<partition>:states:<region>:<account>:stateMachine:<name>`,
    /// optionally `:<version or alias>`); anything else is a configuration error naming
    /// `STATE_MACHINE_ARN`.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Result<Self, ConfigError> {
        let state_machine_arn = state_machine_arn.into();
        execution_arn(&state_machine_arn, "x").map_err(|message| ConfigError {
            var: STATE_MACHINE_ARN_VAR,
            message,
        })?;
        Ok(Self {
            client,
            state_machine_arn,
        })
    }

    /// The adapter with a client configured from the environment (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, credentials chain). Build it once per process.
    pub async fn from_env(state_machine_arn: &str) -> Result<Self, ConfigError> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config), state_machine_arn)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }

    /// The ARN of the execution named `execution_id` of this state machine.
    pub fn execution_arn(&self, execution_id: &str) -> Result<String, WorkflowError> {
        execution_arn(&self.state_machine_arn, execution_id).map_err(WorkflowError::Service)
    }

    async fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, WorkflowError> {
        let mut events = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_execution_history()
                .execution_arn(arn)
                .reverse_order(false)
                .include_execution_data(true)
                .max_results(1000)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| sdk_error("GetExecutionHistory", e))?;
            events.extend_from_slice(page.events());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(events),
            }
        }
    }

    async fn status(&self, arn: &str) -> Result<Option<ExecutionStatus>, WorkflowError> {
        match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.status().clone())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("DescribeExecution", e)),
        }
    }
}

#[async_trait]
impl WorkflowStarter for StepFunctionsWorkflow {
    #[tracing::instrument(skip_all, fields(execution_id = execution_id))]
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), WorkflowError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(execution_id)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::info!(execution_arn = out.execution_arn(), "execution started");
                Ok(())
            }
            // The name is taken. Started only if that execution is ours: RUNNING with the same
            // input (a retried start). A finished one, or one with other input, runs nothing
            // for this start.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                let arn = self.execution_arn(execution_id)?;
                let existing = self
                    .client
                    .describe_execution()
                    .execution_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error("DescribeExecution", e))?;
                let same_input = existing
                    .input()
                    .and_then(|i| serde_json::from_str::<Value>(i).ok())
                    .is_some_and(|i| i == input);
                match (existing.status(), same_input) {
                    (ExecutionStatus::Running, true) => {
                        tracing::info!("execution already running with this input: started");
                        Ok(())
                    }
                    (ExecutionStatus::Running, false) => Err(WorkflowError::NameTaken(format!(
                        "StartExecution: execution {execution_id} already exists, running with other input"
                    ))),
                    (status, _) => Err(WorkflowError::NameTaken(format!(
                        "StartExecution: execution {execution_id} already exists and has ended ({})",
                        status.as_str()
                    ))),
                }
            }
            Err(e) => Err(sdk_error("StartExecution", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(execution_id = execution_id))]
    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        let arn = self.execution_arn(execution_id)?;
        let out = match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(sdk_error("DescribeExecution", e)),
        };
        let status = out.status();
        let history = self.history(&arn).await?;
        let mapped = map_history(&history, *status == ExecutionStatus::Running);
        Ok(Some(ExecutionView {
            execution_id: execution_id.to_owned(),
            status: status.as_str().to_owned(),
            current_state: mapped.current_state,
            started_at: to_chrono(out.start_date()),
            stopped_at: out.stop_date().map(to_chrono),
            events: mapped.events,
            next_cursor: None,
        }))
    }

    /// One GetExecutionHistory page (`maxResults` = limit, `nextToken` = cursor,
    /// `reverseOrder` for newest first). An expired or foreign token is a bad cursor.
    #[tracing::instrument(skip_all, fields(execution_id = execution_id))]
    async fn describe_page(
        &self,
        execution_id: &str,
        page: &HistoryRequest,
    ) -> Result<Option<ExecutionView>, HistoryError> {
        let arn = self.execution_arn(execution_id)?;
        let out = match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(HistoryError::Unavailable(sdk_error("DescribeExecution", e))),
        };
        let running = *out.status() == ExecutionStatus::Running;
        let read = |reverse: bool, limit: usize, token: Option<String>| {
            self.client
                .get_execution_history()
                .execution_arn(&arn)
                .reverse_order(reverse)
                .include_execution_data(true)
                .max_results(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                .set_next_token(token)
                .send()
        };
        let result = read(page.newest_first, page.limit, page.cursor.clone()).await;
        let history = match result {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_token()) => {
                return Err(HistoryError::BadCursor);
            }
            Err(e) => {
                return Err(HistoryError::Unavailable(sdk_error(
                    "GetExecutionHistory",
                    e,
                )));
            }
        };
        let mut events = history.events().to_vec();
        events.sort_by_key(HistoryEvent::id);
        let mapped = map_history(&events, running);
        // The current state is where the newest events are: on this page when it is the
        // newest one, else from a short newest-first read.
        let current_state = if page.newest_first && page.cursor.is_none() {
            mapped.current_state
        } else {
            let newest = read(true, 50, None)
                .await
                .map_err(|e| HistoryError::Unavailable(sdk_error("GetExecutionHistory", e)))?;
            let mut recent = newest.events().to_vec();
            recent.sort_by_key(HistoryEvent::id);
            map_history(&recent, running).current_state
        };
        let mut page_events = mapped.events;
        if page.newest_first {
            page_events.reverse();
        }
        Ok(Some(ExecutionView {
            execution_id: execution_id.to_owned(),
            status: out.status().as_str().to_owned(),
            current_state,
            started_at: to_chrono(out.start_date()),
            stopped_at: out.stop_date().map(to_chrono),
            events: page_events,
            next_cursor: history
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        }))
    }

    #[tracing::instrument(skip_all, fields(execution_id = execution_id))]
    async fn stop(&self, execution_id: &str, cause: &str) -> Result<(), WorkflowError> {
        let arn = self.execution_arn(execution_id)?;
        let result = self
            .client
            .stop_execution()
            .execution_arn(&arn)
            .error(crate::tasks::ErrorName::Cancelled)
            .cause(cause)
            .send()
            .await;
        let err = match result {
            Ok(_) => {
                tracing::info!("execution stopped");
                return Ok(());
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                tracing::info!("no such execution: nothing to stop");
                return Ok(());
            }
            Err(e) => sdk_error("StopExecution", e),
        };
        // Step Functions refuses to stop a finished execution: that is already the goal.
        match self.status(&arn).await {
            Ok(None) => {
                tracing::info!("no such execution: nothing to stop");
                Ok(())
            }
            Ok(Some(status)) if status != ExecutionStatus::Running => {
                tracing::info!(
                    status = status.as_str(),
                    "execution already finished: left as it is"
                );
                Ok(())
            }
            _ => Err(err),
        }
    }
}

/// `arn:<partition>:states:<region>:<account>:stateMachine:<name>[:<version or alias>]`
/// → `arn:<partition>:states:<region>:<account>:execution:<name>:<execution_id>`.
pub fn execution_arn(state_machine_arn: &str, execution_id: &str) -> Result<String, String> {
    let parts: Vec<&str> = state_machine_arn.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            partition,
            "states",
            region,
            account,
            "stateMachine",
            name,
            rest @ ..,
        ] if rest.len() <= 1
            && [partition, region, account, name]
                .iter()
                .all(|p| !p.is_empty())
            && rest.iter().all(|p| !p.is_empty()) =>
        {
            Ok(format!(
                "arn:{partition}:states:{region}:{account}:execution:{name}:{execution_id}"
            ))
        }
        _ => Err(format!(
            "not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>): {state_machine_arn:?}"
        )),
    }
}

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

/// The SDK's error chain: for a service error its code and message (not the raw HTTP
/// response the whole `SdkError` would print), else the dispatch/timeout/parse chain.
fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> WorkflowError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match err {
        SdkError::ServiceError(context) => DisplayErrorContext(context.into_err()).to_string(),
        other => DisplayErrorContext(other).to_string(),
    };
    WorkflowError::Service(format!("Step Functions {operation}: {detail}"))
}
