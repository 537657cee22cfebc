//! Builds and jobs in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, next_id_in, parse_ts, query_one, query_rows, ts, unavailable};
use crate::adapters::readable_page;
use crate::domain::{Build, BuildNumber, JobName, JobSummary, NewBuild, PackagePath};
use crate::ports::{BuildStore, Page, StoreError, StoreResult};

/// Row reading errors stay rusqlite errors so `query_map` can carry them; text fields are
/// re-validated into domain types afterwards.
pub(super) struct RawBuild {
    id: i64,
    job_name: String,
    build_number: i64,
    build_user: Option<String>,
    package_path: String,
    created_at: String,
}

pub(super) const BUILD_COLUMNS: &str =
    "id, job_name, build_number, build_user, package_path, created_at";

/// A page of builds, newest first: of one job (`?1` the job, `?2` the id to stay below,
/// `?3` the limit) or of every job (`?1` the id, `?2` the limit).
fn list_builds_sql(of_one_job: bool) -> String {
    if of_one_job {
        format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        )
    } else {
        format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id < ?1 ORDER BY id DESC LIMIT ?2")
    }
}

pub(super) fn raw_build(r: &Row<'_>) -> rusqlite::Result<RawBuild> {
    Ok(RawBuild {
        id: r.get("id")?,
        job_name: r.get("job_name")?,
        build_number: r.get("build_number")?,
        build_user: r.get("build_user")?,
        package_path: r.get("package_path")?,
        created_at: r.get("created_at")?,
    })
}

impl RawBuild {
    pub(super) fn into_build(self) -> StoreResult<Build> {
        let corrupt =
            |e: crate::domain::FieldError| StoreError::Corrupt(format!("build {}: {e}", self.id));
        Ok(Build {
            id: self.id,
            job_name: JobName::parse("job_name", &self.job_name).map_err(corrupt)?,
            build_number: BuildNumber::from_stored(self.build_number),
            build_user: self.build_user.clone(),
            package_path: PackagePath::parse("package_path", &self.package_path)
                .map_err(corrupt)?,
            created_at: parse_ts("created_at", &self.created_at)?,
        })
    }
}

#[async_trait]
impl BuildStore for SqliteStore {
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)> {
        let new = new.clone();
        self.write(move |c| {
            let existing = c
                .prepare_cached(&format!(
                    "SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1 AND build_number = ?2"
                ))
                .map_err(unavailable)?
                .query_row(params![new.job_name.as_str(), new.build_number.get()], raw_build)
                .optional()
                .map_err(unavailable)?;
            if let Some(raw) = existing {
                let id = raw.id;
                match raw.into_build() {
                    Ok(build) => return Ok((build, false)),
                    // Stored under older, laxer rules (`CDN/. `): the repeated webhook
                    // describes the build again, so the row is rewritten from it (same id).
                    Err(StoreError::Corrupt(why)) => {
                        tracing::warn!(build_id = id, job = %new.job_name, build_number = %new.build_number,
                            error = %why, "stored build unreadable; repaired from the repeated webhook");
                        let build = Build::new(id, &new, now);
                        c.execute(
                            "UPDATE builds SET build_user = ?2, package_path = ?3, created_at = ?4 WHERE id = ?1",
                            params![
                                build.id,
                                build.build_user,
                                build.package_path.as_str(),
                                ts(build.created_at)
                            ],
                        )
                        .map_err(unavailable)?;
                        return Ok((build, false));
                    }
                    Err(e) => return Err(e),
                }
            }
            let id = next_id_in(c, "builds").map_err(unavailable)?;
            let build = Build::new(id, &new, now);
            c.prepare_cached(
                "INSERT INTO builds (id, job_name, build_number, build_user, package_path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(unavailable)?
            .execute(params![
                    build.id,
                    build.job_name.as_str(),
                    build.build_number.get(),
                    build.build_user,
                    build.package_path.as_str(),
                    ts(build.created_at)
                ],
            )
            .map_err(unavailable)?;
            Ok((build, true))
        })
        .await
    }

    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>> {
        self.read(move |c| {
            query_one(
                c,
                &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE id = ?1"),
                [id],
                raw_build,
                RawBuild::into_build,
            )
        })
        .await
    }

    async fn list_builds(
        &self,
        job: Option<&JobName>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Build, i64>> {
        let job = job.map(|j| j.as_str().to_owned());
        // No `?1 IS NULL OR …` in the WHERE: SQLite plans such a clause as a scan of the
        // whole table, so each case has its own statement and both walk an index.
        let before = before_id.unwrap_or(i64::MAX);
        self.read(move |c| {
            let limit_plus_one = limit as i64 + 1;
            let rows = match &job {
                Some(job) => query_rows(
                    c,
                    &list_builds_sql(true),
                    params![job, before, limit_plus_one],
                    raw_build,
                ),
                None => query_rows(
                    c,
                    &list_builds_sql(false),
                    params![before, limit_plus_one],
                    raw_build,
                ),
            }?;
            readable_page(
                "build",
                rows,
                limit,
                |r| r.id,
                |r| format!("builds.id={}", r.id),
                RawBuild::into_build,
            )
        })
        .await
    }

    async fn find_build(&self, job: &JobName, number: BuildNumber) -> StoreResult<Option<Build>> {
        let job = job.as_str().to_owned();
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1 AND build_number = ?2"
                ),
                params![job, number.get()],
                raw_build,
            )
            .optional()
            .map_err(unavailable)?
            .map(RawBuild::into_build)
            .transpose()
        })
        .await
    }

    async fn latest_build(&self, job: &JobName) -> StoreResult<Option<Build>> {
        let job = job.as_str().to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds WHERE job_name = ?1
                     ORDER BY build_number DESC LIMIT 1"
                ),
                [job],
                raw_build,
                RawBuild::into_build,
            )
        })
        .await
    }

    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>> {
        let after = after_name.map(str::to_owned);
        // A walk of the job index with a lookup per job (tens of ms at 100k builds): on the
        // blocking pool, not the calling task.
        self.read_large(move |c| {
            // The latest build of a job is its highest build number.
            let rows = query_rows(c, &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds b
                     WHERE b.build_number = (SELECT MAX(build_number) FROM builds WHERE job_name = b.job_name)
                       AND (?1 IS NULL OR b.job_name > ?1)
                     ORDER BY b.job_name LIMIT ?2"
                ), params![after, limit as i64 + 1], raw_build)?;
            readable_page("build", rows, limit, |r| r.job_name.clone(), |r| format!("builds.id={}", r.id), |r| {
                let b = r.into_build()?;
                Ok(JobSummary { job_name: b.job_name.clone(), latest_build: b })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::query_plan as plan;
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn a_page_of_builds_walks_an_index_not_the_table() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("crat.db")).unwrap();
        let of_job = plan(&c, &list_builds_sql(true), params!["j", 9, 21]);
        assert!(
            of_job.contains("USING INDEX builds_by_job (job_name=? AND id<?)"),
            "{of_job}"
        );
        let all = plan(&c, &list_builds_sql(false), params![9, 21]);
        assert!(all.contains("USING INTEGER PRIMARY KEY (rowid<?)"), "{all}");
    }
}
