//! The driver of one running execution: the loop that performs the pending effect
//! (invoke, wait), asks the pure step for the transition and saves it patiently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::{Inner, scaled};
use crate::error::TaskFailure;
use crate::history::HistoryEvent;
use crate::record::{Cursor, ExecutionRecord, Pending};
use crate::step::{self, Effect, Step, StepEnv};

/// A running execution driven by this executor.
pub(super) struct Driver {
    pub(super) slot: Arc<Slot>,
    pub(super) task: JoinHandle<()>,
}

/// The driver's copy of the record. Whoever changes it holds the lock while saving, so
/// a stop and a transition never interleave.
pub(super) struct Slot {
    pub(super) record: tokio::sync::Mutex<ExecutionRecord>,
    pub(super) stopping: AtomicBool,
    /// Notified when `stopping` is set, to cut short a save's backoff.
    pub(super) stop_requested: tokio::sync::Notify,
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

impl Inner {
    /// Starts driving `record` unless this executor already does. Returns whether it did.
    pub(super) fn spawn_driver(self: &Arc<Self>, record: ExecutionRecord) -> bool {
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
    pub(super) fn save_abort_later(
        self: &Arc<Self>,
        aborted: ExecutionRecord,
        events: Vec<HistoryEvent>,
    ) {
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

    pub(super) fn forget(&self, execution_id: &str, slot: &Arc<Slot>) {
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
