//! A run's test cases on DynamoDB, in chunk items under the run's partition, so no item
//! nears the 400 KB cap however long the run: each chunk is a JSON array of cases in id
//! order of at most [`CHUNK_BYTES`], its SK `TESTS#<generation>#<last id in it>`. A head
//! item (`TESTS`) names the generation in use: a replace writes a new generation's chunks,
//! then the head, then deletes the old chunks, so a reader sees either all the old cases or
//! all the new. A page after a cursor starts at the one chunk whose last id is past it
//! (a key condition, no scan). Each case also writes its test's history item
//! (`test_history.rs`), with the run as sort key: a history page is one Query.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::DynamoStore;
use super::codec::{Item, decode_json, encode_json, get_s, s};
use super::keys::{TESTS_HEAD_SK, key, run_pk, test_chunk_prefix};
use super::requests::unavailable;
use super::table::{PK, SK};
use crate::domain::{FlakyTest, Run, TestCase, TestId, TestResultOfRun, TestStatus};
use crate::ports::{Page, StoreError, StoreResult, TestCaseStore};

/// The most encoded JSON one chunk holds. With the `MAX_*` caps a case encodes to at most
/// about 40 KB (every text at its cap, each character escaped), so a chunk always holds at
/// least seven, and with its keys stays far below DynamoDB's 400 KB.
pub(super) const CHUNK_BYTES: usize = 300 * 1024;
/// Above every character of a test id: the end of a generation's chunk keys.
const PAST_EVERY_ID: &str = "~";

/// Cases in id order cut into chunks of at most `max_bytes` of JSON array text each.
pub(super) fn chunks(cases: &[TestCase], max_bytes: usize) -> StoreResult<Vec<(TestId, String)>> {
    let mut out = Vec::new();
    // The chunk being filled: its JSON array text so far and its last case's id.
    let mut open: Option<(String, &TestId)> = None;
    for case in cases {
        let json = encode_json("test case", case)?;
        match &mut open {
            // A comma, the case and the closing bracket must fit.
            Some((text, last)) if text.len() + json.len() + 2 <= max_bytes => {
                text.push(',');
                text.push_str(&json);
                *last = &case.id;
            }
            _ => {
                if let Some((mut text, last)) = open.take() {
                    text.push(']');
                    out.push((last.clone(), text));
                }
                open = Some((format!("[{json}"), &case.id));
            }
        }
    }
    if let Some((mut text, last)) = open {
        text.push(']');
        out.push((last.clone(), text));
    }
    Ok(out)
}

impl DynamoStore {
    /// The generation of `run_id`'s cases in use, if any were stored.
    async fn case_generation(&self, run_id: i64) -> StoreResult<Option<String>> {
        let head = self.get_item(run_pk(run_id), TESTS_HEAD_SK).await?;
        head.map(|h| get_s(&h, "generation").map(str::to_owned))
            .transpose()
    }

    /// The chunks of one generation from the one holding the first id past `after` on,
    /// `limit` chunks a request; `each` is given every chunk in order until it says stop.
    async fn read_chunks(
        &self,
        run_id: i64,
        generation: &str,
        after: Option<&TestId>,
        mut each: impl FnMut(Vec<TestCase>) -> bool,
    ) -> StoreResult<()> {
        let prefix = test_chunk_prefix(generation);
        let low = format!("{prefix}{}", after.map_or("", TestId::as_str));
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(&run_pk(run_id)))
                .expression_attribute_values(":low", s(&low))
                .expression_attribute_values(":high", s(&format!("{prefix}{PAST_EVERY_ID}")))
                .consistent_read(true)
                .limit(1)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query (test cases)", e))?;
            for item in out.items.unwrap_or_default() {
                if !each(decode_json(&item, "cases_json")?) {
                    return Ok(());
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(()),
            }
        }
    }

    /// Every case of one generation, in id order.
    async fn cases_of_generation(
        &self,
        run_id: i64,
        generation: &str,
    ) -> StoreResult<Vec<TestCase>> {
        let mut all = Vec::new();
        self.read_chunks(run_id, generation, None, |chunk| {
            all.extend(chunk);
            true
        })
        .await?;
        Ok(all)
    }
}

#[async_trait]
impl TestCaseStore for DynamoStore {
    async fn put_test_cases(&self, run: &Run, cases: &[TestCase]) -> StoreResult<()> {
        let mut sorted = cases.to_vec();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(twice) = sorted.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(StoreError::Conflict(format!(
                "run {}: test id {} is listed twice",
                run.id, twice[0].id
            )));
        }
        let run_id = run.id.get();
        let before = self.case_generation(run_id).await?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let prefix = test_chunk_prefix(&generation);
        let chunk_items = chunks(&sorted, CHUNK_BYTES)?
            .into_iter()
            .map(|(last, json)| {
                let mut item = key(run_pk(run_id), &format!("{prefix}{last}"));
                item.insert("cases_json".into(), s(&json));
                item
            })
            .collect();
        self.batch_put("test case chunks", chunk_items).await?;
        self.put_history(run, &sorted).await?;
        let mut head = key(run_pk(run_id), TESTS_HEAD_SK);
        head.insert("generation".into(), s(&generation));
        head.insert("count".into(), super::codec::n(sorted.len() as i64));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(head))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (test cases head)", e))?;
        // The new cases are in use; what the old ones left behind goes.
        if let Some(old) = before {
            let old_prefix = test_chunk_prefix(&old);
            let old_items = self
                .query_partition(&run_pk(run_id), Some(&old_prefix))
                .await?;
            let mut gone: BTreeSet<TestId> = BTreeSet::new();
            let mut keys = Vec::with_capacity(old_items.len());
            for item in &old_items {
                let cases: Vec<TestCase> = decode_json(item, "cases_json").unwrap_or_default();
                gone.extend(cases.into_iter().map(|c| c.id));
                keys.push(key(run_pk(run_id), get_s(item, SK)?));
            }
            for case in &sorted {
                gone.remove(&case.id);
            }
            self.batch_delete(keys).await?;
            self.delete_history(run, gone).await?;
        }
        Ok(())
    }

    async fn list_test_cases(
        &self,
        run_id: i64,
        status: Option<TestStatus>,
        after: Option<&TestId>,
        limit: usize,
    ) -> StoreResult<Page<TestCase, TestId>> {
        let Some(generation) = self.case_generation(run_id).await? else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let mut rows = Vec::new();
        self.read_chunks(run_id, &generation, after, |chunk| {
            rows.extend(chunk.into_iter().filter(|c| {
                after.is_none_or(|a| &c.id > a) && status.is_none_or(|s| c.status == s)
            }));
            rows.len() <= limit
        })
        .await?;
        Ok(Page::from_overfetch(rows, limit, |c| c.id.clone()))
    }

    async fn all_test_cases(&self, run_id: i64) -> StoreResult<Vec<TestCase>> {
        match self.case_generation(run_id).await? {
            Some(generation) => self.cases_of_generation(run_id, &generation).await,
            None => Ok(Vec::new()),
        }
    }

    async fn test_history(
        &self,
        item_id: i64,
        test: &TestId,
        before_run: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestResultOfRun, i64>> {
        self.history_page(item_id, test, before_run, limit).await
    }

    async fn put_flaky_tests(&self, item_id: i64, tests: &[FlakyTest]) -> StoreResult<()> {
        self.put_flaky(item_id, tests).await
    }

    async fn list_flaky_tests(&self, item_id: i64, limit: usize) -> StoreResult<Vec<FlakyTest>> {
        self.list_flaky(item_id, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_case::{MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_SUITE_DEPTH};

    fn case(id: &str) -> TestCase {
        TestCase {
            id: TestId::parse("id", id).unwrap(),
            name: format!("test {id}"),
            suite: vec![],
            status: TestStatus::Passed,
            duration_ms: None,
            message: None,
            full_name: None,
            flaky: false,
            retries: 0,
        }
    }

    #[test]
    fn chunks_keep_every_case_in_order_within_their_size() {
        let cases: Vec<_> = (0..500).map(|i| case(&format!("t{i:04}"))).collect();
        let cut = chunks(&cases, 4096).unwrap();
        assert!(cut.len() > 5, "{}", cut.len());
        let mut back = Vec::new();
        for (last, json) in &cut {
            assert!(json.len() <= 4096, "{}", json.len());
            let chunk: Vec<TestCase> = serde_json::from_str(json).unwrap();
            assert_eq!(&chunk.last().unwrap().id, last);
            back.extend(chunk);
        }
        assert_eq!(back, cases);
        assert!(chunks(&[], 4096).unwrap().is_empty());
    }

    #[test]
    fn the_widest_case_fits_a_chunk_several_times() {
        // Every text at its cap, every character escaped as \u00XX (six bytes).
        let wide = "\u{1}".repeat(MAX_NAME_CHARS);
        let widest = TestCase {
            id: TestId::parse("id", &"x".repeat(TestId::MAX_CHARS)).unwrap(),
            name: wide.clone(),
            suite: vec![wide.clone(); MAX_SUITE_DEPTH],
            status: TestStatus::Broken,
            duration_ms: Some(u64::MAX),
            message: Some("\u{1}".repeat(MAX_MESSAGE_CHARS)),
            full_name: Some(wide),
            flaky: true,
            retries: u32::MAX,
        };
        let bytes = encode_json("case", &widest).unwrap().len();
        assert!(bytes * 7 < CHUNK_BYTES, "{bytes} bytes a case");
    }
}
