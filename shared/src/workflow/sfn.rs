//! The workflow port on AWS Step Functions (`aws-sdk-sfn`): StartExecution,
//! DescribeExecution + GetExecutionHistory, StopExecution.
//!
//! One execution per run: its name is the run id, so its ARN follows from the state
//! machine's ARN ([`execution_arn`]) and nothing else has to be stored. The history is
//! mapped by a pure function ([`map_history`]) to the same [`ExecutionView`] the embedded
//! executor gives.

mod history;

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use serde_json::Value;

pub use history::{MappedHistory, map_history, to_chrono};

use super::{ExecutionView, HistoryError, HistoryRequest, WorkflowError, WorkflowStarter};
use crate::adapters::sdk_error_text;
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

    /// DescribeExecution; `None` when there is no such execution.
    async fn describe_execution(
        &self,
        arn: &str,
    ) -> Result<Option<DescribeExecutionOutput>, WorkflowError> {
        match self
            .client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error("DescribeExecution", e)),
        }
    }

    /// One GetExecutionHistory page of at most `limit` (1 to 1000) events, oldest first
    /// unless `newest_first`. A token the service does not know is a bad cursor.
    async fn history_page(
        &self,
        arn: &str,
        newest_first: bool,
        limit: usize,
        token: Option<String>,
    ) -> Result<GetExecutionHistoryOutput, HistoryError> {
        self.client
            .get_execution_history()
            .execution_arn(arn)
            .reverse_order(newest_first)
            .include_execution_data(true)
            .max_results(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_invalid_token()) {
                    HistoryError::BadCursor
                } else {
                    HistoryError::Unavailable(sdk_error("GetExecutionHistory", e))
                }
            })
    }

    /// The whole history, oldest first.
    async fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, WorkflowError> {
        let mut events = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .history_page(arn, false, 1000, next_token.take())
                .await
                .map_err(|e| match e {
                    HistoryError::Unavailable(e) => e,
                    HistoryError::BadCursor => WorkflowError::Service(
                        "Step Functions GetExecutionHistory: refused its own nextToken".into(),
                    ),
                })?;
            events.extend_from_slice(page.events());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(events),
            }
        }
    }
}

/// The view of execution `execution_id` as described in `out`.
fn view(
    execution_id: &str,
    out: &DescribeExecutionOutput,
    mapped: MappedHistory,
    next_cursor: Option<String>,
) -> ExecutionView {
    ExecutionView {
        execution_id: execution_id.to_owned(),
        status: out.status().as_str().to_owned(),
        current_state: mapped.current_state,
        started_at: to_chrono(out.start_date()),
        stopped_at: out.stop_date().map(to_chrono),
        events: mapped.events,
        next_cursor,
    }
}

/// A history page in id order (oldest first), as [`map_history`] reads it.
fn in_id_order(page: &GetExecutionHistoryOutput) -> Vec<HistoryEvent> {
    let mut events = page.events().to_vec();
    events.sort_by_key(HistoryEvent::id);
    events
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
                let existing = self.describe_execution(&arn).await?.ok_or_else(|| {
                    WorkflowError::Service(format!(
                        "Step Functions DescribeExecution: execution {execution_id} already exists but cannot be found"
                    ))
                })?;
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
        let Some(out) = self.describe_execution(&arn).await? else {
            return Ok(None);
        };
        let history = self.history(&arn).await?;
        let mapped = map_history(&history, *out.status() == ExecutionStatus::Running);
        Ok(Some(view(execution_id, &out, mapped, None)))
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
        let Some(out) = self.describe_execution(&arn).await? else {
            return Ok(None);
        };
        let running = *out.status() == ExecutionStatus::Running;
        let history = self
            .history_page(&arn, page.newest_first, page.limit, page.cursor.clone())
            .await?;
        let mut mapped = map_history(&in_id_order(&history), running);
        // The current state is where the newest events are: on this page when it is the
        // newest one, else from a short newest-first read.
        if !(page.newest_first && page.cursor.is_none()) {
            // (Without a token there is no cursor to be bad.)
            let newest = self.history_page(&arn, true, 50, None).await?;
            mapped.current_state = map_history(&in_id_order(&newest), running).current_state;
        }
        if page.newest_first {
            mapped.events.reverse();
        }
        let next_cursor = history
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Some(view(execution_id, &out, mapped, next_cursor)))
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
            Err(e) => sdk_error("StopExecution", e),
        };
        // Step Functions refuses to stop a missing or finished execution: that is already
        // the goal.
        match self.describe_execution(&arn).await {
            Ok(None) => {
                tracing::info!("no such execution: nothing to stop");
                Ok(())
            }
            Ok(Some(out)) if *out.status() != ExecutionStatus::Running => {
                tracing::info!(
                    status = out.status().as_str(),
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

/// A failed call, named by its operation.
fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> WorkflowError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    WorkflowError::Service(format!(
        "Step Functions {operation}: {}",
        sdk_error_text(err)
    ))
}
