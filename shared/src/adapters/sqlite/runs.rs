//! Runs, the lanes' locks and queues in the embedded store. The run is kept as JSON with
//! the columns lists filter on beside it; a lane's queue is its QUEUED runs by `queue_seq`.
//! Every lane decision is one transaction (SQLite serialises writers).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::super::readable_page;
use super::{SqliteStore, parse_ts, query_rows, ts, unavailable};
use crate::domain::{LaneId, MAX_QUEUED_PER_LANE, Run, RunLock, RunStatus};
use crate::ports::{Admission, Page, RunStore, StoreError, StoreResult};

const QUEUED: &str = "QUEUED";

pub(super) fn encode(run: &Run) -> StoreResult<String> {
    serde_json::to_string(run).map_err(|e| StoreError::Corrupt(format!("run {}: {e}", run.id)))
}

/// A stored run, its outcome recomputed (records of older versions have none).
pub(super) fn decode(json: &str) -> StoreResult<Run> {
    let mut run: Run =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("run: {e}")))?;
    run.refresh_outcome();
    Ok(run)
}

fn read_lock(c: &Connection, lane: &LaneId) -> StoreResult<Option<RunLock>> {
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT run_id, lease_until FROM lane_locks WHERE lane = ?1",
            [lane.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(run_id, lease)| {
        Ok(RunLock {
            lane: lane.clone(),
            run_id,
            lease_until: parse_ts("lease_until", &lease)?,
        })
    })
    .transpose()
}

fn queue_length(c: &Connection, lane: &LaneId) -> StoreResult<usize> {
    c.query_row(
        "SELECT COUNT(*) FROM runs WHERE lane = ?1 AND status = ?2",
        params![lane.as_str(), QUEUED],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
    .map_err(unavailable)
}

/// The same person's live run of `run`'s test item and build, on any lane. A row that
/// cannot be read is no twin (it must not block every trigger of its item).
/// Read through the status index: live runs are few, an item's runs may be many.
fn live_twin(c: &Connection, run: &Run) -> StoreResult<Option<Run>> {
    let live: Vec<String> = RunStatus::ALL
        .iter()
        .filter(|s| !s.is_terminal())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    let sql = format!(
        "SELECT json FROM runs INDEXED BY runs_by_status WHERE status IN ({}) AND test_item_id = ?1 AND id != ?2",
        live.join(", ")
    );
    let rows = query_rows(
        c,
        &sql,
        params![run.test_item_id.get(), run.id.get()],
        |r| r.get::<_, String>(0),
    )?;
    Ok(rows.iter().filter_map(|j| decode(j).ok()).find(|other| {
        !other.status.is_terminal()
            && other.build_info_id == run.build_info_id
            && other.triggered_by == run.triggered_by
    }))
}

fn insert_run(c: &Connection, run: &Run) -> StoreResult<()> {
    c.execute(
        "INSERT INTO runs (id, test_item_id, status, revision, json, lane, queue_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![run.id.get(), run.test_item_id.get(), run.status.as_str(), run.revision, encode(run)?,
            run.lane.as_str(), run.queue_seq],
    )
    .map_err(|e| StoreError::Conflict(format!("run {} exists: {e}", run.id)))?;
    Ok(())
}

/// Writes `run` if the stored one is at `run.revision - 1` (and, with `only_status`, has it).
fn write_run(c: &Connection, run: &Run, only_status: Option<&str>) -> StoreResult<bool> {
    let n = c
        .execute(
            "UPDATE runs SET status = ?2, revision = ?3, json = ?4 WHERE id = ?1 AND revision = ?3 - 1 AND (?5 IS NULL OR status = ?5)",
            params![run.id.get(), run.status.as_str(), run.revision, encode(run)?, only_status],
        )
        .map_err(unavailable)?;
    Ok(n > 0)
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

const LIST_RUNS: &str = "SELECT id, json FROM runs WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
const LIST_RUNS_BY_STATUS: &str =
    "SELECT id, json FROM runs WHERE status = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const LIST_RUNS_OF_ITEM: &str =
    "SELECT id, json FROM runs WHERE test_item_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

#[async_trait]
impl RunStore for SqliteStore {
    async fn admit_run(
        &self,
        run: &Run,
        queue: bool,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Admission> {
        let run = run.clone();
        self.write(move |c| {
            let lock = read_lock(c, &run.lane)?;
            let waiting = queue_length(c, &run.lane)?;
            let duplicate = || -> StoreResult<Option<Admission>> {
                Ok(live_twin(c, &run)?.map(|twin| Admission::Duplicate {
                    twin: Box::new(twin),
                }))
            };
            if lock.is_none() && waiting == 0 {
                if let Some(refused) = duplicate()? {
                    return Ok(refused);
                }
                c.execute(
                    "INSERT INTO lane_locks (lane, run_id, lease_until) VALUES (?1, ?2, ?3)",
                    params![run.lane.as_str(), run.id.get(), ts(lease_until)],
                )
                .map_err(unavailable)?;
                insert_run(c, &run)?;
                return Ok(Admission::Started);
            }
            if !queue || waiting >= MAX_QUEUED_PER_LANE {
                return Ok(Admission::Busy {
                    lock,
                    queue_full: queue,
                });
            }
            if let Some(refused) = duplicate()? {
                return Ok(refused);
            }
            let seq: i64 = c
                .query_row(
                    "SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM runs",
                    [],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            insert_run(c, &run.queued(seq))?;
            Ok(Admission::Queued {
                position: waiting + 1,
            })
        })
        .await
    }

    async fn queued_runs(&self, lane: &LaneId) -> StoreResult<Vec<Run>> {
        let lane = lane.clone();
        self.read(move |c| {
            let rows = query_rows(
                c,
                "SELECT json FROM runs WHERE lane = ?1 AND status = ?2 ORDER BY queue_seq",
                params![lane.as_str(), QUEUED],
                |r| r.get::<_, String>(0),
            )?;
            rows.iter().map(|j| decode(j)).collect()
        })
        .await
    }

    async fn claim_lane(&self, started: &Run, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        let started = started.clone();
        self.write(move |c| {
            if read_lock(c, &started.lane)?.is_some() || !write_run(c, &started, Some(QUEUED))? {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO lane_locks (lane, run_id, lease_until) VALUES (?1, ?2, ?3)",
                params![started.lane.as_str(), started.id.get(), ts(lease_until)],
            )
            .map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn cancel_queued_run(&self, cancelled: &Run) -> StoreResult<bool> {
        let cancelled = cancelled.clone();
        self.write(move |c| write_run(c, &cancelled, Some(QUEUED)))
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
        let run = run.clone();
        self.write(move |c| {
            if write_run(c, &run, None)? {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "run {} changed meanwhile",
                    run.id
                )))
            }
        })
        .await
    }

    async fn list_runs(
        &self,
        status: Option<RunStatus>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        // One statement per case, no `?1 IS NULL OR …` (planned as a scan of the table):
        // each walks an index from `before` down.
        let before = before_id.unwrap_or(i64::MAX);
        let limit_plus_one = limit as i64 + 1;
        self.read(move |c| match status {
            Some(status) => page(
                c,
                LIST_RUNS_BY_STATUS,
                params![status.as_str(), before, limit_plus_one],
                limit,
            ),
            None => page(c, LIST_RUNS, params![before, limit_plus_one], limit),
        })
        .await
    }

    async fn list_runs_of_item(
        &self,
        test_item_id: i64,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        let before = before_id.unwrap_or(i64::MAX);
        self.read(move |c| {
            page(
                c,
                LIST_RUNS_OF_ITEM,
                params![test_item_id, before, limit as i64 + 1],
                limit,
            )
        })
        .await
    }

    async fn get_run_lock(&self, lane: &LaneId) -> StoreResult<Option<RunLock>> {
        let lane = lane.clone();
        self.read(move |c| read_lock(c, &lane)).await
    }

    async fn renew_run_lock(
        &self,
        lane: &LaneId,
        run_id: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let lane = lane.clone();
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE lane_locks SET lease_until = ?3 WHERE lane = ?1 AND run_id = ?2",
                params![lane.as_str(), run_id, ts(lease_until)],
            )
            .map_err(unavailable)?
                > 0)
        })
        .await
    }

    async fn release_lock_of_run(&self, run_id: i64) -> StoreResult<Option<LaneId>> {
        self.write(move |c| {
            let lane: Option<String> = c
                .query_row(
                    "DELETE FROM lane_locks WHERE run_id = ?1 RETURNING lane",
                    [run_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            lane.map(|l| {
                LaneId::parse("lane", &l)
                    .map_err(|e| StoreError::Corrupt(format!("lane_locks.lane={l}: {e}")))
            })
            .transpose()
        })
        .await
    }

    async fn release_run_lock(&self, lane: &LaneId, run_id: i64) -> StoreResult<bool> {
        let lane = lane.clone();
        self.write(move |c| {
            Ok(c.execute(
                "DELETE FROM lane_locks WHERE lane = ?1 AND run_id = ?2",
                params![lane.as_str(), run_id],
            )
            .map_err(unavailable)?
                > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::query_plan;
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn a_page_of_runs_walks_an_index_not_the_table() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("crat.db")).unwrap();
        let by_status = query_plan(&c, LIST_RUNS_BY_STATUS, params!["RUNNING", 9, 21]);
        assert!(
            by_status.contains("USING INDEX runs_by_status (status=? AND id<?)"),
            "{by_status}"
        );
        let of_item = query_plan(&c, LIST_RUNS_OF_ITEM, params![3, 9, 21]);
        assert!(
            of_item.contains("USING INDEX runs_by_item (test_item_id=? AND id<?)"),
            "{of_item}"
        );
        let all = query_plan(&c, LIST_RUNS, params![9, 21]);
        assert!(all.contains("USING INTEGER PRIMARY KEY (rowid<?)"), "{all}");
    }
}
