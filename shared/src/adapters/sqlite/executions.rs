//! Embedded-executor records in the embedded store: saved after every transition, so a
//! restarted server resumes every running execution.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use statemachine::{ExecutionRecord, ExecutionStore};

use super::SqliteStore;

fn decode(json: &str) -> Result<ExecutionRecord, String> {
    serde_json::from_str(json).map_err(|e| format!("unreadable execution record: {e}"))
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn save_execution(&self, record: &ExecutionRecord) -> Result<(), String> {
        let json = serde_json::to_string(record).map_err(|e| e.to_string())?;
        let (id, running) = (record.execution_id.clone(), record.is_running());
        self.with(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO executions (id, running, json) VALUES (?1, ?2, ?3)",
                params![id, running, json],
            )
            .map_err(super::unavailable)?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
    }

    async fn load_execution(&self, execution_id: &str) -> Result<Option<ExecutionRecord>, String> {
        let id = execution_id.to_owned();
        let json = self
            .with(move |c| {
                c.query_row("SELECT json FROM executions WHERE id = ?1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(super::unavailable)
            })
            .await
            .map_err(|e| e.to_string())?;
        json.as_deref().map(decode).transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, String> {
        let rows = self
            .with(|c| {
                super::query_rows(
                    c,
                    "SELECT json FROM executions WHERE running = 1 ORDER BY id",
                    [],
                    |r| r.get::<_, String>(0),
                )
            })
            .await
            .map_err(|e| e.to_string())?;
        rows.iter().map(|j| decode(j)).collect()
    }
}
