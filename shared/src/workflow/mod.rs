//! The deploy-test workflow as the API sees it: start, describe, stop an execution.
//! Adapters: the embedded executor (functions/local) and Step Functions (cloud, [`sfn`]).

pub mod sfn;

pub use sfn::StepFunctionsWorkflow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One history event, with Step Functions' event type names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionEvent {
    pub id: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub state: Option<String>,
    pub timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// An execution: where it is and how it got there. Same shape from both hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionView {
    pub execution_id: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED (Step Functions may also say
    /// PENDING_REDRIVE: passed through as it is).
    pub status: String,
    pub current_state: Option<String>,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// The whole history, or one page of it (`GET .../execution?limit=&cursor=&order=`).
    pub events: Vec<ExecutionEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Which page of an execution's history to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    pub limit: usize,
    /// The `next_cursor` of the previous page (decoded), or `None` for the first page.
    pub cursor: Option<String>,
    /// Newest events first.
    pub newest_first: bool,
}

/// Why the workflow engine could not do what was asked. The text is for the log: the API
/// answers a generic 500 for every one of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// This host has no workflow engine configured.
    #[error(
        "this host cannot run deploy-tests: set STATE_MACHINE_ARN (cloud) or use the local server"
    )]
    NotConfigured,
    /// The execution name is taken by an execution this start did not begin (ended, or
    /// running with other input): starting it again would run nothing.
    #[error("{0}")]
    NameTaken(String),
    /// Step Functions failed or refused the call.
    #[error("{0}")]
    Service(String),
    /// The workflow cannot be reached at all from this host: not bound yet during start-up,
    /// or its embedded executor has shut down with the local server.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The embedded executor failed (its store, a missing execution).
    #[error(transparent)]
    Executor(#[from] statemachine::ExecutorError),
}

/// Why a history page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The cursor is not one this history gave (or was given for the other order).
    #[error("the cursor is not one this history gave")]
    BadCursor,
    #[error(transparent)]
    Unavailable(#[from] WorkflowError),
}

#[async_trait]
pub trait WorkflowStarter: Send + Sync {
    /// Starts the execution named `execution_id`; starting an existing one is harmless.
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), WorkflowError>;
    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, WorkflowError>;
    /// The execution with one page of its history. The default reads the whole history
    /// and cuts the page out (cursor: the last event id seen); adapters read pages.
    async fn describe_page(
        &self,
        execution_id: &str,
        page: &HistoryRequest,
    ) -> Result<Option<ExecutionView>, HistoryError> {
        let after = parse_event_cursor(page.cursor.as_deref())?;
        let Some(mut view) = self.describe(execution_id).await? else {
            return Ok(None);
        };
        let last = view.events.iter().map(|e| e.id).max().unwrap_or(0);
        let mut events: Vec<ExecutionEvent> = std::mem::take(&mut view.events)
            .into_iter()
            .filter(|e| match (after, page.newest_first) {
                (None, _) => true,
                (Some(a), false) => e.id > a,
                (Some(a), true) => e.id < a,
            })
            .collect();
        events.sort_by_key(|e| e.id);
        if page.newest_first {
            events.reverse();
        }
        events.truncate(page.limit);
        view.next_cursor = next_event_cursor(&events, page, last);
        view.events = events;
        Ok(Some(view))
    }
    /// Aborts a running execution; a finished one is left as it is.
    async fn stop(&self, execution_id: &str, cause: &str) -> Result<(), WorkflowError>;
}

/// An event-id cursor (`"123"`): what the embedded executor's pages use.
pub fn parse_event_cursor(cursor: Option<&str>) -> Result<Option<u64>, HistoryError> {
    cursor
        .map(|c| {
            c.parse::<u64>()
                .ok()
                .filter(|n| *n > 0 && c.len() <= 20)
                .ok_or(HistoryError::BadCursor)
        })
        .transpose()
}

/// The cursor after a page of `events` in a history whose ids run 1..=`last`.
pub fn next_event_cursor(
    events: &[ExecutionEvent],
    page: &HistoryRequest,
    last: u64,
) -> Option<String> {
    let end = events.last()?.id;
    let more = if page.newest_first {
        end > 1
    } else {
        end < last
    };
    (more && events.len() == page.limit).then(|| end.to_string())
}

/// The host has no workflow engine configured: every call says so.
pub struct NoWorkflow;

#[async_trait]
impl WorkflowStarter for NoWorkflow {
    async fn start(&self, _: &str, _: Value) -> Result<(), WorkflowError> {
        Err(WorkflowError::NotConfigured)
    }
    async fn describe(&self, _: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Err(WorkflowError::NotConfigured)
    }
    async fn stop(&self, _: &str, _: &str) -> Result<(), WorkflowError> {
        Err(WorkflowError::NotConfigured)
    }
}
