//! Where executions are kept, and an in-memory store for tests and examples.
//!
//! An execution is two things in a store: the record (status, cursor, `event_count`;
//! small and rewritten on every transition) and its history, append-only, one entry per
//! event keyed by `(execution_id, event id)`. Rewriting the history on every transition
//! would grow each save with the square of the run's length and break item size caps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::history::HistoryEvent;
use crate::record::ExecutionRecord;

/// Which events of an execution's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage {
    /// Only events after this id in the reading order (above it oldest-first, below it
    /// newest-first); `None` starts at the beginning (or the end).
    pub after: Option<u64>,
    /// At most this many events.
    pub limit: usize,
    /// Newest first (descending ids) instead of oldest first.
    pub newest_first: bool,
}

impl HistoryPage {
    /// Oldest first, from the start, at most `limit` events.
    pub fn first(limit: usize) -> Self {
        HistoryPage {
            after: None,
            limit,
            newest_first: false,
        }
    }

    /// Whether event `id` is on this page's side of the cursor.
    pub fn admits(&self, id: u64) -> bool {
        match (self.after, self.newest_first) {
            (None, _) => true,
            (Some(after), false) => id > after,
            (Some(after), true) => id < after,
        }
    }

    /// The cursor for the page after one that ended with `last` in a history of
    /// `event_count` events; `None` when nothing follows.
    pub fn next_after(&self, last: Option<u64>, event_count: u64) -> Option<u64> {
        let last = last?;
        let more = if self.newest_first {
            last > 1
        } else {
            last < event_count
        };
        more.then_some(last)
    }

    /// The page of `events` (any order, unique ids) this request selects.
    pub fn select(&self, events: impl IntoIterator<Item = HistoryEvent>) -> Vec<HistoryEvent> {
        let mut page: Vec<HistoryEvent> =
            events.into_iter().filter(|e| self.admits(e.id)).collect();
        page.sort_by_key(|e| e.id);
        if self.newest_first {
            page.reverse();
        }
        page.truncate(self.limit);
        page
    }
}

/// Why an execution store could not do it; the text is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionStoreError {
    /// The back end failed or is unreachable; trying again may work.
    #[error("{0}")]
    Unavailable(String),
    /// A record or event cannot be encoded, or what is stored cannot be read back.
    #[error("{0}")]
    Corrupt(String),
}

/// Durable storage for executions.
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Upserts the record (its `events` field is not stored) and appends `new_events`,
    /// atomically when the back end can. Events are keyed by id, so saving an event
    /// again replaces it (a retried save is harmless).
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), ExecutionStoreError>;
    /// The record without its history (`events` empty), or with the inline events of a
    /// record stored before history was kept apart.
    async fn load_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutionStoreError>;
    /// Every RUNNING record, without history, oldest first.
    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, ExecutionStoreError>;
    /// One page of the execution's history (empty for an unknown execution), events
    /// with ids up to the record's `event_count` only.
    async fn load_history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutionStoreError>;
}

/// Keeps records in memory. Records round-trip through JSON, as a real store's would,
/// so what a test sees is what a database would give back.
#[derive(Debug, Default)]
pub struct MemoryExecutionStore {
    records: Mutex<HashMap<String, String>>,
    events: Mutex<HashMap<String, EventRows>>,
}

/// One execution's events as JSON, by id.
type EventRows = BTreeMap<u64, String>;

impl MemoryExecutionStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn records(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>, ExecutionStoreError> {
        self.records
            .lock()
            .map_err(|_| ExecutionStoreError::Unavailable("memory store lock poisoned".into()))
    }

    fn events(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, EventRows>>, ExecutionStoreError> {
        self.events
            .lock()
            .map_err(|_| ExecutionStoreError::Unavailable("memory store lock poisoned".into()))
    }

    /// The stored size of the record (without history), in bytes: what a save rewrites.
    pub fn record_size(&self, execution_id: &str) -> Option<usize> {
        self.records().ok()?.get(execution_id).map(String::len)
    }
}

fn decode(json: &str) -> Result<ExecutionRecord, ExecutionStoreError> {
    serde_json::from_str(json)
        .map_err(|e| ExecutionStoreError::Corrupt(format!("stored execution is not readable: {e}")))
}

fn corrupt(e: serde_json::Error) -> ExecutionStoreError {
    ExecutionStoreError::Corrupt(e.to_string())
}

#[async_trait]
impl ExecutionStore for MemoryExecutionStore {
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), ExecutionStoreError> {
        let json = serde_json::to_string(record).map_err(corrupt)?;
        let mut encoded = Vec::with_capacity(new_events.len());
        for event in new_events {
            encoded.push((event.id, serde_json::to_string(event).map_err(corrupt)?));
        }
        // Both locks at once, so a reader never sees the record ahead of its events.
        let mut records = self.records()?;
        let mut events = self.events()?;
        events
            .entry(record.execution_id.clone())
            .or_default()
            .extend(encoded);
        records.insert(record.execution_id.clone(), json);
        Ok(())
    }

    async fn load_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutionStoreError> {
        self.records()?
            .get(execution_id)
            .map(|json| decode(json))
            .transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, ExecutionStoreError> {
        let records = self.records()?;
        let mut running = Vec::new();
        for json in records.values() {
            let record = decode(json)?;
            if record.is_running() {
                running.push(record);
            }
        }
        running.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.execution_id.cmp(&b.execution_id))
        });
        Ok(running)
    }

    async fn load_history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutionStoreError> {
        let Some(record) = self.load_execution(execution_id).await? else {
            return Ok(Vec::new());
        };
        let events = self.events()?;
        let Some(stored) = events.get(execution_id) else {
            return Ok(Vec::new());
        };
        let mut decoded = Vec::new();
        for (id, json) in stored {
            if *id <= record.event_count && page.admits(*id) {
                decoded.push(serde_json::from_str::<HistoryEvent>(json).map_err(|e| {
                    ExecutionStoreError::Corrupt(format!("stored event is not readable: {e}"))
                })?);
            }
        }
        Ok(page.select(decoded))
    }
}
