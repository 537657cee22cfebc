//! Job selections in the embedded store.

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::{SqliteStore, corrupt, parse_ts, query_one, query_rows, ts, unavailable};
use crate::adapters::readable;
use crate::domain::{BuildNumber, JobName, JobSelection};
use crate::ports::{JobSelectionStore, StoreError, StoreResult};

const SELECTION_COLUMNS: &str = "job_name, build_id, build_number, auto_sync, sync_on_new_build, last_synced_at, updated_by, updated_at";

/// One `job_selections` row as stored; [`SelectionRow::into_selection`] re-validates it.
struct SelectionRow {
    job_name: String,
    build_id: i64,
    build_number: i64,
    auto_sync: bool,
    sync_on_new_build: bool,
    last_synced_at: String,
    updated_by: String,
    updated_at: String,
}

impl SelectionRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            job_name: r.get("job_name")?,
            build_id: r.get("build_id")?,
            build_number: r.get("build_number")?,
            auto_sync: r.get("auto_sync")?,
            sync_on_new_build: r.get("sync_on_new_build")?,
            last_synced_at: r.get("last_synced_at")?,
            updated_by: r.get("updated_by")?,
            updated_at: r.get("updated_at")?,
        })
    }

    fn into_selection(self) -> StoreResult<JobSelection> {
        Ok(JobSelection {
            job_name: JobName::parse("job_name", &self.job_name)
                .map_err(|e| corrupt("job selection", e))?,
            build_id: self.build_id,
            build_number: BuildNumber::from_stored(self.build_number),
            auto_sync: self.auto_sync,
            sync_on_new_build: self.sync_on_new_build,
            last_synced_at: parse_ts("last_synced_at", &self.last_synced_at)?,
            updated_by: self.updated_by,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
        })
    }
}

#[async_trait]
impl JobSelectionStore for SqliteStore {
    async fn get_job_selection(&self, job: &JobName) -> StoreResult<Option<JobSelection>> {
        let job = job.as_str().to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!("SELECT {SELECTION_COLUMNS} FROM job_selections WHERE job_name = ?1"),
                [job],
                SelectionRow::from_row,
                SelectionRow::into_selection,
            )
        })
        .await
    }

    async fn list_job_selections(&self) -> StoreResult<Vec<JobSelection>> {
        self.read(|c| {
            let rows = query_rows(
                c,
                &format!("SELECT {SELECTION_COLUMNS} FROM job_selections ORDER BY job_name"),
                [],
                SelectionRow::from_row,
            )?;
            readable(
                "job selection",
                rows,
                |r| format!("job_selections.job_name={:?}", r.job_name),
                SelectionRow::into_selection,
            )
        })
        .await
    }

    async fn put_job_selection(
        &self,
        s: &JobSelection,
        only_if_build_id: Option<i64>,
    ) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            let values = params![s.job_name.as_str(), s.build_id, s.build_number.get(), s.auto_sync, s.sync_on_new_build,
                ts(s.last_synced_at), s.updated_by, ts(s.updated_at)];
            let written = match only_if_build_id {
                None => c.execute(
                    &format!("INSERT OR REPLACE INTO job_selections ({SELECTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    values,
                ),
                Some(expected) => c.execute(
                    "UPDATE job_selections SET build_id = ?2, build_number = ?3, auto_sync = ?4, sync_on_new_build = ?5,
                     last_synced_at = ?6, updated_by = ?7, updated_at = ?8 WHERE job_name = ?1 AND build_id = ?9",
                    params![s.job_name.as_str(), s.build_id, s.build_number.get(), s.auto_sync, s.sync_on_new_build,
                        ts(s.last_synced_at), s.updated_by, ts(s.updated_at), expected],
                ),
            }
            .map_err(unavailable)?;
            if written == 0 {
                return Err(StoreError::Conflict(format!("the selection of {} changed meanwhile", s.job_name)));
            }
            Ok(())
        })
        .await
    }

    async fn delete_job_selection(&self, job: &JobName) -> StoreResult<bool> {
        let job = job.as_str().to_owned();
        self.write(move |c| {
            Ok(
                c.execute("DELETE FROM job_selections WHERE job_name = ?1", [job])
                    .map_err(unavailable)?
                    > 0,
            )
        })
        .await
    }
}
