//! The audit trail on DynamoDB.
//! - append: the next id from the `audit` counter (UpdateItem), then PutItem on the
//!   condition that no item has that key (entries are never overwritten).
//! - newest first: Query GSI1 `AUDIT` descending; by actor: Query GSI2 `AUDITBY#<actor>`;
//!   a target is a FilterExpression on either.

use async_trait::async_trait;

use super::DynamoStore;
use super::codec::{Item, decode_json, encode_json, n, s};
use super::keys::{AUDIT, AUDIT_SEQUENCE, AUDIT_SK, audit_by_pk, audit_pk, key, padded};
use super::requests::{IdOrder, condition_held};
use super::table::{GSI1, GSI2, PK};
use crate::domain::{AuditEntry, NewAuditEntry};
use crate::ports::{AuditFilter, AuditStore, IdCounters, Page, StoreError, StoreResult};

fn audit_item(entry: &AuditEntry) -> StoreResult<Item> {
    let mut item = key(audit_pk(entry.id), AUDIT_SK);
    let pad = padded(entry.id);
    item.insert(GSI1.partition_key.to_owned(), s(AUDIT));
    item.insert(GSI1.sort_key.to_owned(), s(&pad));
    item.insert(GSI2.partition_key.to_owned(), s(&audit_by_pk(&entry.actor)));
    item.insert(GSI2.sort_key.to_owned(), s(&pad));
    item.insert("id".to_owned(), n(entry.id));
    item.insert("actor".to_owned(), s(&entry.actor));
    item.insert("target".to_owned(), s(&entry.target));
    item.insert(
        "entry_json".to_owned(),
        s(&encode_json("audit entry", entry)?),
    );
    Ok(item)
}

fn audit_from_item(item: &Item) -> StoreResult<AuditEntry> {
    decode_json(item, "entry_json")
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let id = self.next_id(AUDIT_SEQUENCE).await?;
        let stored = AuditEntry::new(id, entry.clone());
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit_item(&stored)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        match condition_held("PutItem (audit entry)", put.send().await)? {
            Some(_) => Ok(stored),
            None => Err(StoreError::Conflict(format!(
                "audit entry {id} exists already (the audit counter is behind)"
            ))),
        }
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEntry, i64>> {
        let by_actor = filter.actor.as_deref().map(audit_by_pk);
        let index = match &by_actor {
            Some(partition) => (GSI2, partition.as_str()),
            None => (GSI1, AUDIT),
        };
        let target = filter.target.as_deref().map(|t| ("target", s(t)));
        self.id_page(
            "audit entry",
            index,
            IdOrder::Before(before),
            target,
            limit,
            audit_from_item,
        )
        .await
    }
}
