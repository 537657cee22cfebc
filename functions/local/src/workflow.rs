//! The embedded deploy-test workflow: `statemachine/deploy_test.asl.json` run by the
//! embedded executor, its Task resources bound to the task functions in this process.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::tasks::{ErrorName, TaskError};
use shared::workflow::{
    ExecutionEvent, ExecutionView, HistoryError, HistoryRequest, WorkflowError, WorkflowStarter,
    next_event_cursor, parse_event_cursor,
};
use statemachine::{
    Definition, ExecutionRecord, Executor, ExecutorOptions, HistoryEvent, HistoryPage, TaskFailure,
    TaskInvoker,
};

/// The one definition, as deployed to Step Functions.
pub const DEFINITION: &str = include_str!("../../../statemachine/deploy_test.asl.json");

/// `${Var}` of the definition → the in-process resource name. Every variable the
/// definition uses must be here (a test checks it).
pub const LOCAL_RESOURCES: &[(&str, &str)] = &[
    ("DownloadFunctionArn", "local:download"),
    ("TriggerFunctionArn", "local:trigger"),
    ("PollFunctionArn", "local:poll"),
    ("FinalizeFunctionArn", "local:finalize"),
    ("NotifyFunctionArn", "local:notify"),
];

pub fn substitutions() -> HashMap<String, String> {
    LOCAL_RESOURCES
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn definition() -> Result<Definition, statemachine::DefinitionError> {
    Definition::parse(DEFINITION, &substitutions())
}

/// Calls the task functions' `handle` in-process, with the same error names Lambda gives.
pub struct LocalTasks {
    pub deps: shared::mail::NotifyDeps,
}

async fn call<I, O, F>(input: Value, f: impl FnOnce(I) -> F) -> Result<Value, TaskFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: std::future::Future<Output = Result<O, TaskError>>,
{
    let input: I = serde_json::from_value(input)
        .map_err(|e| TaskFailure::new("States.Runtime", format!("task input does not fit: {e}")))?;
    let output = f(input)
        .await
        .map_err(|e| TaskFailure::new(e.name, e.message))?;
    serde_json::to_value(output).map_err(|e| TaskFailure::new("States.Runtime", e.to_string()))
}

#[async_trait]
impl TaskInvoker for LocalTasks {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let d = &self.deps.task;
        match resource {
            "local:download" => call(input, |i| download::handle(d, i)).await,
            "local:trigger" => call(input, |i| trigger::handle(d, i)).await,
            "local:poll" => call(input, |i| poll::handle(d, i)).await,
            "local:finalize" => call(input, |i| finalize::handle(d, i)).await,
            "local:notify" => call(input, |i| shared::mail::handle(&self.deps, i)).await,
            other => Err(TaskFailure::new(
                "States.Runtime",
                format!("no local task for resource {other}"),
            )),
        }
    }
}

/// [`WorkflowStarter`] on the embedded executor.
pub struct EmbeddedWorkflow {
    pub executor: Arc<Executor>,
}

impl EmbeddedWorkflow {
    /// Builds the executor on the store, then resumes every execution a previous process
    /// left running. `time_scale` < 1 shortens waits and retry intervals (tests, demos).
    pub async fn start(deps: shared::mail::NotifyDeps, time_scale: f64) -> anyhow::Result<Self> {
        Self::start_with_clock(deps, time_scale, None).await
    }

    /// [`Self::start`] with the executor on `clock` (history timestamps, wait and retry
    /// deadlines); tests pass a simulated clock that jumps over waits.
    pub async fn start_with_clock(
        deps: shared::mail::NotifyDeps,
        time_scale: f64,
        clock: Option<Arc<dyn statemachine::Clock>>,
    ) -> anyhow::Result<Self> {
        let definition = Arc::new(definition()?);
        let problems = definition.lint();
        anyhow::ensure!(
            problems.is_empty(),
            "the deploy-test definition has problems: {problems:?}"
        );
        let store: Arc<dyn statemachine::ExecutionStore> = deps.task.state.store.clone();
        let mut options = ExecutorOptions {
            state_machine_id: "crat-deploy-test".into(),
            ..ExecutorOptions::scaled(time_scale)
        };
        if let Some(clock) = clock {
            options.clock = clock;
        }
        let executor = Arc::new(Executor::new(
            definition,
            Arc::new(LocalTasks { deps }),
            store,
            options,
        ));
        let resumed = executor.resume_all().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed running executions");
        }
        Ok(Self { executor })
    }
}

pub fn view(record: ExecutionRecord) -> ExecutionView {
    ExecutionView {
        execution_id: record.execution_id,
        status: record.status.as_str().to_owned(),
        current_state: record.current_state,
        started_at: record.started_at,
        stopped_at: record.stopped_at,
        events: record.events.into_iter().map(event).collect(),
        next_cursor: None,
    }
}

fn event(e: HistoryEvent) -> ExecutionEvent {
    ExecutionEvent {
        id: e.id,
        event_type: e.r#type,
        state: e.state,
        timestamp: e.timestamp,
        input: e.input,
        output: e.output,
        error: e.error,
        cause: e.cause,
    }
}

#[async_trait]
impl WorkflowStarter for EmbeddedWorkflow {
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), WorkflowError> {
        self.executor.start(execution_id, input).await?;
        Ok(())
    }

    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Ok(self.executor.describe(execution_id).await?.map(view))
    }

    async fn describe_page(
        &self,
        execution_id: &str,
        page: &HistoryRequest,
    ) -> Result<Option<ExecutionView>, HistoryError> {
        let after = parse_event_cursor(page.cursor.as_deref())?;
        let unavailable = |e| HistoryError::Unavailable(WorkflowError::Executor(e));
        let Some(record) = self
            .executor
            .record(execution_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let events = self
            .executor
            .history(
                execution_id,
                HistoryPage {
                    after,
                    limit: page.limit,
                    newest_first: page.newest_first,
                },
            )
            .await
            .map_err(unavailable)?;
        let last = record.event_count;
        let mut view = view(record);
        view.events = events.into_iter().map(event).collect();
        view.next_cursor = next_event_cursor(&view.events, page, last);
        Ok(Some(view))
    }

    async fn stop(&self, execution_id: &str, cause: &str) -> Result<(), WorkflowError> {
        // The caller only needs to know it stopped: no history read back.
        self.executor
            .stop_record(
                execution_id,
                Some(ErrorName::Cancelled.as_str().into()),
                Some(cause.into()),
            )
            .await?;
        Ok(())
    }
}
