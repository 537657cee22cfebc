//! The executor: persists each transition the pure step decides, and performs the
//! effects (task invocations, waits) on one tokio task per running execution.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::definition::Definition;
use crate::error::{ExecutorError, TaskFailure};
use crate::history::HistoryEvent;
use crate::invoker::TaskInvoker;
use crate::record::{Cursor, ExecutionRecord, Pending};
use crate::step::{self, Effect, Step, StepEnv};
use crate::store::{ExecutionStore, HistoryPage};

/// How the executor treats time. The scales multiply the definition's seconds, so tests
/// run a whole flow in milliseconds (e.g. `0.001`); production uses `1.0`.
#[derive(Clone)]
pub struct ExecutorOptions {
    /// Wait states (`Seconds`, and the distance to a `Timestamp`).
    pub wait_scale: f64,
    /// Retry intervals (`IntervalSeconds` × `BackoffRate`ⁿ, capped by `MaxDelaySeconds`).
    pub retry_scale: f64,
    /// Task and machine `TimeoutSeconds`.
    pub timeout_scale: f64,
    /// Timestamps of history events and the base of wait/retry deadlines.
    pub clock: Arc<dyn Clock>,
    /// `$$.StateMachine.Id` and `$$.StateMachine.Name`.
    pub state_machine_id: String,
    /// The first pause before saving a transition again after the store failed; it
    /// doubles up to `save_backoff_max`. A driver never abandons its execution because
    /// the store is unavailable: it keeps trying (and logs louder after
    /// `save_patience`), so the run still reaches its end and frees its lock.
    pub save_backoff: Duration,
    pub save_backoff_max: Duration,
    /// How long failed saves are retried quietly before each failure is an error log.
    pub save_patience: Duration,
}

impl ExecutorOptions {
    /// Scales waits and retry intervals by `scale`. Timeouts stay real (they are upper
    /// bounds, not sleeps, so they do not slow a test down); set `timeout_scale` to test them.
    pub fn scaled(scale: f64) -> Self {
        ExecutorOptions {
            wait_scale: scale,
            retry_scale: scale,
            ..ExecutorOptions::default()
        }
    }
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            wait_scale: 1.0,
            retry_scale: 1.0,
            timeout_scale: 1.0,
            clock: Arc::new(SystemClock),
            state_machine_id: "statemachine".to_string(),
            save_backoff: Duration::from_millis(100),
            save_backoff_max: Duration::from_secs(30),
            save_patience: Duration::from_secs(600),
        }
    }
}

impl std::fmt::Debug for ExecutorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorOptions")
            .field("wait_scale", &self.wait_scale)
            .field("retry_scale", &self.retry_scale)
            .field("timeout_scale", &self.timeout_scale)
            .field("state_machine_id", &self.state_machine_id)
            .field("save_backoff", &self.save_backoff)
            .field("save_backoff_max", &self.save_backoff_max)
            .field("save_patience", &self.save_patience)
            .finish_non_exhaustive()
    }
}

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

/// A running execution driven by this executor.
struct Driver {
    slot: Arc<Slot>,
    task: JoinHandle<()>,
}

/// The driver's copy of the record. Whoever changes it holds the lock while saving, so
/// a stop and a transition never interleave.
struct Slot {
    record: tokio::sync::Mutex<ExecutionRecord>,
    stopping: AtomicBool,
    /// Notified when `stopping` is set, to cut short a save's backoff.
    stop_requested: tokio::sync::Notify,
}

impl Slot {
    fn new(record: ExecutionRecord) -> Arc<Self> {
        Arc::new(Slot {
            record: tokio::sync::Mutex::new(record),
            stopping: AtomicBool::new(false),
            stop_requested: tokio::sync::Notify::new(),
        })
    }
}

/// What performing the pending effect came to.
enum Performed {
    Effect(Effect),
    MachineTimedOut,
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

    /// Starts driving `record` unless this executor already does. Returns whether it did.
    fn spawn_driver(self: &Arc<Self>, record: ExecutionRecord) -> bool {
        let mut drivers = self.drivers();
        if drivers.contains_key(&record.execution_id) {
            return false;
        }
        let execution_id = record.execution_id.clone();
        let slot = Slot::new(record);
        let task = tokio::spawn(Arc::clone(self).drive(execution_id.clone(), Arc::clone(&slot)));
        drivers.insert(execution_id, Driver { slot, task });
        true
    }

    /// Keeps saving an abort the store refused, as the driver of `aborted` (already
    /// not running, so a second stop returns it and does not save it twice).
    fn save_abort_later(self: &Arc<Self>, aborted: ExecutionRecord, events: Vec<HistoryEvent>) {
        let execution_id = aborted.execution_id.clone();
        let slot = Slot::new(aborted.clone());
        let inner = Arc::clone(self);
        let saver_slot = Arc::clone(&slot);
        let mut drivers = self.drivers();
        let task = tokio::spawn(async move {
            inner.save_patiently(&aborted, &events, None).await;
            tracing::info!(execution_id = %aborted.execution_id, "execution aborted");
            inner.forget(&aborted.execution_id, &saver_slot);
        });
        drivers.insert(execution_id, Driver { slot, task });
    }

    fn forget(&self, execution_id: &str, slot: &Arc<Slot>) {
        let mut drivers = self.drivers();
        if drivers
            .get(execution_id)
            .is_some_and(|d| Arc::ptr_eq(&d.slot, slot))
        {
            drivers.remove(execution_id);
        }
    }

    #[tracing::instrument(skip(self, slot))]
    async fn drive(self: Arc<Self>, execution_id: String, slot: Arc<Slot>) {
        loop {
            let record = slot.record.lock().await.clone();
            if !record.is_running() || slot.stopping.load(Ordering::SeqCst) {
                break;
            }
            let performed = match &record.cursor {
                Some(cursor) => self.perform(&record, cursor).await,
                // A RUNNING record without a cursor cannot go on; the step fails it.
                None => Performed::Effect(Effect::Proceed),
            };
            let mut current = slot.record.lock().await;
            if !current.is_running() || slot.stopping.load(Ordering::SeqCst) {
                break;
            }
            let now = self.now();
            let step = match performed {
                Performed::Effect(effect) => {
                    step::step(&self.definition, &current, effect, &self.env(now))
                }
                Performed::MachineTimedOut => step::time_out(&self.definition),
            };
            let mut next = self.advance(&current, step, now);
            // The events of this transition (plus, once, the inline history of a record
            // stored before history was kept apart).
            let events = std::mem::take(&mut next.events);
            if !self.save_patiently(&next, &events, Some(&slot)).await {
                // Stopped while the store was down: the stop aborts from the last saved
                // record, so this transition never happened.
                break;
            }
            tracing::debug!(state = next.current_state.as_deref(), status = %next.status, "transition");
            *current = next;
        }
        self.forget(&execution_id, &slot);
    }

    fn env(&self, now: DateTime<Utc>) -> StepEnv<'_> {
        StepEnv {
            now,
            wait_scale: self.options.wait_scale,
            retry_scale: self.options.retry_scale,
            state_machine_id: &self.options.state_machine_id,
        }
    }

    fn advance(&self, record: &ExecutionRecord, step: Step, now: DateTime<Utc>) -> ExecutionRecord {
        let mut next = record.clone();
        step::apply(&mut next, step, now);
        next
    }

    /// Saves the transition, retrying with backoff until the store takes it. Giving up
    /// would leave the execution RUNNING, undriven, with its run's lock held until a
    /// restart; waiting costs nothing but this task. Only a stop of `slot` ends the
    /// retrying early (returns false: not saved), so a stop never waits for the store.
    async fn save_patiently(
        &self,
        record: &ExecutionRecord,
        events: &[HistoryEvent],
        slot: Option<&Slot>,
    ) -> bool {
        let started = tokio::time::Instant::now();
        let mut delay = self.options.save_backoff;
        let mut attempts = 0u64;
        loop {
            let error = match self.save(record, events).await {
                Ok(()) => {
                    if attempts > 0 {
                        tracing::info!(attempts, "saved the execution after the store recovered");
                    }
                    return true;
                }
                Err(error) => error,
            };
            attempts += 1;
            if started.elapsed() < self.options.save_patience {
                tracing::warn!(%error, attempts, "saving the execution failed; retrying");
            } else {
                tracing::error!(%error, attempts, "saving the execution still fails; retrying until the store is back");
            }
            match slot {
                None => tokio::time::sleep(delay).await,
                Some(slot) => {
                    let stopped = slot.stop_requested.notified();
                    tokio::pin!(stopped);
                    stopped.as_mut().enable();
                    if slot.stopping.load(Ordering::SeqCst) {
                        return false;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stopped => return false,
                    }
                }
            }
            delay = (delay * 2).min(self.options.save_backoff_max.max(self.options.save_backoff));
        }
    }

    /// Performs the cursor's pending effect, racing the machine's TimeoutSeconds.
    async fn perform(&self, record: &ExecutionRecord, cursor: &Cursor) -> Performed {
        let deadline = self.definition.timeout_seconds.map(|seconds| {
            let timeout = scaled(seconds as f64, self.options.timeout_scale);
            self.until(
                record.started_at
                    + chrono::TimeDelta::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX),
            )
        });
        if deadline == Some(Duration::ZERO) {
            return Performed::MachineTimedOut;
        }
        let work = self.effect(cursor);
        match deadline {
            None => Performed::Effect(work.await),
            Some(deadline) => tokio::select! {
                effect = work => Performed::Effect(effect),
                () = tokio::time::sleep(deadline) => Performed::MachineTimedOut,
            },
        }
    }

    async fn effect(&self, cursor: &Cursor) -> Effect {
        match &cursor.pending {
            Pending::Run => Effect::Proceed,
            Pending::RetryAt { until } | Pending::WaitUntil { until } => {
                self.options.clock.sleep_until(*until).await;
                Effect::Proceed
            }
            Pending::Invoke { resource, input } => {
                let call = self.invoker.invoke(resource, input.clone());
                let result = match step::task_timeout(&self.definition, cursor) {
                    None => call.await,
                    Some(seconds) => tokio::time::timeout(
                        scaled(seconds as f64, self.options.timeout_scale),
                        call,
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(TaskFailure::new(
                            step::TIMEOUT,
                            format!(
                                "the task did not finish within its TimeoutSeconds ({seconds})"
                            ),
                        ))
                    }),
                };
                Effect::TaskDone(result)
            }
        }
    }

    /// How long from now until `at` (zero if it has passed).
    fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
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
