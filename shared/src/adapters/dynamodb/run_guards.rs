//! The duplicate guards: one item per live run, keyed by its test item, build and person
//! (`RUNGUARD#...`, holding `run_id`), put in the same transaction that admits the run, so
//! of concurrent identical triggers exactly one is admitted.
//! - admitted (started or queued): Put if `attribute_not_exists(PK)`; a failed condition reads
//!   the guard's run: live → `Duplicate`; ended or gone → the guard is a leftover (a crash
//!   between the run's ending and the guard's removal): DeleteItem if `run_id` unchanged,
//!   and the admission is tried again. So a leftover guard never blocks for long.
//! - the run leaves its lane (release of its lock: ending, cancel, sweeper, force-release;
//!   or cancel while queued): DeleteItem if `run_id = :id`. The lane item names its
//!   holder's guard (`guard`), so a release by run id finds it without reading the run.

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::DynamoStore;
use super::codec::{Attrs, get_opt_i64, n};
use super::keys::{RUN_GUARD_SK, RUN_SK, key, run_guard_pk, run_pk};
use super::requests::condition_held;
use super::runs::run_from_item;
use super::tx::tx_put;
use crate::domain::Run;
use crate::ports::StoreResult;

/// The guard's Put in `run`'s admission: only if no run holds it.
pub(super) fn put_guard(table: &str, run: &Run) -> StoreResult<TransactWriteItem> {
    let mut item = key(run_guard_pk(run), RUN_GUARD_SK);
    item.insert("run_id".to_owned(), n(run.id.get()));
    tx_put(table, item, Some("attribute_not_exists(#pk)"), Attrs::pk())
}

impl DynamoStore {
    /// After `run`'s guard condition failed: the live run holding it, or `None` when the
    /// guard is gone or a leftover (then removed): try the admission again.
    pub(super) async fn twin_of(&self, run: &Run) -> StoreResult<Option<Run>> {
        let guard_pk = run_guard_pk(run);
        let Some(guard) = self.get_item(guard_pk.clone(), RUN_GUARD_SK).await? else {
            return Ok(None);
        };
        let Some(holder) = get_opt_i64(&guard, "run_id")? else {
            return Ok(None);
        };
        let live = match self.get_item(run_pk(holder), RUN_SK).await? {
            Some(item) => match run_from_item(&item) {
                Ok(twin) => Some(twin).filter(|t| !t.status.is_terminal()),
                Err(e) => {
                    // An unreadable run must not block every trigger of its item.
                    tracing::warn!(run_id = holder, error = %e, "a duplicate guard's run cannot be read; guard dropped");
                    None
                }
            },
            None => None,
        };
        if live.is_some() {
            return Ok(live);
        }
        tracing::warn!(
            run_id = holder,
            "dropping a duplicate guard left by an ended run"
        );
        self.drop_guard(guard_pk, holder).await?;
        Ok(None)
    }

    /// Removes the guard `guard_pk` if run `run_id` still holds it.
    pub(super) async fn drop_guard(&self, guard_pk: String, run_id: i64) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(guard_pk, RUN_GUARD_SK)))
            .condition_expression("#rid = :id")
            .expression_attribute_names("#rid", "run_id")
            .expression_attribute_values(":id", n(run_id))
            .send()
            .await;
        condition_held("DeleteItem (duplicate guard)", result)?;
        Ok(())
    }

    /// [`Self::drop_guard`] where the run's own change already stands: a failure is
    /// logged (the next identical trigger removes the leftover).
    pub(super) async fn drop_guard_after(&self, guard_pk: String, run_id: i64) {
        if let Err(e) = self.drop_guard(guard_pk, run_id).await {
            tracing::warn!(run_id, error = %e, "duplicate guard not removed; the next identical trigger will");
        }
    }
}
