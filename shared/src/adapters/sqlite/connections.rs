//! The embedded store's connections: one writer that commits in groups, and a few
//! read-only connections that WAL lets run beside it.
//!
//! Writes: every caller sends its closure to one thread that owns the write connection.
//! The thread takes whatever is waiting (up to [`MAX_GROUP`] jobs), runs the jobs one
//! after another inside a single `BEGIN IMMEDIATE` transaction, each in its own
//! savepoint, and COMMITs once: one fsync for the group instead of one per write. A job
//! whose closure fails is rolled back to its savepoint alone; the others keep their
//! writes. Nobody hears back before the COMMIT returns, so an answer always describes
//! durable state; if the COMMIT fails, every job that had succeeded gets that error.
//! Jobs run in order, so each sees the ones before it (check-then-write stays atomic).
//!
//! Reads: a pool of connections with `PRAGMA query_only`, each closure in its own read
//! transaction (one snapshot): a small read on the calling task, a large one on the
//! blocking pool. A read that follows a caller's own
//! acknowledged write sees it: the answer came after the commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::ports::{StoreError, StoreResult};

/// The most jobs committed together: bounds how long one group holds the write lock.
pub(super) const MAX_GROUP: usize = 256;
/// Writes waiting for the writer beyond this make callers wait to enqueue (backpressure).
const QUEUE_BOUND: usize = 4 * MAX_GROUP;
/// Read connections; WAL readers do not block each other or the writer.
pub(super) const READERS: usize = 4;

/// One caller's write as the writer thread sees it.
trait Job: Send {
    /// Runs the closure on the write connection; true when it succeeded.
    fn run(&mut self, c: &Connection) -> bool;
    /// Answers the caller once the group's fate is known: `None` committed, `Some` not.
    fn answer(self: Box<Self>, group_failed: Option<&str>);
}

struct WriteJob<T, F> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, c: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking closure must not take the writer (and every later write) with it.
        let outcome = catch_unwind(AssertUnwindSafe(|| work(c)))
            .unwrap_or_else(|_| Err(StoreError::Unavailable("a store write panicked".into())));
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn answer(self: Box<Self>, group_failed: Option<&str>) {
        let outcome = match (self.outcome, group_failed) {
            // Its own error stands: its effects were rolled back whatever the group did.
            (Some(Err(e)), _) => Err(e),
            (Some(ok), None) => ok,
            (_, Some(why)) => Err(StoreError::Unavailable(format!(
                "the write was not committed: {why}"
            ))),
            (None, None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        // The caller may have stopped waiting (its request was cancelled); nothing to do.
        let _ = self.reply.send(outcome);
    }
}

/// The sending side of the writer thread; the thread ends when every clone is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already migrated).
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel(QUEUE_BOUND);
        std::thread::Builder::new()
            .name("crat-store-writer".into())
            .spawn(move || write_loop(&conn, queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store writer: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next group; answers once that group is committed.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(WriteJob {
            work: Some(f),
            outcome: None,
            reply,
        });
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes waiting for the writer thread (for the grouping tests).
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer stopped".into())
}

fn write_loop(conn: &Connection, mut queue: mpsc::Receiver<Box<dyn Job>>) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let fate = commit_group(conn, &mut group);
        if let Err(why) = &fate {
            tracing::error!(jobs = group.len(), error = %why, "store write group not committed");
        }
        for job in group.drain(..) {
            job.answer(fate.as_ref().err().map(String::as_str));
        }
    }
}

/// Runs every job of `group` in one transaction and commits it.
fn commit_group(c: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), String> {
    c.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("cannot begin: {e}"))?;
    let ran = group
        .iter_mut()
        .try_for_each(|job| run_in_savepoint(c, job.as_mut()));
    let committed = ran.and_then(|()| {
        c.execute_batch("COMMIT")
            .map_err(|e| format!("commit failed: {e}"))
    });
    if committed.is_err() && !c.is_autocommit() {
        // Leaves the connection clean for the next group; the error already says why.
        let _ = c.execute_batch("ROLLBACK");
    }
    committed
}

fn run_in_savepoint(c: &Connection, job: &mut dyn Job) -> Result<(), String> {
    // Cached statements: parsing these three per write cost more than running them.
    run_cached(c, "SAVEPOINT job").map_err(|e| format!("cannot open a savepoint: {e}"))?;
    let succeeded = job.run(c);
    if c.is_autocommit() {
        // SQLite itself rolled the whole transaction back (disk full, I/O error, or the
        // closure ended it): the jobs before this one lost their writes too.
        return Err("the transaction was rolled back during a write".into());
    }
    let undone = if succeeded {
        Ok(())
    } else {
        run_cached(c, "ROLLBACK TO job")
    };
    undone
        .and_then(|()| run_cached(c, "RELEASE job"))
        .map_err(|e| format!("cannot end a savepoint: {e}"))
}

fn run_cached(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(drop)
}

/// Read-only connections, lent one per read.
pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(super) fn new(conns: Vec<Connection>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(conns.len())),
            idle: Mutex::new(conns),
        }
    }

    /// Runs `f` in one read transaction on an idle connection, on the calling task: for
    /// reads that are one indexed lookup or one bounded page (tens of microseconds), where
    /// a hop to the blocking pool and back would cost more than the read itself.
    pub(super) async fn read_here<T>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store's readers are closed".into()))?;
        // A panic in `f` is the store's failure (503), as on the blocking pool, not the
        // request task's; the connection goes back either way (Lent's drop).
        let mut lent = Lent::take(self)?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lent.read(f)))
            .map_err(|_| StoreError::Unavailable("store read failed: it panicked".into()))?
    }

    /// Runs `f` in one read transaction on an idle connection, on the blocking pool: for
    /// reads whose size has no small bound (every test case of a run, a history scan).
    pub(super) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store's readers are closed".into()))?;
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            Lent::take(&readers)?.read(f)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store read failed: {e}")))?
    }
}

/// A connection out of the pool; it goes back on drop, also when the closure panics.
struct Lent<'a> {
    conn: Option<Connection>,
    readers: &'a Readers,
}

impl<'a> Lent<'a> {
    fn take(readers: &'a Readers) -> StoreResult<Self> {
        let conn = readers
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .ok_or_else(|| StoreError::Unavailable("no idle read connection".into()))?;
        Ok(Self {
            conn: Some(conn),
            readers,
        })
    }

    fn read<T>(&mut self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("the read connection is gone".into()))?;
        let tx = conn.transaction().map_err(super::unavailable)?;
        // Dropping `tx` ends the read transaction (nothing to commit).
        f(&tx)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }
}

#[cfg(test)]
mod tests;
