//! One test's history in an item, and the item's flaky tests, on DynamoDB.
//!
//! History: one item per (item, test, run), PK `TESTHIST#<item>#<test id>`, SK the padded
//! run id, so a page newest first is one Query (`ScanIndexForward=false`). A run with N
//! cases writes N such items (BatchWriteItem, 25 a call, unprocessed ones retried): about
//! 1 WRU each, since a result is well under 1 KB. Reading the item's recent runs' chunks
//! instead would cost every history page the whole of each run read.
//!
//! Flaky tests: one item per (item, test), PK `FLAKY#<item>`, SK the test id (a new
//! record of a test replaces its entry), on GSI1 by last seen: the list is one Query.

use super::DynamoStore;
use super::codec::{decode_json, encode_json, s};
use super::keys::{flaky_index_sk, flaky_pk, item_pk_of, key, padded, test_history_pk};
use super::table::{GSI1, PK, SK};
use crate::adapters::{readable, readable_page};
use crate::domain::{FlakyTest, Run, TestCase, TestId, TestResultOfRun};
use crate::ports::{Page, StoreResult};

fn result_of(run: &Run, case: &TestCase) -> TestResultOfRun {
    TestResultOfRun {
        run_id: run.id.get(),
        job_name: run.build.job_name.clone(),
        build_number: run.build.build_number,
        parameter_set_id: run.parameter_set_id.get(),
        parameter_set_version: run.parameter_set_version,
        environment_id: run.environment_id,
        status: case.status,
        duration_ms: case.duration_ms,
        message: case.message.clone(),
        finished_at: run.finished_at,
    }
}

impl DynamoStore {
    /// Writes each case's result into its test's history.
    pub(super) async fn put_history(&self, run: &Run, cases: &[TestCase]) -> StoreResult<()> {
        let item_id = run.test_item_id.get();
        let items = cases
            .iter()
            .map(|case| {
                let mut item = key(test_history_pk(item_id, &case.id), &padded(run.id.get()));
                item.insert(
                    "result_json".into(),
                    s(&encode_json("test result", &result_of(run, case))?),
                );
                Ok(item)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put("test history", items).await
    }

    /// Takes `run` out of the history of each of `tests`.
    pub(super) async fn delete_history(
        &self,
        run: &Run,
        tests: impl IntoIterator<Item = TestId>,
    ) -> StoreResult<()> {
        let item_id = run.test_item_id.get();
        let keys = tests
            .into_iter()
            .map(|t| key(test_history_pk(item_id, &t), &padded(run.id.get())))
            .collect();
        self.batch_delete(keys).await
    }

    pub(super) async fn history_page(
        &self,
        item_id: i64,
        test: &TestId,
        before_run: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestResultOfRun, i64>> {
        let before = before_run.unwrap_or(i64::MAX);
        if before <= 1 {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk < :before")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(&test_history_pk(item_id, test)))
            .expression_attribute_values(":before", s(&padded(before)))
            .scan_index_forward(false)
            .consistent_read(true);
        let rows = self
            .query_pages("Query (test history)", query, Some(limit + 1), 1)
            .await?;
        readable_page(
            "test result",
            rows,
            limit,
            |i| {
                i.get(SK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            },
            item_pk_of,
            |i| decode_json(&i, "result_json"),
        )
    }

    pub(super) async fn put_flaky(&self, item_id: i64, tests: &[FlakyTest]) -> StoreResult<()> {
        let items = tests
            .iter()
            .map(|t| {
                let mut item = key(flaky_pk(item_id), t.id.as_str());
                let seen_ns = t.last_seen_at.timestamp_nanos_opt().unwrap_or(0);
                item.insert(GSI1.partition_key.into(), s(&flaky_pk(item_id)));
                item.insert(GSI1.sort_key.into(), s(&flaky_index_sk(seen_ns, &t.id)));
                item.insert("flaky_json".into(), s(&encode_json("flaky test", t)?));
                Ok(item)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put("flaky tests", items).await
    }

    pub(super) async fn list_flaky(
        &self,
        item_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<FlakyTest>> {
        let rows = self
            .query_index(GSI1, &flaky_pk(item_id), None, false, Some(limit))
            .await?;
        readable("flaky test", rows, item_pk_of, |i| {
            decode_json(&i, "flaky_json")
        })
    }
}
