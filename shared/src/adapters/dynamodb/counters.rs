//! Id counters on DynamoDB.
//! - next id: UpdateItem `ADD value :1`, ReturnValues UPDATED_NEW (atomic).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::codec::{get_i64, n};
use super::keys::{COUNTER_SK, counter_pk, key};
use super::requests::unavailable;
use crate::ports::{IdCounters, StoreResult};

#[async_trait]
impl IdCounters for DynamoStore {
    async fn next_id(&self, sequence: &str) -> StoreResult<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(counter_pk(sequence), COUNTER_SK)))
            .update_expression("ADD #value :one")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem (counter)", e))?;
        let attributes = out.attributes.unwrap_or_default();
        get_i64(&attributes, "value")
    }
}
