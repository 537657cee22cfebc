//! The persisted execution: status, result, the cursor to resume from, and how many
//! history events it has. The events themselves are stored apart, append-only (one
//! row/item per event), so the record stays small however long the execution runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::HistoryEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// `RUNNING`, `SUCCEEDED`, ... (the Step Functions spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One execution, as the store keeps it (JSON, without its history).
///
/// `events` is not part of the stored record: the executor fills it with the whole
/// history in [`Executor::describe`](crate::Executor::describe), and while driving it
/// holds the events of the transition not saved yet. A record stored before history was
/// kept apart still has its events inline; they are read (and moved out by the store
/// on the next save), see [`ExecutionRecord::adopt_inline_events`].
///
/// `current_state` is the state being run while RUNNING; once finished it is the last
/// state the execution was in (the Fail state, the state that timed out or was aborted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub execution_id: String,
    pub status: ExecutionStatus,
    pub current_state: Option<String>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing)]
    pub events: Vec<HistoryEvent>,
    /// The id of the last history event (ids run 1..=event_count).
    #[serde(default)]
    pub event_count: u64,
    /// Where a RUNNING execution continues from; `None` once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
}

impl ExecutionRecord {
    pub fn is_running(&self) -> bool {
        self.status == ExecutionStatus::Running
    }

    /// A record stored with its history inline (before history was kept apart) counts
    /// those events as stored. Returns whether it had any, so a store can move them out.
    pub fn adopt_inline_events(&mut self) -> bool {
        let last = self.events.last().map_or(0, |e| e.id);
        if last > self.event_count {
            self.event_count = last;
        }
        !self.events.is_empty()
    }

    /// The event types in order (handy in tests and logs).
    pub fn event_types(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.r#type.as_str()).collect()
    }
}

/// The resume point of a running execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The state being run.
    pub state: String,
    /// The state's raw input (before InputPath).
    pub input: Value,
    pub entered_at: DateTime<Utc>,
    /// Attempts used per retrier of a Task state, by retrier index.
    #[serde(default)]
    pub retries: Vec<u64>,
    /// What the runner must do next.
    pub pending: Pending,
}

impl Cursor {
    pub(crate) fn enter(state: &str, input: Value, entered_at: DateTime<Utc>) -> Cursor {
        Cursor {
            state: state.to_string(),
            input,
            entered_at,
            retries: Vec::new(),
            pending: Pending::Run,
        }
    }

    /// `$$.State.RetryCount`: retries so far in this state.
    pub fn retry_count(&self) -> u64 {
        self.retries.iter().sum()
    }
}

/// The effect a running execution is waiting on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Pending {
    /// The state was entered; its work has not started.
    Run,
    /// A task was scheduled with this input; invoke it (again, after a restart).
    Invoke { resource: String, input: Value },
    /// A failed task waits for its retry until this time.
    RetryAt { until: DateTime<Utc> },
    /// A Wait state waits until this time.
    WaitUntil { until: DateTime<Utc> },
}
