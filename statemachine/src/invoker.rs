//! What runs a Task state's `Resource`.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::TaskFailure;

/// Runs tasks. `Err(TaskFailure)` carries the ASL error name Retry/Catch match on.
/// May be called more than once for the same scheduled task (after a restart), so
/// implementations should be idempotent.
#[async_trait]
pub trait TaskInvoker: Send + Sync {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure>;
}
