//! The writer's grouping and the readers, pinned without timing: a "gate" write holds
//! the writer thread until the test releases it, so the test knows which jobs share a
//! group and can look at the file from outside while the group is still open.

use std::time::Duration;

use rusqlite::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::super::SqliteStore;
use crate::ports::{StoreError, StoreResult};

async fn store_with_scratch() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .write(|c| {
            c.execute_batch(
                "CREATE TABLE scratch (n INTEGER PRIMARY KEY);
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .map_err(super::super::unavailable)
        })
        .await
        .unwrap();
    (dir, store)
}

/// A write that signals when the writer runs it and then blocks until released.
struct Gate {
    started: oneshot::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
    done: JoinHandle<StoreResult<()>>,
}

fn gate(store: &SqliteStore) -> Gate {
    let (started_tx, started) = oneshot::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let s = store.clone();
    let done = tokio::spawn(async move {
        s.write(move |_| {
            let _ = started_tx.send(());
            let _ = wait.recv();
            Ok(())
        })
        .await
    });
    Gate {
        started,
        release,
        done,
    }
}

/// Waits until `n` writes are queued behind the running one.
async fn until_queued(store: &SqliteStore, n: usize) {
    for _ in 0..10_000 {
        if store.writer.queued() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{n} writes never got queued");
}

fn insert(store: &SqliteStore, n: i64, then_fail: bool) -> JoinHandle<StoreResult<()>> {
    let s = store.clone();
    tokio::spawn(async move {
        s.write(move |c| {
            c.execute("INSERT INTO scratch (n) VALUES (?1)", [n])
                .map_err(super::super::unavailable)?;
            if then_fail {
                return Err(StoreError::Conflict(format!("job {n} refuses")));
            }
            Ok(())
        })
        .await
    })
}

fn committed_rows(dir: &TempDir) -> Vec<i64> {
    let outside = Connection::open(dir.path().join("crat.db")).unwrap();
    let mut stmt = outside.prepare("SELECT n FROM scratch ORDER BY n").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Holds the writer, queues `jobs` behind it, and returns the gate that closes their
/// group (queued last, so it runs after them inside the same transaction).
async fn one_group(
    store: &SqliteStore,
    jobs: impl FnOnce() -> Vec<JoinHandle<StoreResult<()>>>,
) -> (Vec<JoinHandle<StoreResult<()>>>, Gate) {
    let mut first = gate(store);
    (&mut first.started).await.unwrap();
    let handles = jobs();
    until_queued(store, handles.len()).await;
    let last = gate(store);
    until_queued(store, handles.len() + 1).await;
    first.release.send(()).unwrap();
    first.done.await.unwrap().unwrap();
    (handles, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_come_only_after_the_group_is_committed() {
    let (dir, store) = store_with_scratch().await;
    let (handles, mut last) = one_group(&store, || {
        (1..=20).map(|n| insert(&store, n, false)).collect()
    })
    .await;
    // Every job of the group has run (the closing gate is running) ...
    (&mut last.started).await.unwrap();
    // ... yet nothing is committed, so nobody has been answered.
    assert!(
        committed_rows(&dir).is_empty(),
        "the group is not committed yet"
    );
    assert!(
        handles.iter().all(|h| !h.is_finished()),
        "no answer before the commit"
    );
    last.release.send(()).unwrap();
    for h in handles {
        h.await.unwrap().unwrap();
        // The caller's answer means the row is on disk for any other connection.
        assert!(!committed_rows(&dir).is_empty());
    }
    assert_eq!(committed_rows(&dir), (1..=20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_undone_alone_and_the_group_keeps_the_others() {
    let (dir, store) = store_with_scratch().await;
    let (handles, last) = one_group(&store, || {
        (1..=12).map(|n| insert(&store, n, n % 4 == 0)).collect()
    })
    .await;
    last.release.send(()).unwrap();
    for (n, h) in (1..=12).zip(handles) {
        match h.await.unwrap() {
            Err(StoreError::Conflict(why)) if n % 4 == 0 => assert!(why.contains("refuses")),
            Ok(()) if n % 4 != 0 => {}
            other => panic!("job {n}: {other:?}"),
        }
    }
    let kept: Vec<i64> = (1..=12).filter(|n| n % 4 != 0).collect();
    assert_eq!(
        committed_rows(&dir),
        kept,
        "the failed jobs' rows are undone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_fails_every_job_of_the_group_and_the_writer_goes_on() {
    let (dir, store) = store_with_scratch().await;
    let (handles, last) = one_group(&store, || {
        let s = store.clone();
        // A deferred foreign key is checked at COMMIT only: this job passes, the commit fails.
        let orphan = tokio::spawn(async move {
            s.write(|c| {
                c.execute("INSERT INTO child (p) VALUES (99)", [])
                    .map_err(super::super::unavailable)
            })
            .await
            .map(|_| ())
        });
        vec![insert(&store, 1, false), orphan]
    })
    .await;
    last.release.send(()).unwrap();
    for h in handles {
        match h.await.unwrap() {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("FOREIGN KEY"), "{why}"),
            other => panic!("a job of a failed commit must fail: {other:?}"),
        }
    }
    assert!(
        last.done.await.unwrap().is_err(),
        "the gate shared the group"
    );
    assert!(committed_rows(&dir).is_empty());
    insert(&store, 2, false).await.unwrap().unwrap();
    assert_eq!(committed_rows(&dir), [2], "the next group commits");
}

/// The writer thread prints this panic on stderr (it is not the test's thread): expected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_fails_alone() {
    let (dir, store) = store_with_scratch().await;
    let s = store.clone();
    let panicked = s
        .write(|c| -> StoreResult<()> {
            c.execute("INSERT INTO scratch (n) VALUES (1)", [])
                .map_err(super::super::unavailable)?;
            panic!("a bug in a write closure");
        })
        .await;
    assert!(matches!(panicked, Err(StoreError::Unavailable(_))));
    insert(&store, 2, false).await.unwrap().unwrap();
    assert_eq!(committed_rows(&dir), [2]);
}

/// `n` reads at once, each answering that the scratch table holds `rows` rows.
async fn reads_all_see(store: &SqliteStore, n: usize, rows: i64) {
    let reads = (0..n).map(|_| {
        let s = store.clone();
        tokio::spawn(async move {
            s.read(|c| {
                c.query_row("SELECT count(*) FROM scratch", [], |r| r.get::<_, i64>(0))
                    .map_err(super::super::unavailable)
            })
            .await
        })
    });
    for r in reads {
        assert_eq!(r.await.unwrap().unwrap(), rows);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_beside_a_busy_writer_and_cannot_write() {
    let (_dir, store) = store_with_scratch().await;
    insert(&store, 1, false).await.unwrap().unwrap();
    let mut held = gate(&store);
    (&mut held.started).await.unwrap();
    // The writer is stuck in a job; reads answer anyway, from the last commit.
    reads_all_see(&store, 8, 1).await;
    let refused = store
        .read(|c| {
            c.execute("INSERT INTO scratch (n) VALUES (5)", [])
                .map_err(super::super::unavailable)
        })
        .await;
    assert!(refused.is_err(), "a read connection is read-only");
    held.release.send(()).unwrap();
    held.done.await.unwrap().unwrap();
}

/// A panic inside an inline read (on the request's own task) is a store error, and its
/// connection goes back to the pool: afterwards as many reads as there are connections
/// still run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_read_fails_alone_and_keeps_its_connection() {
    let (_dir, store) = store_with_scratch().await;
    insert(&store, 1, false).await.unwrap().unwrap();
    for _ in 0..2 * super::READERS {
        let panicked = store
            .read(|_| -> StoreResult<()> { panic!("a bug in a read closure") })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Unavailable(_))),
            "{panicked:?}"
        );
    }
    reads_all_see(&store, super::READERS, 1).await;
}
