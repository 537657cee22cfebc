//! Embedded-executor records on DynamoDB (the local server with `CRAT_STORE=dynamodb`).
//! Record item: PK=`EXEC#<id>`, SK=`EXEC`, `record_json` (without history); while RUNNING
//! also GSI1PK=`EXECS_RUNNING`, GSI1SK=<id>, so the running ones form a sparse index that
//! `resume_all` reads. History: one item per event in the same partition,
//! SK=`EV#<id, 20 digits>`, `event_json`, written before the record that counts them, so
//! no item grows with the run (the 400 KB item cap is never near).
//!
//! Records written before history was kept apart hold their events inline in
//! `record_json`: they are read as they are, and the executor's next save of a running
//! one moves the events out.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use statemachine::{
    ExecutionRecord, ExecutionStore, ExecutionStoreError, HistoryEvent, HistoryPage,
};

use super::{
    BATCH_WRITE_MAX, DynamoStore, GSI1, Item, PK, SK, built, decode_json, encode_json, key, s,
    unavailable,
};

const EXEC_SK: &str = "EXEC";
const RUNNING: &str = "EXECS_RUNNING";

fn exec_pk(id: &str) -> String {
    format!("EXEC#{id}")
}

fn event_sk(id: u64) -> String {
    format!("EV#{id:020}")
}

impl DynamoStore {
    /// Puts `items` with BatchWriteItem (25 a call), retrying unprocessed ones.
    async fn put_events(&self, items: Vec<Item>) -> Result<(), ExecutionStoreError> {
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk
                .iter()
                .map(|item| {
                    let put = built(PutRequest::builder().set_item(Some(item.clone())).build())
                        .map_err(ExecutionStoreError::from)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, ExecutionStoreError>>()?;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                if attempt > 0 {
                    // Unprocessed items mean throttling: back off a little.
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                attempt += 1;
                if attempt > 20 {
                    return Err(ExecutionStoreError::Unavailable(
                        "DynamoDB BatchWriteItem (execution history) kept leaving items unprocessed"
                            .to_owned(),
                    ));
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem (execution history)", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ExecutionStore for DynamoStore {
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), ExecutionStoreError> {
        let pk = exec_pk(&record.execution_id);
        let mut events = Vec::with_capacity(new_events.len());
        for event in new_events {
            let mut item = key(pk.clone(), &event_sk(event.id));
            item.insert(
                "event_json".into(),
                s(&encode_json("execution event", event).map_err(ExecutionStoreError::from)?),
            );
            events.push(item);
        }
        let mut item = key(pk, EXEC_SK);
        item.insert(
            "record_json".into(),
            s(&encode_json("execution", record).map_err(ExecutionStoreError::from)?),
        );
        if record.is_running() {
            item.insert(GSI1.partition_key.into(), s(RUNNING));
            item.insert(GSI1.sort_key.into(), s(&record.execution_id));
        }
        // Events first, then the record that counts them: readers see only events up to
        // the record's event_count, so a save cut off between the two is invisible, and
        // saving again rewrites the same event items. No transaction needed (they cost
        // double, and moto copies the whole table for each).
        self.put_events(events).await?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (execution)", e))?;
        Ok(())
    }

    async fn load_execution(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutionStoreError> {
        let item = self
            .get_item(exec_pk(execution_id), EXEC_SK)
            .await
            .map_err(ExecutionStoreError::from)?;
        item.map(|i| decode_json(&i, "record_json").map_err(ExecutionStoreError::from))
            .transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, ExecutionStoreError> {
        let rows = self
            .query_index(GSI1, RUNNING, None, true, None)
            .await
            .map_err(ExecutionStoreError::from)?;
        rows.iter()
            .map(|i| {
                decode_json::<ExecutionRecord>(i, "record_json").map_err(ExecutionStoreError::from)
            })
            .filter(|r| r.as_ref().map_or(true, ExecutionRecord::is_running))
            .collect()
    }

    async fn load_history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutionStoreError> {
        let Some(mut record) = self.load_execution(execution_id).await? else {
            return Ok(Vec::new());
        };
        if record.adopt_inline_events() {
            return Ok(page.select(std::mem::take(&mut record.events)));
        }
        let (low, high) = match (page.newest_first, page.after) {
            (false, after) => (after.map_or(1, |a| a.saturating_add(1)), record.event_count),
            (true, after) => (
                1,
                after
                    .map_or(u64::MAX, |a| a.saturating_sub(1))
                    .min(record.event_count),
            ),
        };
        if low > high || page.limit == 0 {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let want = page.limit - events.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(&exec_pk(execution_id)))
                .expression_attribute_values(":low", s(&event_sk(low)))
                .expression_attribute_values(":high", AttributeValue::S(event_sk(high)))
                .scan_index_forward(!page.newest_first)
                .consistent_read(true)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query (execution history)", e))?;
            for item in out.items.unwrap_or_default() {
                events.push(
                    decode_json::<HistoryEvent>(&item, "event_json")
                        .map_err(ExecutionStoreError::from)?,
                );
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && events.len() < page.limit => start = Some(k),
                _ => return Ok(events),
            }
        }
    }
}
