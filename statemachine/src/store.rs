//! Where executions are kept, and an in-memory store for tests and examples.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::record::ExecutionRecord;

/// Durable storage for executions. `save_execution` is called after every transition
/// with the whole record (upsert by `execution_id`).
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    async fn save_execution(&self, record: &ExecutionRecord) -> Result<(), String>;
    async fn load_execution(&self, execution_id: &str) -> Result<Option<ExecutionRecord>, String>;
    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, String>;
}

/// Keeps records in memory. Records round-trip through JSON, as a real store's would,
/// so what a test sees is what a database would give back.
#[derive(Debug, Default)]
pub struct MemoryExecutionStore {
    records: Mutex<HashMap<String, String>>,
}

impl MemoryExecutionStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, String>>, String> {
        self.records
            .lock()
            .map_err(|_| "memory store lock poisoned".to_string())
    }
}

fn decode(json: &str) -> Result<ExecutionRecord, String> {
    serde_json::from_str(json).map_err(|e| format!("stored execution is not readable: {e}"))
}

#[async_trait]
impl ExecutionStore for MemoryExecutionStore {
    async fn save_execution(&self, record: &ExecutionRecord) -> Result<(), String> {
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        self.records()?.insert(record.execution_id.clone(), json);
        Ok(())
    }

    async fn load_execution(&self, execution_id: &str) -> Result<Option<ExecutionRecord>, String> {
        self.records()?
            .get(execution_id)
            .map(|json| decode(json))
            .transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, String> {
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
}
