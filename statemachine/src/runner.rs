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
use crate::invoker::TaskInvoker;
use crate::record::{Cursor, ExecutionRecord, Pending};
use crate::step::{self, Effect, Step, StepEnv};
use crate::store::ExecutionStore;

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
        let record = step::start(
            &self.inner.definition,
            execution_id,
            input,
            self.inner.now(),
        );
        self.inner.save(&record).await?;
        tracing::info!(state = record.current_state.as_deref(), "execution started");
        if record.is_running() {
            self.inner.spawn_driver(record.clone());
        }
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
            .filter(|record| self.inner.spawn_driver(record.clone()))
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
            return self.inner.abort(record, error, cause).await;
        };
        slot.stopping.store(true, Ordering::SeqCst);
        let mut record = slot.record.lock().await;
        // Holding the lock, the driver is not mid-transition: it waits for an effect
        // or for this lock, and aborting it drops either.
        task.abort();
        self.inner.forget(execution_id, &slot);
        let aborted = self.inner.abort(record.clone(), error, cause).await?;
        *record = aborted.clone();
        Ok(aborted)
    }

    pub async fn describe(
        &self,
        execution_id: &str,
    ) -> Result<Option<ExecutionRecord>, ExecutorError> {
        self.inner.load(execution_id).await
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
                return Ok(record);
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

    async fn save(&self, record: &ExecutionRecord) -> Result<(), ExecutorError> {
        self.store
            .save_execution(record)
            .await
            .map_err(ExecutorError::Store)?;
        self.changed.notify_waiters();
        Ok(())
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
        self.save(&record).await?;
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
        let slot = Arc::new(Slot {
            record: tokio::sync::Mutex::new(record),
            stopping: AtomicBool::new(false),
        });
        let task = tokio::spawn(Arc::clone(self).drive(execution_id.clone(), Arc::clone(&slot)));
        drivers.insert(execution_id, Driver { slot, task });
        true
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
            let next = self.advance(&current, step, now);
            if let Err(error) = self.save_patiently(&next).await {
                // The store keeps the last good transition; a restart resumes from it.
                tracing::error!(%error, "could not persist a transition; no longer driving the execution");
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

    async fn save_patiently(&self, record: &ExecutionRecord) -> Result<(), ExecutorError> {
        let mut delay = Duration::from_millis(100);
        for _ in 0..4 {
            match self.save(record).await {
                Ok(()) => return Ok(()),
                Err(error) => tracing::warn!(%error, "saving the execution failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        self.save(record).await
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
                tokio::time::sleep(self.until(*until)).await;
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

fn scaled(seconds: f64, scale: f64) -> Duration {
    Duration::try_from_secs_f64(seconds * scale).unwrap_or(Duration::MAX)
}
