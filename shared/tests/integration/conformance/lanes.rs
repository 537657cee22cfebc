//! Conformance checks for the lanes: one lock per lane, and the FIFO queue behind it.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;
use shared::domain::{LaneId, Run, RunLock, RunStatus};
use shared::ports::{Admission, Store};

use super::runs::{lease, run, start};
use super::t0;

fn lane(name: &str) -> LaneId {
    LaneId::parse("lane", name).unwrap()
}

fn run_in(id: i64, lane_name: &str) -> Run {
    let mut r = run(id, 1);
    r.lane = lane(lane_name);
    r
}

async fn queue(store: &Arc<dyn Store>, r: &Run) -> usize {
    match store.admit_run(r, true, lease()).await.unwrap() {
        Admission::Queued { position } => position,
        other => panic!("run {} was not queued: {other:?}", r.id),
    }
}

fn ids(runs: &[Run]) -> Vec<i64> {
    runs.iter().map(|r| r.id.get()).collect()
}

pub async fn run_lock_admits_one_run_at_a_time(store: Arc<dyn Store>) {
    let default = LaneId::default();
    assert_eq!(store.get_run_lock(&default).await.unwrap(), None);
    start(&store, &run(1, 1), lease()).await.unwrap();
    let held = start(&store, &run(2, 1), lease())
        .await
        .unwrap_err()
        .unwrap();
    assert_eq!((held.run_id, held.lease_until), (1, lease()));
    assert_eq!(
        store.get_run(2).await.unwrap(),
        None,
        "the loser wrote nothing"
    );
    assert!(
        !store.release_run_lock(&default, 2).await.unwrap(),
        "only the holder releases"
    );
    assert!(store.release_run_lock(&default, 1).await.unwrap());
    assert!(!store.release_run_lock(&default, 1).await.unwrap());
    // A lease that lapsed does not free the lane: only a release does (the sweeper fails
    // such a run and releases it; a second run never starts beside a live one).
    start(&store, &run(2, 1), t0() - TimeDelta::hours(1))
        .await
        .unwrap();
    let held = start(&store, &run(3, 1), lease())
        .await
        .unwrap_err()
        .unwrap();
    assert_eq!(held.run_id, 2);
    assert_eq!(
        store.get_run_lock(&default).await.unwrap().unwrap().run_id,
        2
    );
}

pub async fn run_lock_lease_is_renewed_by_its_holder_only(store: Arc<dyn Store>) {
    let default = LaneId::default();
    start(&store, &run(1, 1), lease()).await.unwrap();
    let later = lease() + TimeDelta::hours(3);
    assert!(
        !store.renew_run_lock(&default, 2, later).await.unwrap(),
        "only the holder renews"
    );
    assert!(
        !store
            .renew_run_lock(&lane("other"), 1, later)
            .await
            .unwrap(),
        "only on its own lane"
    );
    assert_eq!(
        store
            .get_run_lock(&default)
            .await
            .unwrap()
            .unwrap()
            .lease_until,
        lease()
    );
    assert!(store.renew_run_lock(&default, 1, later).await.unwrap());
    assert_eq!(
        store.get_run_lock(&default).await.unwrap().unwrap(),
        RunLock {
            lane: default.clone(),
            run_id: 1,
            lease_until: later
        }
    );
    assert!(store.release_run_lock(&default, 1).await.unwrap());
    assert!(
        !store.renew_run_lock(&default, 1, later).await.unwrap(),
        "a released lock is not renewed"
    );
    assert_eq!(store.get_run_lock(&default).await.unwrap(), None);
}

pub async fn concurrent_starts_have_one_winner(store: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for id in 1..=20 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            start(&s, &run(id, 1), lease()).await
        }));
    }
    let mut winners = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        if h.await.unwrap().is_ok() {
            winners.push(i as i64 + 1);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    assert_eq!(
        store
            .get_run_lock(&LaneId::default())
            .await
            .unwrap()
            .unwrap()
            .run_id,
        winners[0]
    );
    assert_eq!(
        store.list_runs(None, None, 200).await.unwrap().items.len(),
        1
    );
}

pub async fn lanes_hold_one_run_each_independently(store: Arc<dyn Store>) {
    start(&store, &run_in(1, "A"), lease()).await.unwrap();
    start(&store, &run_in(2, "B"), lease()).await.unwrap();
    start(&store, &run_in(3, "default"), lease()).await.unwrap();
    assert_eq!(
        start(&store, &run_in(4, "A"), lease())
            .await
            .unwrap_err()
            .unwrap()
            .run_id,
        1
    );
    assert_eq!(
        store
            .get_run_lock(&lane("B"))
            .await
            .unwrap()
            .unwrap()
            .run_id,
        2
    );
    assert!(
        !store.release_run_lock(&lane("B"), 1).await.unwrap(),
        "run 1 holds A, not B"
    );
    assert!(store.release_run_lock(&lane("A"), 1).await.unwrap());
    assert_eq!(store.get_run_lock(&lane("A")).await.unwrap(), None);
    assert_eq!(
        store
            .get_run_lock(&lane("B"))
            .await
            .unwrap()
            .unwrap()
            .run_id,
        2
    );
    // A queue on B is B's alone.
    assert_eq!(queue(&store, &run_in(5, "B")).await, 1);
    assert!(store.queued_runs(&lane("A")).await.unwrap().is_empty());
    start(&store, &run_in(6, "A"), lease()).await.unwrap();
}

/// 100 concurrent admissions on one lane: one starts, 99 wait at distinct places 1–99, and
/// the queue reads back in the order of those places.
pub async fn concurrent_admissions_queue_at_distinct_places(store: Arc<dyn Store>) {
    let mut handles = Vec::new();
    for id in 1..=100 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            (id, s.admit_run(&run(id, 1), true, lease()).await.unwrap())
        }));
    }
    let mut started = Vec::new();
    let mut places = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            (id, Admission::Started) => started.push(id),
            (id, Admission::Queued { position }) => places.push((position, id)),
            (id, other) => panic!("run {id}: {other:?}"),
        }
    }
    assert_eq!(started.len(), 1, "exactly one starts: {started:?}");
    places.sort();
    let positions: Vec<usize> = places.iter().map(|p| p.0).collect();
    assert_eq!(
        positions,
        (1..=99).collect::<Vec<_>>(),
        "distinct places 1-99"
    );
    let queued = store.queued_runs(&LaneId::default()).await.unwrap();
    assert_eq!(
        ids(&queued),
        places.iter().map(|p| p.1).collect::<Vec<_>>(),
        "the queue is in the order of the places handed out"
    );
    assert!(
        queued
            .iter()
            .all(|r| r.status == RunStatus::Queued && r.queued_at.is_some())
    );
    assert_eq!(
        store.list_runs(None, None, 200).await.unwrap().items.len(),
        100,
        "nothing lost"
    );
}

/// When the lane is free, its head claims it once; a newcomer queues behind the waiting
/// runs instead of jumping ahead.
pub async fn the_head_claims_a_freed_lane_exactly_once(store: Arc<dyn Store>) {
    let default = LaneId::default();
    start(&store, &run(1, 1), lease()).await.unwrap();
    assert_eq!(queue(&store, &run(2, 1)).await, 1);
    assert_eq!(queue(&store, &run(3, 1)).await, 2);
    let head = store.queued_runs(&default).await.unwrap().remove(0);
    let started = head.leave_queue(t0() + TimeDelta::minutes(5));
    assert!(
        !store.claim_lane(&started, lease()).await.unwrap(),
        "no claim while the active run holds the lane"
    );
    assert!(store.release_run_lock(&default, 1).await.unwrap());
    // The lane is free but has a queue: a newcomer waits at the end.
    assert_eq!(queue(&store, &run(4, 1)).await, 3);
    let mut claims = Vec::new();
    for _ in 0..8 {
        let (s, r) = (store.clone(), started.clone());
        claims.push(tokio::spawn(async move {
            s.claim_lane(&r, lease()).await.unwrap()
        }));
    }
    let mut wins = 0;
    for c in claims {
        wins += usize::from(c.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one claim wins");
    assert_eq!(
        store.get_run_lock(&default).await.unwrap().unwrap().run_id,
        2
    );
    let stored = store.get_run(2).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.started_at),
        (RunStatus::Pending, started.started_at)
    );
    assert_eq!(ids(&store.queued_runs(&default).await.unwrap()), [3, 4]);
    // A stale head (already started) cannot claim again.
    assert!(store.release_run_lock(&default, 2).await.unwrap());
    assert!(!store.claim_lane(&started, lease()).await.unwrap());
    assert_eq!(store.get_run_lock(&default).await.unwrap(), None);
}

pub async fn a_cancelled_queued_run_leaves_the_queue(store: Arc<dyn Store>) {
    let default = LaneId::default();
    start(&store, &run(1, 1), lease()).await.unwrap();
    for id in 2..=4 {
        queue(&store, &run(id, 1)).await;
    }
    let middle = store.get_run(3).await.unwrap().unwrap();
    let mut cancelled = middle.clone();
    assert!(cancelled.cancel("dev@example.com", t0()));
    cancelled.revision += 1;
    assert!(store.cancel_queued_run(&cancelled).await.unwrap());
    assert_eq!(ids(&store.queued_runs(&default).await.unwrap()), [2, 4]);
    assert_eq!(
        store.get_run(3).await.unwrap().unwrap().status,
        RunStatus::Cancelled
    );
    assert!(
        !store.cancel_queued_run(&cancelled).await.unwrap(),
        "no longer queued at that revision: nothing written"
    );
    // A head that started meanwhile is not cancelled as queued.
    let head = store.get_run(2).await.unwrap().unwrap();
    assert!(store.release_run_lock(&default, 1).await.unwrap());
    assert!(
        store
            .claim_lane(&head.leave_queue(t0()), lease())
            .await
            .unwrap()
    );
    let mut late = head.clone();
    assert!(late.cancel("dev@example.com", t0()));
    late.revision += 1;
    assert!(!store.cancel_queued_run(&late).await.unwrap());
    assert_eq!(
        store.get_run(2).await.unwrap().unwrap().status,
        RunStatus::Pending
    );
    // Places count the runs still waiting.
    assert_eq!(queue(&store, &run(5, 1)).await, 2);
    let waiting: BTreeSet<i64> = ids(&store.queued_runs(&default).await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(waiting, BTreeSet::from([4, 5]));
}

/// Run `id` of item 1, build 3, by one person: every such run is a twin of the others.
fn twin(id: i64) -> Run {
    let mut r = run(id, 1);
    r.triggered_by = shared::domain::Email::parse("by", "twin@example.com").unwrap();
    r
}

/// `n` identical admissions (with queueing) at once: the one admitted, and the ids the
/// others were refused in favour of (each must name the admitted run).
async fn admit_twins(store: &Arc<dyn Store>, first_id: i64, n: i64) -> (Run, Admission, Vec<i64>) {
    let mut handles = Vec::new();
    for id in first_id..first_id + n {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            (id, s.admit_run(&twin(id), true, lease()).await.unwrap())
        }));
    }
    let mut admitted = Vec::new();
    let mut named = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            (_, Admission::Duplicate { twin }) => named.push(twin.id.get()),
            (id, other) => admitted.push((id, other)),
        }
    }
    assert_eq!(admitted.len(), 1, "exactly one admitted: {admitted:?}");
    let (id, how) = admitted.remove(0);
    (store.get_run(id).await.unwrap().unwrap(), how, named)
}

/// Issue 13 review: a double click (identical triggers of the same build and item by the
/// same person) admits one run, on a free lane and behind a busy one; the others are
/// refused naming it, nothing of theirs is stored; once it ends, the same trigger is
/// admitted again. A twin that ended without leaving its lane (a crash) blocks nothing.
pub async fn identical_triggers_admit_one_run_until_it_ends(store: Arc<dyn Store>) {
    let default = LaneId::default();
    // A free lane: one starts.
    let (first, how, named) = admit_twins(&store, 1, 8).await;
    assert_eq!(how, Admission::Started);
    assert_eq!(
        named,
        vec![first.id.get(); 7],
        "the others name the started run"
    );
    assert_eq!(
        store.list_runs(None, None, 200).await.unwrap().items.len(),
        1
    );
    // Without queueing, a busy lane answers as before.
    assert!(matches!(
        store.admit_run(&twin(20), false, lease()).await.unwrap(),
        Admission::Busy { .. }
    ));
    // It ends: the same trigger starts again.
    let mut ended = first.clone();
    ended.finish(None, t0());
    ended.revision += 1;
    store.update_run(&ended).await.unwrap();
    assert!(
        store
            .release_run_lock(&default, first.id.get())
            .await
            .unwrap()
    );
    let (second, how, named) = admit_twins(&store, 30, 6).await;
    assert_eq!(how, Admission::Started);
    assert_eq!(named, vec![second.id.get(); 5]);

    // A busy lane (another person's run holds it after `second` ends): one queues.
    let mut ended = second.clone();
    ended.finish(None, t0());
    ended.revision += 1;
    store.update_run(&ended).await.unwrap();
    assert!(
        store
            .release_run_lock(&default, second.id.get())
            .await
            .unwrap()
    );
    start(&store, &run(50, 1), lease()).await.unwrap();
    let (queued, how, named) = admit_twins(&store, 60, 8).await;
    assert_eq!(how, Admission::Queued { position: 1 });
    assert_eq!(named, vec![queued.id.get(); 7]);
    assert_eq!(
        ids(&store.queued_runs(&default).await.unwrap()),
        [queued.id.get()]
    );
    // Cancelled while queued: the same trigger queues again.
    let mut cancelled = queued.clone();
    assert!(cancelled.cancel("twin@example.com", t0()));
    cancelled.revision += 1;
    assert!(store.cancel_queued_run(&cancelled).await.unwrap());
    let (again, how, named) = admit_twins(&store, 70, 4).await;
    assert_eq!(how, Admission::Queued { position: 1 });
    assert_eq!(named, vec![again.id.get(); 3]);

    // It starts and then ends without releasing the lane (its Finalize crashed): the lane
    // stays held, but the same trigger queues behind the stale lock.
    assert!(store.release_run_lock(&default, 50).await.unwrap());
    let started = again.leave_queue(t0());
    assert!(store.claim_lane(&started, lease()).await.unwrap());
    let mut ended = store.get_run(started.id.get()).await.unwrap().unwrap();
    ended.finish(None, t0());
    ended.revision += 1;
    store.update_run(&ended).await.unwrap();
    assert_eq!(
        store.admit_run(&twin(80), true, lease()).await.unwrap(),
        Admission::Queued { position: 1 },
        "an ended twin is no duplicate"
    );
    // A twin live on one lane refuses the same trigger on another, free lane, queueing
    // or not (the item moved to another environment meanwhile): never two live twins.
    for queue in [false, true] {
        let mut elsewhere = twin(90 + i64::from(queue));
        elsewhere.lane = lane("env-9");
        match store.admit_run(&elsewhere, queue, lease()).await.unwrap() {
            Admission::Duplicate { twin } => assert_eq!(twin.id.get(), 80),
            other => panic!("queue {queue}: {other:?}"),
        }
    }
    assert_eq!(store.get_run_lock(&lane("env-9")).await.unwrap(), None);
}
