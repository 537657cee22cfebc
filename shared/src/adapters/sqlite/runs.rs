//! Runs and the run lock in the embedded store. The run is kept as JSON with the columns
//! lists filter on beside it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::super::readable_page;
use super::{SqliteStore, parse_ts, query_rows, ts, unavailable};
use crate::domain::{Run, RunLock, RunStatus};
use crate::ports::{Page, RunStore, StoreError, StoreResult};

fn encode(run: &Run) -> StoreResult<String> {
    serde_json::to_string(run).map_err(|e| StoreError::Corrupt(format!("run {}: {e}", run.id)))
}

fn decode(json: &str) -> StoreResult<Run> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("run: {e}")))
}

fn read_lock(c: &Connection) -> StoreResult<Option<RunLock>> {
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT run_id, lease_until FROM run_lock WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(run_id, lease)| {
        Ok(RunLock {
            run_id,
            lease_until: parse_ts("lease_until", &lease)?,
        })
    })
    .transpose()
}

fn page(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    limit: usize,
) -> StoreResult<Page<Run, i64>> {
    let rows = query_rows(c, sql, args, |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    readable_page(
        "run",
        rows,
        limit,
        |r| r.0,
        |r| format!("runs.id={}", r.0),
        |r| decode(&r.1),
    )
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run_with_lock(
        &self,
        run: &Run,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Result<(), RunLock>> {
        let json = encode(run)?;
        let run = run.clone();
        self.write(move |c| {
            if let Some(lock) = read_lock(c)?
                && lock.is_held(now)
            {
                return Ok(Err(lock));
            }
            c.execute(
                "INSERT OR REPLACE INTO run_lock (id, run_id, lease_until) VALUES (1, ?1, ?2)",
                params![run.id.get(), ts(lease_until)],
            )
            .map_err(unavailable)?;
            c.execute(
                "INSERT INTO runs (id, test_item_id, status, revision, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run.id.get(), run.test_item_id.get(), run.status.as_str(), run.revision, json],
            )
            .map_err(|e| StoreError::Conflict(format!("run {} exists: {e}", run.id)))?;
            Ok(Ok(()))
        })
        .await
    }

    async fn get_run(&self, id: i64) -> StoreResult<Option<Run>> {
        self.read(move |c| {
            c.query_row("SELECT json FROM runs WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(unavailable)?
            .map(|j| decode(&j))
            .transpose()
        })
        .await
    }

    async fn update_run(&self, run: &Run) -> StoreResult<()> {
        let json = encode(run)?;
        let (id, status, revision) = (run.id.get(), run.status.as_str(), run.revision);
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE runs SET status = ?2, revision = ?3, json = ?4 WHERE id = ?1 AND revision = ?3 - 1",
                    params![id, status, revision, json],
                )
                .map_err(unavailable)?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("run {id} changed meanwhile")));
            }
            Ok(())
        })
        .await
    }

    async fn list_runs(
        &self,
        status: Option<RunStatus>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        let status = status.map(RunStatus::as_str);
        self.read(move |c| {
            page(
                c,
                "SELECT id, json FROM runs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                params![status, before_id, limit as i64 + 1],
                limit,
            )
        })
        .await
    }

    async fn list_runs_of_item(
        &self,
        test_item_id: i64,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        self.read(move |c| {
            page(
                c,
                "SELECT id, json FROM runs WHERE test_item_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                params![test_item_id, before_id, limit as i64 + 1],
                limit,
            )
        })
        .await
    }

    async fn get_run_lock(&self) -> StoreResult<Option<RunLock>> {
        self.read(read_lock).await
    }

    async fn renew_run_lock(&self, run_id: i64, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE run_lock SET lease_until = ?2 WHERE id = 1 AND run_id = ?1",
                params![run_id, ts(lease_until)],
            )
            .map_err(unavailable)?
                > 0)
        })
        .await
    }

    async fn release_run_lock(&self, run_id: i64) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM run_lock WHERE id = 1 AND run_id = ?1",
                [run_id],
            )
            .map_err(unavailable)?
                > 0)
        })
        .await
    }
}
