//! Run records on DynamoDB (run ids come from the caller); the lanes' locks and queues are
//! in `lanes.rs`.
//! - update a run: PutItem if `revision = :prev` (`run.revision - 1`); a failed condition
//!   (changed meanwhile, or no such run) is `Conflict`.
//! - runs newest first: Query GSI1 `RUNS` (all) or GSI2 `ITEMRUNS#<item>` (one item),
//!   descending, `GSI?SK < padded(before_id)` for the next page. With a status, a
//!   FilterExpression `status = :s`, following pages until `limit + 1` matches or the end.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Item, corrupt, decode_json, encode_json, get_i64, get_opt_s, n, s};
use super::keys::{RUN_SK, RUNS, item_runs_pk, key, padded, run_pk};
use super::requests::{IdOrder, condition_held};
use super::table::{GSI1, GSI2};
use crate::domain::{LaneId, Run, RunLock, RunStatus};
use crate::ports::{Admission, Page, RunStore, StoreError, StoreResult};

pub(super) fn run_item(run: &Run) -> StoreResult<Item> {
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
    item.insert("lane".to_owned(), s(run.lane.as_str()));
    item.insert("run_json".to_owned(), s(&encode_json("run", run)?));
    Ok(item)
}

/// The lane a run item names, read without decoding the run: its `lane` attribute, else
/// the `lane` in its JSON (items written before the attribute), else the default lane
/// (records from before the lanes, or beyond reading).
fn lane_of_raw_run(item: &Item) -> LaneId {
    let from_json = || {
        let json: serde_json::Value =
            serde_json::from_str(get_opt_s(item, "run_json").ok()??).ok()?;
        json.get("lane")?.as_str().map(str::to_owned)
    };
    get_opt_s(item, "lane")
        .ok()
        .flatten()
        .map(str::to_owned)
        .or_else(from_json)
        .and_then(|raw| LaneId::parse("lane", &raw).ok())
        .unwrap_or_default()
}

/// A stored run, its outcome recomputed (records of older versions have none).
pub(super) fn run_from_item(item: &Item) -> StoreResult<Run> {
    let mut run: Run = decode_json(item, "run_json")?;
    if run.id != get_i64(item, "id")? {
        return Err(corrupt(item, "run_json", "holds another run's id"));
    }
    run.refresh_outcome();
    Ok(run)
}

#[async_trait]
impl RunStore for DynamoStore {
    async fn admit_run(
        &self,
        run: &Run,
        queue: bool,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Admission> {
        self.lane_admit(run, queue, lease_until).await
    }

    async fn queued_runs(&self, lane: &LaneId) -> StoreResult<Vec<Run>> {
        self.lane_queue(lane).await
    }

    async fn claim_lane(&self, started: &Run, lease_until: DateTime<Utc>) -> StoreResult<bool> {
        self.lane_claim(started, lease_until).await
    }

    async fn cancel_queued_run(&self, cancelled: &Run) -> StoreResult<bool> {
        self.lane_leave(cancelled).await
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

    async fn get_run_lock(&self, lane: &LaneId) -> StoreResult<Option<RunLock>> {
        self.lane_lock(lane).await
    }

    async fn release_run_lock(&self, lane: &LaneId, run_id: i64) -> StoreResult<bool> {
        self.lane_release(lane, run_id).await
    }

    async fn release_lock_of_run(&self, run_id: i64) -> StoreResult<Option<LaneId>> {
        let lane = match self.get_item(run_pk(run_id), RUN_SK).await? {
            Some(item) => lane_of_raw_run(&item),
            // A run that is gone held the default lane, if any.
            None => LaneId::default_lane(),
        };
        Ok(self.lane_release(&lane, run_id).await?.then_some(lane))
    }

    async fn renew_run_lock(
        &self,
        lane: &LaneId,
        run_id: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.lane_renew(lane, run_id, lease_until).await
    }
}
