//! The embedded deploy-test workflow: `statemachine/deploy_test.asl.json` run by the
//! embedded executor, its Task resources bound to the task functions in this process.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::Deps;
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

/// A task run in-process: the state's input in, its output (or failure) out.
pub type TaskFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, TaskFailure>> + Send + 'a>>;
pub type TaskFn = for<'a> fn(&'a Deps, Value) -> TaskFuture<'a>;

/// One Task resource of the definition, bound to the function that runs it here.
pub struct LocalTask {
    /// The `${Var}` the definition uses (the SAM template binds it to a function ARN).
    pub variable: &'static str,
    /// What the variable becomes locally: the resource name the executor invokes.
    pub resource: &'static str,
    pub run: TaskFn,
}

/// A [`TaskFn`] that calls `handler(deps, input)` with [`call`]'s typing of input and output.
macro_rules! task_fn {
    ($handler:path) => {{
        fn run(deps: &Deps, input: Value) -> TaskFuture<'_> {
            Box::pin(call(input, move |i| $handler(deps, i)))
        }
        run as TaskFn
    }};
}

/// The embedded executor's tasks: the substitutions and the dispatch both come from here.
/// Every variable the definition uses must be here (a test checks it).
pub const LOCAL_TASKS: &[LocalTask] = &[
    LocalTask {
        variable: "DownloadFunctionArn",
        resource: "local:download",
        run: task_fn!(download::handle),
    },
    LocalTask {
        variable: "TriggerFunctionArn",
        resource: "local:trigger",
        run: task_fn!(trigger::handle),
    },
    LocalTask {
        variable: "PollFunctionArn",
        resource: "local:poll",
        run: task_fn!(poll::handle),
    },
    LocalTask {
        variable: "FinalizeFunctionArn",
        resource: "local:finalize",
        run: task_fn!(finalize::handle),
    },
    LocalTask {
        variable: "NotifyFunctionArn",
        resource: "local:notify",
        run: task_fn!(shared::mail::handle_part),
    },
];

pub fn substitutions() -> HashMap<String, String> {
    LOCAL_TASKS
        .iter()
        .map(|t| (t.variable.to_owned(), t.resource.to_owned()))
        .collect()
}

pub fn definition() -> Result<Definition, statemachine::DefinitionError> {
    Definition::parse(DEFINITION, &substitutions())
}

/// Calls the task functions' `handle` in-process, with the same error names Lambda gives.
pub struct LocalTasks {
    pub deps: Deps,
}

async fn call<I, O, F>(input: Value, f: impl FnOnce(I) -> F) -> Result<Value, TaskFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Future<Output = Result<O, TaskError>>,
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
        match LOCAL_TASKS.iter().find(|t| t.resource == resource) {
            Some(task) => (task.run)(&self.deps, input).await,
            None => Err(TaskFailure::new(
                "States.Runtime",
                format!("no local task for resource {resource}"),
            )),
        }
    }
}

/// Builds the executor on `deps`' store, its tasks on `deps` (not yet resumed: the host
/// binds the workflow first). The time scale is `CRAT_TIME_SCALE`; `clock` replaces the
/// system clock for history timestamps and wait and retry deadlines (tests: a simulated
/// clock that jumps over waits).
pub fn start_executor(
    deps: Deps,
    clock: Option<Arc<dyn statemachine::Clock>>,
) -> anyhow::Result<Arc<Executor>> {
    let definition = Arc::new(definition()?);
    let problems = definition.lint();
    anyhow::ensure!(
        problems.is_empty(),
        "the deploy-test definition has problems: {problems:?}"
    );
    let store: Arc<dyn statemachine::ExecutionStore> = deps.store.clone();
    let mut options = ExecutorOptions {
        state_machine_id: "crat-deploy-test".into(),
        ..ExecutorOptions::scaled(deps.config.time_scale)
    };
    if let Some(clock) = clock {
        options.clock = clock;
    }
    Ok(Arc::new(Executor::new(
        definition,
        Arc::new(LocalTasks { deps }),
        store,
        options,
    )))
}

/// [`WorkflowStarter`] on the embedded executor, through a weak handle (the host owns the
/// executor, see `Local`): once the host is gone, calls fail with [`EXECUTOR_GONE`].
pub struct EmbeddedWorkflow {
    executor: Weak<Executor>,
}

pub const EXECUTOR_GONE: &str = "the embedded executor has shut down with its local server";

impl EmbeddedWorkflow {
    pub fn new(executor: &Arc<Executor>) -> Self {
        Self {
            executor: Arc::downgrade(executor),
        }
    }

    fn executor(&self) -> Result<Arc<Executor>, WorkflowError> {
        self.executor
            .upgrade()
            .ok_or(WorkflowError::Unavailable(EXECUTOR_GONE))
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
        self.executor()?.start(execution_id, input).await?;
        Ok(())
    }

    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Ok(self.executor()?.describe(execution_id).await?.map(view))
    }

    async fn describe_page(
        &self,
        execution_id: &str,
        page: &HistoryRequest,
    ) -> Result<Option<ExecutionView>, HistoryError> {
        let after = parse_event_cursor(page.cursor.as_deref())?;
        let unavailable = |e| HistoryError::Unavailable(WorkflowError::Executor(e));
        let executor = self.executor().map_err(HistoryError::Unavailable)?;
        let Some(record) = executor.record(execution_id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let events = executor
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
        self.executor()?
            .stop_record(
                execution_id,
                Some(ErrorName::Cancelled.as_str().into()),
                Some(cause.into()),
            )
            .await?;
        Ok(())
    }
}
