//! How the executor treats time and the store: scales for tests, save backoff.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

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
