//! Transactions: every multi-item write is one TransactWriteItems whose writes are tagged
//! with a [`Role`]. A cancellation is read role by role (which write's condition failed)
//! to answer `Conflict` with what clashed; a cancellation by a concurrent transaction
//! only (`TransactionConflict`) is [`TxOutcome::Contended`], retried after [`backoff`].

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};

use super::DynamoStore;
use super::codec::{Attrs, Item};
use super::requests::{built, unavailable};
use crate::ports::StoreResult;

/// How often a lost optimistic race is retried before giving up with `Conflict`.
pub(super) const MAX_ATTEMPTS: usize = 10;

/// What one write of a transaction is, to tell its failed condition apart from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The record itself (build, set, item, run).
    Main,
    /// A parameter-set version (history) record.
    History,
    /// A uniqueness guard being removed.
    OldGuard,
    /// A uniqueness guard being taken (build number, set name, test item name).
    NewGuard,
    /// The default-set pointer.
    Pointer,
    /// A parameter set losing a reference or the default flag.
    OldSet,
    /// A parameter set gaining a reference or the default flag.
    NewSet,
    /// An environment losing a reference.
    OldEnvironment,
    /// An environment gaining a reference.
    NewEnvironment,
    /// The run lock.
    Lock,
    /// An id counter moved from the value read (optimistic: fails when another took it).
    Counter,
    /// The job item moved to its newest build.
    Job,
    /// A run's duplicate guard (one live run per item, build and person).
    Duplicate,
}

/// How a transaction ended, when DynamoDB answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TxOutcome {
    Committed,
    /// Cancelled: these writes' conditions failed.
    ConditionFailed(Vec<Role>),
    /// Cancelled only because another transaction touched the same items: retry.
    Contended,
}

pub(super) fn tx_put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A put that takes a new key: its condition fails (reported under its role) when the
/// key is taken.
pub(super) fn tx_put_new(table: &str, item: Item) -> StoreResult<TransactWriteItem> {
    tx_put(table, item, Some("attribute_not_exists(#pk)"), Attrs::pk())
}

/// The writes that move a uniqueness guard: delete the old one at `old_key`, take
/// `new_guard` (failing as [`Role::NewGuard`] when someone holds it).
pub(super) fn tx_move_guard(
    table: &str,
    old_key: Item,
    new_guard: Item,
) -> StoreResult<[(Role, TransactWriteItem); 2]> {
    Ok([
        (
            Role::OldGuard,
            tx_delete(table, old_key, None, Attrs::default())?,
        ),
        (Role::NewGuard, tx_put_new(table, new_guard)?),
    ])
}

pub(super) fn tx_update(
    table: &str,
    item_key: Item,
    update: &str,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        Update::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().update(op).build())
}

pub(super) fn tx_delete(
    table: &str,
    item_key: Item,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        Delete::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().delete(op).build())
}

pub(super) fn tx_check(
    table: &str,
    item_key: Item,
    condition: &str,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(op).build())
}

/// A short random pause before retrying a contended transaction.
pub(super) async fn backoff(attempt: usize) {
    let cap = 5u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=cap))).await;
}

impl DynamoStore {
    /// Runs a transaction; a cancellation is an answer, not an error.
    pub(super) async fn transact(
        &self,
        what: &str,
        ops: Vec<(Role, TransactWriteItem)>,
    ) -> StoreResult<TxOutcome> {
        let (roles, items): (Vec<Role>, Vec<TransactWriteItem>) = ops.into_iter().unzip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(TxOutcome::Committed),
            Err(e) => e,
        };
        let codes: Vec<&str> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect(),
            _ => return Err(unavailable(&format!("TransactWriteItems ({what})"), err)),
        };
        let failed: Vec<Role> = roles
            .iter()
            .zip(&codes)
            .filter(|(_, code)| **code == "ConditionalCheckFailed")
            .map(|(role, _)| *role)
            .collect();
        if !failed.is_empty() {
            return Ok(TxOutcome::ConditionFailed(failed));
        }
        if codes.contains(&"TransactionConflict") {
            return Ok(TxOutcome::Contended);
        }
        Err(unavailable(&format!("TransactWriteItems ({what})"), err))
    }
}
