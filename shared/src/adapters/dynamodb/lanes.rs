//! The lanes on DynamoDB: one lane item per lane (the old single run lock is the default
//! lane's) holding the lock (`run_id`, `lease_until`) and the queue's counters (`tail`: the
//! last place handed out; `queued`: how many wait), and one queue entry per waiting run
//! (`QUEUE#<lane>`, SK the padded place). Every decision is one TransactWriteItems whose
//! first write is conditional on the lane item, so the lane item serialises them:
//! - start: [Update lane if no `run_id` and `queued` is 0: take the lock; Put run (new);
//!   Put its duplicate guard (new: `run_guards.rs`)].
//! - queue: read the lane (consistent), then [Update lane if busy and `tail` unchanged:
//!   `tail + 1`, `queued + 1`; Put the QUEUED run (new); Put its entry (new); Put its
//!   duplicate guard (new)]. The place is 1 + the entries before it (a consistent Query count).
//! - claim by the head: [Update lane if no `run_id`: take the lock, `queued - 1`; Delete the
//!   entry (must exist); Put the run if still QUEUED at the previous revision].
//! - cancel while queued: [Update lane `queued - 1`; Delete the entry; Put the run (same
//!   condition)], then its guard is dropped.
//! - release / renew: UpdateItem if `run_id = :id`; a release then drops the guard the lane
//!   item names (`guard`, taken with the lock). The lane item carries no TTL: it holds
//!   the queue's counters, and a lapsed lease never frees a lane by itself.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Attrs, Item, fmt_time, get_opt_i64, get_opt_s, get_time, n, s};
use super::keys::{RUN_LOCK, key, lane_pk, padded, queue_pk, run_guard_pk};
use super::requests::{condition_held, unavailable};
use super::run_guards::put_guard;
use super::runs::run_item;
use super::table::{PK, SK, TTL};
use super::tx::{MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_delete, tx_put, tx_put_new, tx_update};
use crate::domain::{LaneId, MAX_QUEUED_PER_LANE, Run, RunLock, RunStatus};
use crate::ports::{Admission, StoreError, StoreResult};

/// How often a trigger re-reads a contended lane before giving up with `Conflict`: a
/// lane item takes one queue change at a time, so a burst of triggers waits in turn.
const MAX_LANE_ATTEMPTS: usize = 400;

/// Nanoseconds since the epoch, exact.
fn epoch_ns(t: DateTime<Utc>) -> AttributeValue {
    let ns = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    AttributeValue::N(ns.to_string())
}

fn lane_key(lane: &LaneId) -> Item {
    key(lane_pk(lane), RUN_LOCK)
}

fn entry_key(lane: &LaneId, seq: i64) -> Item {
    key(queue_pk(lane), &padded(seq))
}

/// The placeholders every lane write uses.
fn lane_attrs() -> Attrs {
    Attrs::default()
        .name("#rid", "run_id")
        .name("#q", "queued")
        .name("#tail", "tail")
}

fn take_lock(attrs: Attrs, run: &Run, lease_until: DateTime<Utc>) -> Attrs {
    attrs
        .name("#lease", "lease_until")
        .name("#lease_ns", "lease_until_ns")
        .name("#ttl", TTL)
        .name("#guard", "guard")
        .value(":id", n(run.id.get()))
        .value(":guard", s(&run_guard_pk(run)))
        .value(":lease", s(&fmt_time(lease_until)))
        .value(":lease_ns", epoch_ns(lease_until))
}

const TAKE_LOCK: &str =
    "SET #rid = :id, #lease = :lease, #lease_ns = :lease_ns, #guard = :guard REMOVE #ttl";

/// The lane item as read: its lock, and its queue's counters.
struct LaneState {
    lock: Option<RunLock>,
    tail: i64,
    queued: i64,
}

/// The run put of a claim or cancel: only over the QUEUED run at the previous revision.
fn put_over_queued(table: &str, run: &Run) -> StoreResult<TransactWriteItem> {
    tx_put(
        table,
        run_item(run)?,
        Some("#revision = :prev AND #status = :queued"),
        Attrs::default()
            .name("#revision", "revision")
            .name("#status", "status")
            .value(":prev", n(run.revision - 1))
            .value(":queued", s(RunStatus::Queued.as_str())),
    )
}

/// The writes that take `run` out of its lane's queue (it starts or is cancelled):
/// `lane_update` on the lane item, the delete of its queue entry (which must exist), and
/// `run` put over its QUEUED revision.
fn leave_queue_ops(
    table: &str,
    run: &Run,
    lane_update: TransactWriteItem,
) -> StoreResult<Vec<(Role, TransactWriteItem)>> {
    let entry = entry_key(&run.lane, seq_of(run)?);
    Ok(vec![
        (Role::Lock, lane_update),
        (
            Role::OldGuard,
            tx_delete(table, entry, Some("attribute_exists(#pk)"), Attrs::pk())?,
        ),
        (Role::Main, put_over_queued(table, run)?),
    ])
}

fn seq_of(run: &Run) -> StoreResult<i64> {
    run.queue_seq.ok_or_else(|| {
        StoreError::Corrupt(format!("run {} is QUEUED without a queue place", run.id))
    })
}

impl DynamoStore {
    async fn lane_state(&self, lane: &LaneId) -> StoreResult<LaneState> {
        let Some(item) = self.get_item(lane_pk(lane), RUN_LOCK).await? else {
            return Ok(LaneState {
                lock: None,
                tail: 0,
                queued: 0,
            });
        };
        let lock = match get_opt_i64(&item, "run_id")? {
            Some(run_id) => Some(RunLock {
                lane: lane.clone(),
                run_id,
                lease_until: get_time(&item, "lease_until")?,
            }),
            None => None,
        };
        Ok(LaneState {
            lock,
            tail: get_opt_i64(&item, "tail")?.unwrap_or(0),
            queued: get_opt_i64(&item, "queued")?.unwrap_or(0),
        })
    }

    pub(super) async fn lane_lock(&self, lane: &LaneId) -> StoreResult<Option<RunLock>> {
        Ok(self.lane_state(lane).await?.lock)
    }

    /// One start attempt: `None` when the lane is busy or has a queue (or a leftover
    /// duplicate guard was removed): look again.
    async fn try_start(
        &self,
        run: &Run,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<Admission>> {
        let table = &self.table;
        let lock = tx_update(
            table,
            lane_key(&run.lane),
            TAKE_LOCK,
            Some("attribute_not_exists(#rid) AND (attribute_not_exists(#q) OR #q = :zero)"),
            take_lock(
                Attrs::default().name("#rid", "run_id").name("#q", "queued"),
                run,
                lease_until,
            )
            .value(":zero", n(0)),
        )?;
        let ops = vec![
            (Role::Lock, lock),
            (Role::Main, tx_put_new(table, run_item(run)?)?),
            (Role::Duplicate, put_guard(table, run)?),
        ];
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("start run", ops.clone()).await? {
                TxOutcome::Committed => return Ok(Some(Admission::Started)),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Lock) => {
                    return Ok(None);
                }
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Duplicate) => {
                    return self.refused_as_duplicate(run).await;
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
        Ok(None)
    }

    /// One queue attempt at place `tail + 1`: `None` when the lane moved meanwhile.
    async fn try_enqueue(&self, run: &Run, tail: i64) -> StoreResult<Option<Admission>> {
        let table = &self.table;
        let seq = tail + 1;
        let tail_unchanged = if tail == 0 {
            "attribute_not_exists(#tail)"
        } else {
            "#tail = :tail"
        };
        let mut attrs = lane_attrs()
            .value(":seq", n(seq))
            .value(":zero", n(0))
            .value(":one", n(1));
        if tail != 0 {
            attrs = attrs.value(":tail", n(tail));
        }
        let lane = tx_update(
            table,
            lane_key(&run.lane),
            "SET #tail = :seq, #q = if_not_exists(#q, :zero) + :one",
            Some(&format!(
                "(attribute_exists(#rid) OR #q > :zero) AND {tail_unchanged}"
            )),
            attrs,
        )?;
        let mut entry = entry_key(&run.lane, seq);
        entry.insert("run_id".to_owned(), n(run.id.get()));
        let ops = vec![
            (Role::Lock, lane),
            (Role::Main, tx_put_new(table, run_item(&run.queued(seq))?)?),
            (Role::NewGuard, tx_put_new(table, entry)?),
            (Role::Duplicate, put_guard(table, run)?),
        ];
        match self.transact("queue run", ops).await? {
            TxOutcome::Committed => {}
            TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Lock) => return Ok(None),
            TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Duplicate) => {
                return self.refused_as_duplicate(run).await;
            }
            TxOutcome::ConditionFailed(_) => {
                return Err(StoreError::Conflict(format!(
                    "run id {} is already taken",
                    run.id
                )));
            }
            TxOutcome::Contended => return Ok(None),
        }
        let ahead = self.entries_before(&run.lane, seq).await?;
        Ok(Some(Admission::Queued {
            position: ahead + 1,
        }))
    }

    /// `Duplicate` naming the live run holding `run`'s guard; `None` (try again) when
    /// the guard was a leftover.
    async fn refused_as_duplicate(&self, run: &Run) -> StoreResult<Option<Admission>> {
        Ok(self.twin_of(run).await?.map(|twin| Admission::Duplicate {
            twin: Box::new(twin),
        }))
    }

    async fn entries_before(&self, lane: &LaneId, seq: i64) -> StoreResult<usize> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk < :seq")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(&queue_pk(lane)))
            .expression_attribute_values(":seq", s(&padded(seq)))
            .select(Select::Count)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("Query (queue count)", e))?;
        // A queue never holds more than MAX_QUEUED_PER_LANE entries: one page counts them.
        Ok(out.count().max(0) as usize)
    }

    pub(super) async fn lane_admit(
        &self,
        run: &Run,
        queue: bool,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Admission> {
        for attempt in 0..MAX_LANE_ATTEMPTS {
            let state = self.lane_state(&run.lane).await?;
            if state.lock.is_none() && state.queued == 0 {
                if let Some(started) = self.try_start(run, lease_until).await? {
                    return Ok(started);
                }
                continue;
            }
            if !queue || state.queued >= MAX_QUEUED_PER_LANE as i64 {
                return Ok(Admission::Busy {
                    lock: state.lock,
                    queue_full: queue,
                });
            }
            if let Some(queued) = self.try_enqueue(run, state.tail).await? {
                return Ok(queued);
            }
            backoff(attempt.min(3)).await;
        }
        Err(StoreError::Conflict(format!(
            "run {} could not join lane {} under concurrent changes; try again",
            run.id, run.lane
        )))
    }

    pub(super) async fn lane_queue(&self, lane: &LaneId) -> StoreResult<Vec<Run>> {
        let entries = self.query_partition(&queue_pk(lane), None).await?;
        let ids: Vec<i64> = entries
            .iter()
            .filter_map(|e| get_opt_i64(e, "run_id").transpose())
            .collect::<StoreResult<_>>()?;
        let keys = ids
            .iter()
            .map(|id| key(super::keys::run_pk(*id), super::keys::RUN_SK))
            .collect();
        let mut runs: Vec<Run> = self
            .batch_get(keys)
            .await?
            .iter()
            .map(super::runs::run_from_item)
            .collect::<StoreResult<_>>()?;
        runs.retain(|r| r.status == RunStatus::Queued);
        runs.sort_by_key(|r| r.queue_seq);
        Ok(runs)
    }

    pub(super) async fn lane_claim(
        &self,
        started: &Run,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let table = &self.table;
        let lane = tx_update(
            table,
            lane_key(&started.lane),
            &format!("{TAKE_LOCK} ADD #q :minus_one"),
            Some("attribute_not_exists(#rid)"),
            take_lock(
                Attrs::default().name("#rid", "run_id").name("#q", "queued"),
                started,
                lease_until,
            )
            .value(":minus_one", n(-1)),
        )?;
        let ops = leave_queue_ops(table, started, lane)?;
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("claim lane", ops.clone()).await? {
                TxOutcome::Committed => return Ok(true),
                TxOutcome::ConditionFailed(_) => return Ok(false),
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Ok(false)
    }

    pub(super) async fn lane_leave(&self, cancelled: &Run) -> StoreResult<bool> {
        let table = &self.table;
        let lane = tx_update(
            table,
            lane_key(&cancelled.lane),
            "ADD #q :minus_one",
            None,
            Attrs::default()
                .name("#q", "queued")
                .value(":minus_one", n(-1)),
        )?;
        let ops = leave_queue_ops(table, cancelled, lane)?;
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("cancel queued run", ops.clone()).await? {
                TxOutcome::Committed => {
                    self.drop_guard_after(run_guard_pk(cancelled), cancelled.id.get())
                        .await;
                    return Ok(true);
                }
                // The run is not QUEUED at that revision (it started meanwhile), or its
                // entry is gone with it.
                TxOutcome::ConditionFailed(_) => return Ok(false),
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "the lane of queued run {} kept changing; try again",
            cancelled.id
        )))
    }

    pub(super) async fn lane_release(&self, lane: &LaneId, run_id: i64) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(lane_key(lane)))
            .update_expression("REMOVE #rid, #lease, #lease_ns, #guard")
            .condition_expression("#rid = :id")
            .expression_attribute_names("#rid", "run_id")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#lease_ns", "lease_until_ns")
            .expression_attribute_names("#guard", "guard")
            .expression_attribute_values(":id", n(run_id))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let Some(out) = condition_held("UpdateItem (release lane)", result)? else {
            return Ok(false);
        };
        // A lock taken before the guards existed names none.
        if let Some(guard) = out
            .attributes()
            .and_then(|a| get_opt_s(a, "guard").ok().flatten())
        {
            self.drop_guard_after(guard.to_owned(), run_id).await;
        }
        Ok(true)
    }

    pub(super) async fn lane_renew(
        &self,
        lane: &LaneId,
        run_id: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(lane_key(lane)))
            .update_expression("SET #lease = :lease, #lease_ns = :lease_ns")
            .condition_expression("#rid = :id")
            .expression_attribute_names("#rid", "run_id")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#lease_ns", "lease_until_ns")
            .expression_attribute_values(":id", n(run_id))
            .expression_attribute_values(":lease", s(&fmt_time(lease_until)))
            .expression_attribute_values(":lease_ns", epoch_ns(lease_until))
            .send()
            .await;
        Ok(condition_held("UpdateItem (lane lease)", result)?.is_some())
    }
}
