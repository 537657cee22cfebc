//! Embedded-executor records on DynamoDB (the local server with `CRAT_STORE=dynamodb`).
//! Record item: PK=`EXEC#<id>`, SK=`EXEC`, `record_json` (without history); while RUNNING
//! also GSI1PK=`EXECS_RUNNING`, GSI1SK=<id>, so the running ones form a sparse index that
//! `resume_all` reads. History: one item per event in the same partition,
//! SK=`EV#<id, 20 digits>`, `event_json`, written with the record in one transaction, so
//! no item grows with the run (the 400 KB item cap is never near).
//!
//! Records written before history was kept apart hold their events inline in
//! `record_json`: they are read as they are, and the executor's next save of a running
//! one moves the events out.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use statemachine::{ExecutionRecord, ExecutionStore, HistoryEvent, HistoryPage};

use super::{
    DynamoStore, GSI1, Item, PK, SK, built, decode_json, encode_json, key, s, unavailable,
};

const EXEC_SK: &str = "EXEC";
const RUNNING: &str = "EXECS_RUNNING";
/// TransactWriteItems takes at most 100 items: the record and up to 99 events.
const EVENTS_PER_WRITE: usize = 99;

fn exec_pk(id: &str) -> String {
    format!("EXEC#{id}")
}

fn event_sk(id: u64) -> String {
    format!("EV#{id:020}")
}

impl DynamoStore {
    fn execution_put(&self, item: Item) -> Result<TransactWriteItem, String> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build(),
        )
        .map_err(|e| e.to_string())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn write_execution(&self, items: Vec<TransactWriteItem>) -> Result<(), String> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| unavailable("TransactWriteItems (execution)", e).to_string())?;
        Ok(())
    }
}

#[async_trait]
impl ExecutionStore for DynamoStore {
    async fn save_execution(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), String> {
        let pk = exec_pk(&record.execution_id);
        let mut puts = Vec::with_capacity(new_events.len() + 1);
        for event in new_events {
            let mut item = key(pk.clone(), &event_sk(event.id));
            item.insert(
                "event_json".into(),
                s(&encode_json("execution event", event).map_err(|e| e.to_string())?),
            );
            puts.push(self.execution_put(item)?);
        }
        let mut item = key(pk, EXEC_SK);
        item.insert(
            "record_json".into(),
            s(&encode_json("execution", record).map_err(|e| e.to_string())?),
        );
        if record.is_running() {
            item.insert(GSI1.partition_key.into(), s(RUNNING));
            item.insert(GSI1.sort_key.into(), s(&record.execution_id));
        }
        // Only a long inline history being moved out needs more than one write; events
        // beyond the record's event_count are not read, so the earlier writes are unseen
        // until the last one (with the record) lands.
        while puts.len() > EVENTS_PER_WRITE {
            let rest = puts.split_off(EVENTS_PER_WRITE);
            self.write_execution(std::mem::replace(&mut puts, rest))
                .await?;
        }
        puts.push(self.execution_put(item)?);
        self.write_execution(puts).await
    }

    async fn load_execution(&self, execution_id: &str) -> Result<Option<ExecutionRecord>, String> {
        let item = self
            .get_item(exec_pk(execution_id), EXEC_SK)
            .await
            .map_err(|e| e.to_string())?;
        item.map(|i| decode_json(&i, "record_json").map_err(|e| e.to_string()))
            .transpose()
    }

    async fn list_running_executions(&self) -> Result<Vec<ExecutionRecord>, String> {
        let rows = self
            .query_index(GSI1, RUNNING, None, true, None)
            .await
            .map_err(|e| e.to_string())?;
        rows.iter()
            .map(|i| decode_json::<ExecutionRecord>(i, "record_json").map_err(|e| e.to_string()))
            .filter(|r| r.as_ref().map_or(true, ExecutionRecord::is_running))
            .collect()
    }

    async fn load_history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, String> {
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
                .map_err(|e| unavailable("Query (execution history)", e).to_string())?;
            for item in out.items.unwrap_or_default() {
                events.push(
                    decode_json::<HistoryEvent>(&item, "event_json").map_err(|e| e.to_string())?,
                );
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && events.len() < page.limit => start = Some(k),
                _ => return Ok(events),
            }
        }
    }
}
