//! History events, shaped like Step Functions' `GetExecutionHistory`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event. JSON: `{id, type, state?, resource?, timestamp, input?, output?, error?, cause?}`.
/// `type` uses the Step Functions names (`TaskStateEntered`, `TaskScheduled`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: u64,
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The Task `Resource`, on `TaskScheduled` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// An event the pure step decided on; the id and timestamp are added when it is recorded.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NewEvent {
    pub(crate) r#type: String,
    pub(crate) state: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) input: Option<Value>,
    pub(crate) output: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
}

impl NewEvent {
    pub(crate) fn new(r#type: impl Into<String>) -> Self {
        NewEvent {
            r#type: r#type.into(),
            ..NewEvent::default()
        }
    }

    pub(crate) fn state(mut self, state: &str) -> Self {
        self.state = Some(state.to_string());
        self
    }

    pub(crate) fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_string());
        self
    }

    pub(crate) fn input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    pub(crate) fn output(mut self, output: Value) -> Self {
        self.output = Some(output);
        self
    }

    pub(crate) fn failure(mut self, error: &str, cause: &str) -> Self {
        self.error = Some(error.to_string());
        self.cause = Some(cause.to_string());
        self
    }

    pub(crate) fn record(self, id: u64, timestamp: DateTime<Utc>) -> HistoryEvent {
        HistoryEvent {
            id,
            r#type: self.r#type,
            state: self.state,
            resource: self.resource,
            timestamp,
            input: self.input,
            output: self.output,
            error: self.error,
            cause: self.cause,
        }
    }
}
