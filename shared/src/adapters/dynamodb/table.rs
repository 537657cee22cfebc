//! The table's shape ([`table_schema`]) and its creation.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};

use super::DynamoStore;
use super::requests::{built, unavailable};
use crate::ports::{StoreError, StoreResult};

/// One global secondary index: string keys, projection ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GsiSchema {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The table's shape: the single source of truth for table creation and template checks.
/// Every key attribute is a string (`S`); every index projects ALL attributes; billing is
/// PAY_PER_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub global_secondary_indexes: &'static [GsiSchema],
    /// The TTL attribute (epoch seconds).
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
    pub projection: &'static str,
    pub key_attribute_type: &'static str,
}

pub(super) const PK: &str = "PK";
pub(super) const SK: &str = "SK";
pub(super) const GSI1: GsiSchema = GsiSchema {
    name: "GSI1",
    partition_key: "GSI1PK",
    sort_key: "GSI1SK",
};
pub(super) const GSI2: GsiSchema = GsiSchema {
    name: "GSI2",
    partition_key: "GSI2PK",
    sort_key: "GSI2SK",
};
pub(super) const TTL: &str = "ttl";

/// The table's keys, indexes and TTL attribute.
pub const fn table_schema() -> TableSchema {
    TableSchema {
        partition_key: PK,
        sort_key: SK,
        global_secondary_indexes: &[GSI1, GSI2],
        ttl_attribute: TTL,
        billing_mode: "PAY_PER_REQUEST",
        projection: "ALL",
        key_attribute_type: "S",
    }
}

impl DynamoStore {
    /// Creates the table as [`table_schema`] describes it unless it exists, waits until it
    /// is ACTIVE, and enables TTL on its TTL attribute.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let schema = table_schema();
        let exists = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(unavailable("DescribeTable", e)),
        };
        if !exists {
            let key_type = ScalarAttributeType::from(schema.key_attribute_type);
            let mut attributes = vec![
                attribute_definition(schema.partition_key, &key_type)?,
                attribute_definition(schema.sort_key, &key_type)?,
            ];
            let mut indexes = Vec::new();
            for gsi in schema.global_secondary_indexes {
                attributes.push(attribute_definition(gsi.partition_key, &key_type)?);
                attributes.push(attribute_definition(gsi.sort_key, &key_type)?);
                indexes.push(built(
                    GlobalSecondaryIndex::builder()
                        .index_name(gsi.name)
                        .set_key_schema(Some(key_schema(gsi.partition_key, gsi.sort_key)?))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::from(schema.projection))
                                .build(),
                        )
                        .build(),
                )?);
            }
            let created = self
                .client
                .create_table()
                .table_name(&self.table)
                .billing_mode(BillingMode::from(schema.billing_mode))
                .set_attribute_definitions(Some(attributes))
                .set_key_schema(Some(key_schema(schema.partition_key, schema.sort_key)?))
                .set_global_secondary_indexes(Some(indexes))
                .send()
                .await;
            match created {
                Ok(_) => tracing::info!(table = %self.table, "created DynamoDB table"),
                // Someone else created it meanwhile.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(e) => return Err(unavailable("CreateTable", e)),
            }
        }
        self.wait_until_active().await?;
        self.enable_ttl(schema.ttl_attribute).await
    }

    pub(super) async fn wait_until_active(&self) -> StoreResult<()> {
        for _ in 0..600 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| unavailable("DescribeTable", e))?;
            if let Some(t) = out.table() {
                let indexes_active = t
                    .global_secondary_indexes()
                    .iter()
                    .all(|g| g.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
                if t.table_status() == Some(&TableStatus::Active) && indexes_active {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB table {} did not become ACTIVE within 5 minutes",
            self.table
        )))
    }

    pub(super) async fn enable_ttl(&self, attribute: &str) -> StoreResult<()> {
        let out = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| unavailable("DescribeTimeToLive", e))?;
        if let Some(d) = out.time_to_live_description() {
            let on = matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            );
            if on && d.attribute_name() == Some(attribute) {
                return Ok(());
            }
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(built(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| unavailable("UpdateTimeToLive", e))?;
        Ok(())
    }
}

pub(super) fn attribute_definition(
    name: &str,
    attribute_type: &ScalarAttributeType,
) -> StoreResult<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(attribute_type.clone())
            .build(),
    )
}

pub(super) fn key_schema(partition: &str, sort: &str) -> StoreResult<Vec<KeySchemaElement>> {
    Ok(vec![
        built(
            KeySchemaElement::builder()
                .attribute_name(partition)
                .key_type(KeyType::Hash)
                .build(),
        )?,
        built(
            KeySchemaElement::builder()
                .attribute_name(sort)
                .key_type(KeyType::Range)
                .build(),
        )?,
    ])
}
