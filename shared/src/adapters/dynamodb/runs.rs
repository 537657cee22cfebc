//! Runs and the run lock on DynamoDB (run ids come from the caller).
//! - start a run: TransactWriteItems [Put lock if `attribute_not_exists(PK) OR
//!   lease_until_ns <= :now_ns` (none, or its lease has ended), Put run if
//!   `attribute_not_exists(PK)`]. Of many concurrent starts exactly one commits. When the
//!   lock's condition failed, the lock is read (consistent) and returned as the holder;
//!   if it is gone or ended meanwhile, the start is tried again. A run id already taken
//!   is `Conflict`; `TransactionConflict` is retried after a short random pause.
//! - update a run: PutItem if `revision = :prev` (`run.revision - 1`); a failed condition
//!   (changed meanwhile, or no such run) is `Conflict`.
//! - runs newest first: Query GSI1 `RUNS` (all) or GSI2 `ITEMRUNS#<item>` (one item),
//!   descending, `GSI?SK < padded(before_id)` for the next page. With a status, a
//!   FilterExpression `status = :s`, following pages until `limit + 1` matches or the end.
//! - the lock: GetItem (consistent); release is DeleteItem if `run_id = :id` (false when
//!   the condition fails: another run holds it, or none does). An expired lock is left in
//!   place (and ignored) until the next start replaces it or TTL removes it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{
    Attrs, Item, corrupt, decode_json, encode_json, fmt_time, get_i64, get_time, n, s,
};
use super::keys::{RUN_LOCK, RUN_SK, RUNS, item_runs_pk, key, padded, run_pk};
use super::requests::{IdOrder, condition_held};
use super::table::{GSI1, GSI2, TTL};
use super::tx::{MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_put, tx_put_new};
use crate::domain::{Run, RunLock, RunStatus};
use crate::ports::{Page, RunStore, StoreError, StoreResult};

/// Nanoseconds since the epoch, exact (the lock is held while `now < lease_until`).
fn epoch_ns(t: DateTime<Utc>) -> AttributeValue {
    let ns = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    AttributeValue::N(ns.to_string())
}

/// How long after its lease the lock item may be removed by TTL: a lapsed lease whose run
/// is still live must keep the lock (a second trigger answers 409 until the sweeper has
/// failed the run), so TTL is only the last cleanup of a lock nobody released.
const LOCK_TTL_AFTER_LEASE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Epoch seconds, rounded up, [`LOCK_TTL_AFTER_LEASE`] after the lease ends.
fn ttl_seconds(lease_until: DateTime<Utc>) -> i64 {
    let t = lease_until + LOCK_TTL_AFTER_LEASE;
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

fn run_item(run: &Run) -> StoreResult<Item> {
    let mut item = key(run_pk(run.id.get()), RUN_SK);
    let pad = padded(run.id.get());
    item.insert(GSI1.partition_key.to_owned(), s(RUNS));
    item.insert(GSI1.sort_key.to_owned(), s(&pad));
    item.insert(
        GSI2.partition_key.to_owned(),
        s(&item_runs_pk(run.test_item_id.get())),
    );
    item.insert(GSI2.sort_key.to_owned(), s(&pad));
    item.insert("id".to_owned(), n(run.id.get()));
    item.insert("test_item_id".to_owned(), n(run.test_item_id.get()));
    item.insert("status".to_owned(), s(run.status.as_str()));
    item.insert("revision".to_owned(), n(run.revision));
    item.insert("run_json".to_owned(), s(&encode_json("run", run)?));
    Ok(item)
}

fn run_from_item(item: &Item) -> StoreResult<Run> {
    let run: Run = decode_json(item, "run_json")?;
    if run.id != get_i64(item, "id")? {
        return Err(corrupt(item, "run_json", "holds another run's id"));
    }
    Ok(run)
}

fn lock_item(run_id: i64, lease_until: DateTime<Utc>) -> Item {
    let mut item = key(RUN_LOCK.to_owned(), RUN_LOCK);
    item.insert("run_id".to_owned(), n(run_id));
    item.insert("lease_until".to_owned(), s(&fmt_time(lease_until)));
    item.insert("lease_until_ns".to_owned(), epoch_ns(lease_until));
    item.insert(TTL.to_owned(), n(ttl_seconds(lease_until)));
    item
}

fn lock_from_item(item: &Item) -> StoreResult<RunLock> {
    Ok(RunLock {
        run_id: get_i64(item, "run_id")?,
        lease_until: get_time(item, "lease_until")?,
    })
}

#[async_trait]
impl RunStore for DynamoStore {
    async fn create_run_with_lock(
        &self,
        run: &Run,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Result<(), RunLock>> {
        let table = &self.table;
        let lock = tx_put(
            table,
            lock_item(run.id.get(), lease_until),
            Some("attribute_not_exists(#pk) OR #lease <= :now"),
            Attrs::pk()
                .name("#lease", "lease_until_ns")
                .value(":now", epoch_ns(now)),
        )?;
        let record = tx_put_new(table, run_item(run)?)?;
        let ops = vec![(Role::Lock, lock), (Role::Main, record)];
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("start run", ops.clone()).await? {
                TxOutcome::Committed => return Ok(Ok(())),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Lock) => {
                    if let Some(held) = self.get_run_lock().await?
                        && held.is_held(now)
                    {
                        return Ok(Err(held));
                    }
                    // Released or replaced meanwhile: try again.
                }
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Conflict(format!(
                        "run id {} is already taken",
                        run.id
                    )));
                }
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "run {} could not take the run lock under concurrent changes; try again",
            run.id
        )))
    }

    async fn get_run(&self, id: i64) -> StoreResult<Option<Run>> {
        match self.get_item(run_pk(id), RUN_SK).await? {
            Some(item) => run_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn update_run(&self, run: &Run) -> StoreResult<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run_item(run)?))
            .condition_expression("#revision = :prev")
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":prev", n(run.revision.saturating_sub(1)))
            .send()
            .await;
        match condition_held("PutItem (run)", result)? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(format!(
                "run {} is not at revision {} (changed meanwhile, or no such run)",
                run.id,
                run.revision.saturating_sub(1)
            ))),
        }
    }

    async fn list_runs(
        &self,
        status: Option<RunStatus>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        let filter = status.map(|st| ("status", s(st.as_str())));
        let order = IdOrder::Before(before_id);
        self.id_page("run", (GSI1, RUNS), order, filter, limit, run_from_item)
            .await
    }

    async fn list_runs_of_item(
        &self,
        test_item_id: i64,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>> {
        let partition = item_runs_pk(test_item_id);
        let order = IdOrder::Before(before_id);
        self.id_page("run", (GSI2, &partition), order, None, limit, run_from_item)
            .await
    }

    async fn get_run_lock(&self) -> StoreResult<Option<RunLock>> {
        match self.get_item(RUN_LOCK.to_owned(), RUN_LOCK).await? {
            Some(item) => lock_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn renew_run_lock(&self, run_id: i64, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(lock_item(run_id, lease_until)))
            .condition_expression("#rid = :id")
            .expression_attribute_names("#rid", "run_id")
            .expression_attribute_values(":id", n(run_id))
            .send()
            .await;
        Ok(condition_held("PutItem (run lock lease)", result)?.is_some())
    }

    async fn release_run_lock(&self, run_id: i64) -> StoreResult<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(RUN_LOCK.to_owned(), RUN_LOCK)))
            .condition_expression("#rid = :id")
            .expression_attribute_names("#rid", "run_id")
            .expression_attribute_values(":id", n(run_id))
            .send()
            .await;
        Ok(condition_held("DeleteItem (run lock)", result)?.is_some())
    }
}
