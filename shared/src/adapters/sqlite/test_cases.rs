//! Per-run test cases and each item's flaky tests in the embedded store. A case row keeps
//! the case as JSON beside the columns its lists and a test's history read (the run's
//! build, parameter-set version, environment and end), so a history is one index walk.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::super::readable_page;
use super::{SqliteStore, parse_ts, query_rows, ts, unavailable};
use crate::domain::{
    BuildNumber, EnvironmentId, FlakyTest, JobName, Run, TestCase, TestId, TestResultOfRun,
    TestStatus,
};
use crate::ports::{Page, StoreError, StoreResult, TestCaseStore};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn decode_case(json: &str) -> StoreResult<TestCase> {
    serde_json::from_str(json).map_err(|e| corrupt("test_cases.json", e))
}

// One statement per case (no `?2 IS NULL OR …`): each walks its index from the cursor on.
// Every id is non-empty, so "after ''" is the first page.
const CASES_OF_RUN: &str = "SELECT test_id, json FROM test_cases WHERE run_id = ?1 AND test_id > ?2 ORDER BY test_id LIMIT ?3";
const CASES_OF_RUN_BY_STATUS: &str = "SELECT test_id, json FROM test_cases WHERE run_id = ?1 AND status = ?2 AND test_id > ?3 ORDER BY test_id LIMIT ?4";
const HISTORY: &str =
    "SELECT run_id, job_name, build_number, parameter_set_id, parameter_set_version,
    environment_id, finished_at, json FROM test_cases
    WHERE test_item_id = ?1 AND test_id = ?2 AND run_id < ?3 ORDER BY run_id DESC LIMIT ?4";
const FLAKY_OF_ITEM: &str = "SELECT test_id, json FROM flaky_tests WHERE test_item_id = ?1
    ORDER BY last_seen_at DESC, test_id LIMIT ?2";

fn insert_cases(c: &Connection, run: &Run, cases: &[TestCase]) -> StoreResult<()> {
    c.execute("DELETE FROM test_cases WHERE run_id = ?1", [run.id.get()])
        .map_err(unavailable)?;
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO test_cases (run_id, test_id, status, test_item_id, job_name, build_number,
                parameter_set_id, parameter_set_version, environment_id, finished_at, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(unavailable)?;
    let finished = run.finished_at.map(ts);
    for case in cases {
        let json = serde_json::to_string(case).map_err(|e| corrupt("test case", e))?;
        stmt.execute(params![
            run.id.get(),
            case.id.as_str(),
            case.status.as_str(),
            run.test_item_id.get(),
            run.build.job_name.as_str(),
            run.build.build_number.get(),
            run.parameter_set_id.get(),
            run.parameter_set_version,
            run.environment_id.map(|e| e.get()),
            finished,
            json
        ])
        .map_err(|e| {
            super::conflict_or(e, || {
                format!("run {}: test id {} is listed twice", run.id, case.id)
            })
        })?;
    }
    Ok(())
}

struct HistoryRow {
    run_id: i64,
    job_name: String,
    build_number: i64,
    parameter_set_id: i64,
    parameter_set_version: i64,
    environment_id: Option<i64>,
    finished_at: Option<String>,
    json: String,
}

impl HistoryRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            run_id: r.get("run_id")?,
            job_name: r.get("job_name")?,
            build_number: r.get("build_number")?,
            parameter_set_id: r.get("parameter_set_id")?,
            parameter_set_version: r.get("parameter_set_version")?,
            environment_id: r.get("environment_id")?,
            finished_at: r.get("finished_at")?,
            json: r.get("json")?,
        })
    }

    fn into_result(self) -> StoreResult<TestResultOfRun> {
        let case = decode_case(&self.json)?;
        Ok(TestResultOfRun {
            run_id: self.run_id,
            job_name: JobName::parse("job_name", &self.job_name)
                .map_err(|e| corrupt("test_cases.job_name", e))?,
            build_number: BuildNumber::from_stored(self.build_number),
            parameter_set_id: self.parameter_set_id,
            parameter_set_version: self.parameter_set_version,
            environment_id: self.environment_id.map(EnvironmentId::from_stored),
            status: case.status,
            duration_ms: case.duration_ms,
            message: case.message,
            finished_at: self
                .finished_at
                .map(|t| parse_ts("test_cases.finished_at", &t))
                .transpose()?,
        })
    }
}

#[async_trait]
impl TestCaseStore for SqliteStore {
    async fn put_test_cases(&self, run: &Run, cases: &[TestCase]) -> StoreResult<()> {
        let (run, cases) = (run.clone(), cases.to_vec());
        // One write: the delete of the cases before and the insert commit together.
        self.write(move |c| insert_cases(c, &run, &cases)).await
    }

    async fn list_test_cases(
        &self,
        run_id: i64,
        status: Option<TestStatus>,
        after: Option<&TestId>,
        limit: usize,
    ) -> StoreResult<Page<TestCase, TestId>> {
        let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
        let over = limit as i64 + 1;
        self.read(move |c| {
            let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
            let rows = match status {
                Some(s) => query_rows(
                    c,
                    CASES_OF_RUN_BY_STATUS,
                    params![run_id, s.as_str(), after, over],
                    row,
                )?,
                None => query_rows(c, CASES_OF_RUN, params![run_id, after, over], row)?,
            };
            readable_page(
                "test case",
                rows,
                limit,
                |r| TestId::from_history_id(&r.0),
                |r| format!("test_cases.run_id={run_id},test_id={}", r.0),
                |r| decode_case(&r.1),
            )
        })
        .await
    }

    async fn all_test_cases(&self, run_id: i64) -> StoreResult<Vec<TestCase>> {
        self.read_large(move |c| {
            let rows = query_rows(
                c,
                "SELECT json FROM test_cases WHERE run_id = ?1 ORDER BY test_id",
                [run_id],
                |r| r.get::<_, String>(0),
            )?;
            super::super::readable(
                "test case",
                rows,
                |_| format!("test_cases.run_id={run_id}"),
                |j| decode_case(&j),
            )
        })
        .await
    }

    async fn test_history(
        &self,
        item_id: i64,
        test: &TestId,
        before_run: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestResultOfRun, i64>> {
        let test = test.as_str().to_owned();
        let before = before_run.unwrap_or(i64::MAX);
        self.read_large(move |c| {
            let rows = query_rows(
                c,
                HISTORY,
                params![item_id, test, before, limit as i64 + 1],
                HistoryRow::from_row,
            )?;
            readable_page(
                "test result",
                rows,
                limit,
                |r| r.run_id,
                |r| format!("test_cases.run_id={},test_id={test}", r.run_id),
                HistoryRow::into_result,
            )
        })
        .await
    }

    async fn put_flaky_tests(&self, item_id: i64, tests: &[FlakyTest]) -> StoreResult<()> {
        let tests = tests.to_vec();
        self.write(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "INSERT INTO flaky_tests (test_item_id, test_id, last_seen_at, json)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (test_item_id, test_id) DO UPDATE
                     SET last_seen_at = excluded.last_seen_at, json = excluded.json",
                )
                .map_err(unavailable)?;
            for t in &tests {
                let json = serde_json::to_string(t).map_err(|e| corrupt("flaky test", e))?;
                stmt.execute(params![item_id, t.id.as_str(), ts(t.last_seen_at), json])
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_flaky_tests(&self, item_id: i64, limit: usize) -> StoreResult<Vec<FlakyTest>> {
        self.read_large(move |c| {
            let rows = query_rows(c, FLAKY_OF_ITEM, params![item_id, limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            super::super::readable(
                "flaky test",
                rows,
                |r| format!("flaky_tests.test_item_id={item_id},test_id={}", r.0),
                |r| serde_json::from_str(&r.1).map_err(|e| corrupt("flaky_tests.json", e)),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::query_plan;
    use super::*;

    #[test]
    fn case_lists_and_histories_walk_an_index() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("crat.db")).unwrap();
        let all = query_plan(&c, CASES_OF_RUN, params![7, "", 21]);
        assert!(
            all.contains("USING INDEX test_cases_of_run (run_id=? AND test_id>?)"),
            "{all}"
        );
        let by_status = query_plan(&c, CASES_OF_RUN_BY_STATUS, params![7, "failed", "", 21]);
        assert!(
            by_status.contains(
                "USING INDEX test_cases_of_run_by_status (run_id=? AND status=? AND test_id>?)"
            ),
            "{by_status}"
        );
        let history = query_plan(&c, HISTORY, params![3, "abc", 99, 21]);
        assert!(
            history
                .contains("USING INDEX test_history (test_item_id=? AND test_id=? AND run_id<?)"),
            "{history}"
        );
        let flaky = query_plan(&c, FLAKY_OF_ITEM, params![3, 1000]);
        assert!(
            flaky.contains("USING INDEX flaky_tests_by_last_seen (test_item_id=?)")
                && !flaky.contains("TEMP B-TREE"),
            "{flaky}"
        );
    }
}
