//! The executor: persists each transition the pure step decides, and performs the
//! effects (task invocations, waits) on one tokio task per running execution.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::Definition;
use crate::error::ExecutorError;
use crate::history::HistoryEvent;
use crate::invoker::TaskInvoker;
use crate::record::ExecutionRecord;
use crate::step;
use crate::store::{ExecutionStore, HistoryPage};

mod driver;
mod options;

use driver::Driver;
pub use options::ExecutorOptions;

/// Runs executions of one definition. Dropping it stops driving its executions (they
/// stay RUNNING in the store, and [`Executor::resume_all`] on a new one continues them),
/// which is also how tests simulate a crash.
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    definition: Arc<Definition>,
    invoker: Arc<dyn TaskInvoker>,
    store: Arc<dyn ExecutionStore>,
    options: ExecutorOptions,
    drivers: Mutex<HashMap<String, Driver>>,
    /// Notified after every save, for `wait_finished`.
    changed: tokio::sync::Notify,
    /// Serialises `start` so one id is never created twice by this executor.
    starting: tokio::sync::Mutex<()>,
}

impl Executor {
    pub fn new(
        definition: Arc<Definition>,
        invoker: Arc<dyn TaskInvoker>,
        store: Arc<dyn ExecutionStore>,
        options: ExecutorOptions,
    ) -> Self {
        Executor {
            inner: Arc::new(Inner {
                definition,
                invoker,
                store,
                options,
                drivers: Mutex::new(HashMap::new()),
                changed: tokio::sync::Notify::new(),
                starting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn definition(&self) -> &Arc<Definition> {
        &self.inner.definition
    }

    /// Persists a new execution (`ExecutionStarted`, StartAt entered) and drives it on a
    /// spawned task. An id that already exists returns the stored record unchanged.
    #[tracing::instrument(skip(self, input))]
    pub async fn start(
        &self,
        execution_id: &str,
        input: Value,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let _one_at_a_time = self.inner.starting.lock().await;
        if let Some(existing) = self.inner.load(execution_id).await? {
            return Ok(existing);
        }
        let mut record = step::start(
            &self.inner.definition,
            execution_id,
            input,
            self.inner.now(),
        );
        let events = std::mem::take(&mut record.events);
        self.inner.save(&record, &events).await?;
        tracing::info!(state = record.current_state.as_deref(), "execution started");
        if record.is_running() {
            self.inner.spawn_driver(record.clone());
        }
        record.events = events;
        Ok(record)
    }

    /// Continues every RUNNING execution in the store that this executor is not already
    /// driving, from its persisted cursor. A task that was scheduled but not finished is
    /// invoked again (at-least-once); a wait sleeps only what is left of it.
    /// Returns how many executions it picked up.
    pub async fn resume_all(&self) -> Result<usize, ExecutorError> {
        let running = self
            .inner
            .store
            .list_running_executions()
            .await
            .map_err(ExecutorError::Store)?;
        let resumed = running
            .into_iter()
            .filter(|record| self.inner.spawn_driver(adopted(record.clone())))
            .count();
        tracing::info!(resumed, "resumed running executions");
        Ok(resumed)
    }

    /// Ends a RUNNING execution as ABORTED (`ExecutionAborted`) and stops its driver: an
    /// in-flight task invocation is dropped and no further state runs. A finished
    /// execution is returned unchanged.
    #[tracing::instrument(skip(self))]
    pub async fn stop(
        &self,
        execution_id: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let stopped = self.stop_record(execution_id, error, cause).await?;
        self.inner.with_history(stopped).await
    }

    /// [`Executor::stop`] without reading the history back: the record, `events` empty.
    ///
    /// It never waits for the store to recover: a driver retrying a failed save gives up
    /// on that transition, and the abort is saved from the last saved record (so event
    /// ids stay consecutive). If the store refuses the abort too, the stop still holds (no
    /// further state runs), the abort is saved in the background once the store is back,
    /// and this returns the store's error.
    #[tracing::instrument(skip(self))]
    pub async fn stop_record(
        &self,
        execution_id: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let driver = self
            .inner
            .drivers()
            .get(execution_id)
            .map(|d| (d.slot.clone(), d.task.abort_handle()));
        let Some((slot, task)) = driver else {
            let record = self
                .inner
                .load(execution_id)
                .await?
                .ok_or_else(|| ExecutorError::NotFound(execution_id.to_string()))?;
            let mut aborted = self.inner.abort(adopted(record), error, cause).await?;
            aborted.events.clear();
            return Ok(aborted);
        };
        slot.stopping.store(true, Ordering::SeqCst);
        slot.stop_requested.notify_waiters();
        let mut record = slot.record.lock().await;
        if !record.is_running() {
            // Finished, or aborted already (its abort may still be being saved): the
            // driver ends by itself.
            let mut done = record.clone();
            done.events.clear();
            return Ok(done);
        }
        // Holding the lock, the driver is not mid-transition: it waits for an effect
        // or for this lock, and aborting it drops either.
        task.abort();
        let mut aborted = record.clone();
        step::apply(&mut aborted, step::abort(error, cause), self.inner.now());
        let events = std::mem::take(&mut aborted.events);
        *record = aborted.clone();
        drop(record);
        match self.inner.save(&aborted, &events).await {
            Ok(()) => {
                self.inner.forget(execution_id, &slot);
                tracing::info!(execution_id, "execution aborted");
                Ok(aborted)
            }
            Err(error) => {
                tracing::warn!(%error, "saving the abort failed; saving it once the store is back");
                self.inner.save_abort_later(aborted, events);
                Err(error)
            }
        }
    }

    /// The execution with its whole history. For long executions prefer [`Executor::record`]
    /// and [`Executor::history`], which read one page at a time.
    pub async fn describe(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutorError> {
        match self.inner.load(execution_id).await? {
            Some(record) => Ok(Some(self.inner.with_history(record).await?)),
            None => Ok(None),
        }
    }

    /// The execution without its history (`events` empty; `event_count` says how many).
    pub async fn record(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutorError> {
        Ok(self.inner.load(execution_id).await?.map(|mut record| {
            record.adopt_inline_events();
            record.events.clear();
            record
        }))
    }

    /// One page of the execution's history (see [`HistoryPage`]).
    pub async fn history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutorError> {
        self.inner.history(execution_id, page).await
    }

    /// Waits until the execution is no longer RUNNING and returns it.
    pub async fn wait_finished(
        &self,
        execution_id: &str,
        timeout: Duration,
    ) -> Result<ExecutionRecord, ExecutorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let record = self
                .inner
                .load(execution_id)
                .await?
                .ok_or_else(|| ExecutorError::NotFound(execution_id.to_string()))?;
            if !record.is_running() {
                return self.inner.with_history(record).await;
            }
            tokio::select! {
                () = &mut changed => {}
                // Another process may drive it: look again now and then.
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(ExecutorError::WaitTimedOut(execution_id.to_string()));
                }
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        for driver in self.inner.drivers().values() {
            driver.task.abort();
        }
    }
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    fn drivers(&self) -> MutexGuard<'_, HashMap<String, Driver>> {
        // The map is only ever updated whole under the lock; a panic elsewhere cannot
        // leave it half-changed, so a poisoned lock is still usable.
        self.drivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn load(&self, execution_id: &str) -> Result<Option<ExecutionRecord>, ExecutorError> {
        self.store
            .load_execution(execution_id)
            .await
            .map_err(ExecutorError::Store)
    }

    async fn save(
        &self,
        record: &ExecutionRecord,
        new_events: &[HistoryEvent],
    ) -> Result<(), ExecutorError> {
        self.store
            .save_execution(record, new_events)
            .await
            .map_err(ExecutorError::Store)?;
        self.changed.notify_waiters();
        Ok(())
    }

    async fn history(
        &self,
        execution_id: &str,
        page: HistoryPage,
    ) -> Result<Vec<HistoryEvent>, ExecutorError> {
        self.store
            .load_history(execution_id, page)
            .await
            .map_err(ExecutorError::Store)
    }

    /// `record` with its whole history, read page by page.
    async fn with_history(
        &self,
        mut record: ExecutionRecord,
    ) -> Result<ExecutionRecord, ExecutorError> {
        if record.adopt_inline_events() {
            return Ok(record);
        }
        let mut page = HistoryPage::first(1000);
        loop {
            let events = self.history(&record.execution_id, page).await?;
            let next = page.next_after(events.last().map(|e| e.id), record.event_count);
            record.events.extend(events);
            match next {
                Some(after) => page.after = Some(after),
                None => return Ok(record),
            }
        }
    }

    async fn abort(
        &self,
        mut record: ExecutionRecord,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<ExecutionRecord, ExecutorError> {
        if !record.is_running() {
            return Ok(record);
        }
        let now = self.now();
        step::apply(&mut record, step::abort(error, cause), now);
        let events = std::mem::take(&mut record.events);
        self.save(&record, &events).await?;
        tracing::info!(execution_id = %record.execution_id, "execution aborted");
        Ok(record)
    }
}
/// A record as loaded for driving: a record stored with inline history keeps those
/// events, so the next save moves them to the append-only history.
fn adopted(mut record: ExecutionRecord) -> ExecutionRecord {
    record.adopt_inline_events();
    record
}

fn scaled(seconds: f64, scale: f64) -> Duration {
    Duration::try_from_secs_f64(seconds * scale).unwrap_or(Duration::MAX)
}
