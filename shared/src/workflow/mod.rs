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
    pub events: Vec<ExecutionEvent>,
}

#[async_trait]
pub trait WorkflowStarter: Send + Sync {
    /// Starts the execution named `execution_id`; starting an existing one is harmless.
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), String>;
    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, String>;
    /// Aborts a running execution; a finished one is left as it is.
    async fn stop(&self, execution_id: &str, cause: &str) -> Result<(), String>;
}

/// The host has no workflow engine configured: every call says so.
pub struct NoWorkflow;

const NO_WORKFLOW: &str =
    "this host cannot run deploy-tests: set STATE_MACHINE_ARN (cloud) or use the local server";

#[async_trait]
impl WorkflowStarter for NoWorkflow {
    async fn start(&self, _: &str, _: Value) -> Result<(), String> {
        Err(NO_WORKFLOW.into())
    }
    async fn describe(&self, _: &str) -> Result<Option<ExecutionView>, String> {
        Err(NO_WORKFLOW.into())
    }
    async fn stop(&self, _: &str, _: &str) -> Result<(), String> {
        Err(NO_WORKFLOW.into())
    }
}
