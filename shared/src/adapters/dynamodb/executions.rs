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

use async_trait::async_trait;
use statemachine::{
    ExecutionRecord, ExecutionStore, ExecutionStoreError, HistoryEvent, HistoryPage,
};

use super::DynamoStore;
use super::codec::{decode_json, encode_json, s};
use super::keys::{EXEC_SK, EXECS_RUNNING, event_sk, exec_pk, key};
use super::requests::unavailable;
use super::table::{GSI1, PK, SK};

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
            item.insert(GSI1.partition_key.into(), s(EXECS_RUNNING));
            item.insert(GSI1.sort_key.into(), s(&record.execution_id));
        }
        // Events first, then the record that counts them: readers see only events up to
        // the record's event_count, so a save cut off between the two is invisible, and
        // saving again rewrites the same event items. No transaction needed (they cost
        // double, and moto copies the whole table for each).
        self.batch_put("execution history", events)
            .await
            .map_err(ExecutionStoreError::from)?;
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
            .query_index(GSI1, EXECS_RUNNING, None, true, None)
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
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(&exec_pk(execution_id)))
            .expression_attribute_values(":low", s(&event_sk(low)))
            .expression_attribute_values(":high", s(&event_sk(high)))
            .scan_index_forward(!page.newest_first)
            .consistent_read(true);
        let rows = self
            .query_pages("Query (execution history)", query, Some(page.limit), 1)
            .await
            .map_err(ExecutionStoreError::from)?;
        rows.iter()
            .map(|item| {
                decode_json::<HistoryEvent>(item, "event_json").map_err(ExecutionStoreError::from)
            })
            .collect()
    }
}
