//! Embedded-executor records on DynamoDB (the local server with `CRAT_STORE=dynamodb`).
//! Item: PK=`EXEC#<id>`, SK=`EXEC`, `record_json`; while RUNNING also GSI1PK=`EXECS_RUNNING`,
//! GSI1SK=<id>, so the running ones form a sparse index that `resume_all` reads.

use async_trait::async_trait;
use statemachine::{ExecutionRecord, ExecutionStore};

use super::{DynamoStore, GSI1, decode_json, encode_json, key, s, unavailable};

const EXEC_SK: &str = "EXEC";
const RUNNING: &str = "EXECS_RUNNING";

fn exec_pk(id: &str) -> String {
    format!("EXEC#{id}")
}

#[async_trait]
impl ExecutionStore for DynamoStore {
    async fn save_execution(&self, record: &ExecutionRecord) -> Result<(), String> {
        let mut item = key(exec_pk(&record.execution_id), EXEC_SK);
        item.insert(
            "record_json".into(),
            s(&encode_json("execution", record).map_err(|e| e.to_string())?),
        );
        if record.is_running() {
            item.insert(GSI1.partition_key.into(), s(RUNNING));
            item.insert(GSI1.sort_key.into(), s(&record.execution_id));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (execution)", e).to_string())?;
        Ok(())
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
}
