//! Embedded-executor records in the embedded store: saved after every transition, so a
//! restarted server resumes every running execution. The record (`executions`) is
//! rewritten; the history (`execution_events`, one row per event) is only appended to,
//! in the same transaction.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use statemachine::{
    ExecutionRecord, ExecutionStore, ExecutionStoreError, HistoryEvent, HistoryPage,
};

use super::SqliteStore;

fn decode(json: &str) -> Result<ExecutionRecord, ExecutionStoreError> {
    serde_json::from_str(json)
        .map_err(|e| ExecutionStoreError::Corrupt(format!("unreadable execution record: {e}")))
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), ExecutionStoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| ExecutionStoreError::Corrupt(e.to_string()))?;
        let events = new_events
            .iter()
            .map(|e| {
                Ok((
                    i64::try_from(e.id).unwrap_or(i64::MAX),
                    serde_json::to_string(e)?,
                ))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| ExecutionStoreError::Corrupt(e.to_string()))?;
        let (id, running) = (record.execution_id.clone(), record.is_running());
        self.write(move |c| {
            {
                let mut insert = c
                    .prepare_cached(
                        "INSERT OR REPLACE INTO execution_events (execution_id, id, json) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(super::unavailable)?;
                for (event_id, event) in &events {
                    insert
                        .execute(params![id, event_id, event])
                        .map_err(super::unavailable)?;
                }
            }
            c.execute(
                "INSERT OR REPLACE INTO executions (id, running, json) VALUES (?1, ?2, ?3)",
                params![id, running, json],
            )
            .map_err(super::unavailable)?;
            Ok(())
        })
        .await
        .map_err(ExecutionStoreError::from)
    }

    async fn load_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutionStoreError> {
        let id = execution_id.to_owned();
        let json = self
            .read(move |c| {
                c.query_row("SELECT json FROM executions WHERE id = ?1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
                .map_err(super::unavailable)
            })
            .await?;
        json.as_deref().map(decode).transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, ExecutionStoreError> {
        let rows = self
            .read(|c| {
                super::query_rows(
                    c,
                    "SELECT json FROM executions WHERE running = 1 ORDER BY id",
                    [],
                    |r| r.get::<_, String>(0),
                )
            })
            .await?;
        rows.iter().map(|j| decode(j)).collect()
    }

    async fn load_history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutionStoreError> {
        let Some(record) = self.load_execution(execution_id).await? else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_owned();
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let max = i64::try_from(record.event_count).unwrap_or(i64::MAX);
        let rows = self
            .read(move |c| {
                let (sql, bound) = match (page.newest_first, page.after) {
                    (false, after) => (
                        "SELECT json FROM execution_events WHERE execution_id = ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4",
                        after.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX)),
                    ),
                    (true, after) => (
                        "SELECT json FROM execution_events WHERE execution_id = ?1 AND id < ?2 AND id <= ?3 ORDER BY id DESC LIMIT ?4",
                        after.map_or(i64::MAX, |a| i64::try_from(a).unwrap_or(i64::MAX)),
                    ),
                };
                super::query_rows(c, sql, params![id, bound, max, limit], |r| {
                    r.get::<_, String>(0)
                })
            })
            .await
            ?;
        rows.iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| {
                    ExecutionStoreError::Corrupt(format!("unreadable execution event: {e}"))
                })
            })
            .collect()
    }
}
