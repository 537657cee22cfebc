//! Id counters on DynamoDB.
//! - next id: UpdateItem `ADD value :1`, ReturnValues UPDATED_NEW (atomic).
//! - give an id back: UpdateItem `ADD value :-1` on the condition `value = :id`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::codec::{get_i64, n};
use super::keys::{COUNTER_SK, counter_pk, key};
use super::requests::{condition_held, unavailable};
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

    async fn give_back_id(&self, sequence: &str, id: i64) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(counter_pk(sequence), COUNTER_SK)))
            .update_expression("ADD #value :minus_one")
            .condition_expression("#value = :id")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":id", n(id))
            // Never retried: a retry after a lost answer could take back an id another
            // trigger was handed meanwhile (the counter at `id` again), and two runs would
            // share it. A give-back that fails only leaves a gap.
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await;
        Ok(condition_held("UpdateItem (counter give-back)", result)?.is_some())
    }
}
