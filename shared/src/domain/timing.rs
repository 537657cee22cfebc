//! How long a deploy-test run may take: the ONE rule the run lock's lease, the stale-run
//! sweeper's age limit, the bound on `max_monitor_seconds` and the state machine's
//! `TimeoutSeconds` all come from.
//!
//! A healthy run is at most: Download + Trigger (every attempt to its Task `TimeoutSeconds`,
//! with every retry's wait) + the first Wait, then monitoring until its deadline
//! (`max_monitor_seconds` after the first poll), then the tail (the poll running at the
//! deadline, one more Wait, the poll that reports `deadline`), then Finalize (which frees the
//! lock) and Notify. The Task limits below are those of `statemachine/deploy_test.asl.json`;
//! `shared/tests/integration/template_schema.rs` fails when the two drift.

use chrono::{DateTime, TimeDelta, Utc};

use super::{PollDetails, Run, TriggerDetails};

/// One ASL `Retry` entry (no `MaxDelaySeconds`, no jitter; an integer `BackoffRate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrier {
    pub max_attempts: u32,
    pub interval_seconds: u32,
    pub backoff_rate: u32,
}

impl Retrier {
    /// The sum of this retrier's waits when all its attempts are used.
    pub const fn total_wait_seconds(&self) -> u64 {
        let mut total = 0u64;
        let mut wait = self.interval_seconds as u64;
        let mut i = 0;
        while i < self.max_attempts {
            total += wait;
            wait *= self.backoff_rate as u64;
            i += 1;
        }
        total
    }
}

/// A Task state's limits: its `TimeoutSeconds` and its retriers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimits {
    pub timeout_seconds: u32,
    pub retriers: &'static [Retrier],
}

impl TaskLimits {
    /// The longest the Task state can last: every attempt (the first and each retrier's
    /// `MaxAttempts`, counted separately as Step Functions does) to its `TimeoutSeconds`,
    /// plus every retry's wait.
    pub const fn worst_case_seconds(&self) -> u64 {
        let mut attempts = 1u64;
        let mut waits = 0u64;
        let mut i = 0;
        while i < self.retriers.len() {
            attempts += self.retriers[i].max_attempts as u64;
            waits += self.retriers[i].total_wait_seconds();
            i += 1;
        }
        attempts * self.timeout_seconds as u64 + waits
    }
}

/// Step Functions' recommended retry of the Lambda service's own errors (one throttle must
/// not fail a three-hour run); on every Task state.
pub const LAMBDA_RETRY: Retrier = Retrier {
    max_attempts: 3,
    interval_seconds: 2,
    backoff_rate: 2,
};
/// The Lambda service errors [`LAMBDA_RETRY`] retries.
pub const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

const fn crat_retry(max_attempts: u32, interval_seconds: u32) -> Retrier {
    Retrier {
        max_attempts,
        interval_seconds,
        backoff_rate: 2,
    }
}

/// The ASL's Task states, in order.
pub const DOWNLOAD: TaskLimits = TaskLimits {
    timeout_seconds: 960,
    retriers: &[crat_retry(3, 5), LAMBDA_RETRY],
};
pub const TRIGGER: TaskLimits = TaskLimits {
    timeout_seconds: 410,
    retriers: &[crat_retry(3, 5), LAMBDA_RETRY],
};
pub const POLL: TaskLimits = TaskLimits {
    timeout_seconds: 400,
    retriers: &[crat_retry(5, 5), LAMBDA_RETRY],
};
pub const FINALIZE: TaskLimits = TaskLimits {
    timeout_seconds: 120,
    retriers: &[LAMBDA_RETRY, crat_retry(8, 2)],
};
/// Finalize's Catch: the last resort that frees the lock when Finalize kept failing.
pub const RELEASE_LOCK: TaskLimits = TaskLimits {
    timeout_seconds: 120,
    retriers: &[LAMBDA_RETRY, crat_retry(8, 5)],
};
pub const NOTIFY: TaskLimits = TaskLimits {
    timeout_seconds: 540,
    retriers: &[crat_retry(4, 30), LAMBDA_RETRY],
};
/// The chat part of notify (the same function, so the same Lambda timeout as Notify):
/// each channel is retried inside the task, so the state retries only what failed before
/// a channel was tried (the store).
pub const ANNOUNCE: TaskLimits = TaskLimits {
    timeout_seconds: 540,
    retriers: &[crat_retry(3, 10), LAMBDA_RETRY],
};
/// `(ASL state name, its limits)` for every Task state.
pub const TASKS: &[(&str, TaskLimits)] = &[
    ("Download", DOWNLOAD),
    ("Trigger", TRIGGER),
    ("Poll", POLL),
    ("Finalize", FINALIZE),
    ("ReleaseLock", RELEASE_LOCK),
    ("Notify", NOTIFY),
    ("Announce", ANNOUNCE),
];

/// The longest `poll_request_timeout_seconds` the settings accept: trigger's POST and each
/// poll's GET may take that long, so their functions' Timeout is longer.
pub const MAX_POLL_REQUEST_TIMEOUT_SECONDS: u32 = 300;
/// All Allure summary reads of one notify invocation together (up to three files, each
/// within `poll_request_timeout_seconds`) stop after this.
pub const NOTIFY_SUMMARY_BUDGET_SECONDS: u32 = 300;
/// Reading the report's test cases (the case list and up to 500 failure details) stops
/// after this; the run then keeps its counts only, with the reason.
pub const NOTIFY_TEST_CASES_BUDGET_SECONDS: u32 = 90;
/// One SMTP delivery, the whole dialogue, stops after this (a transient mail error then).
pub const SMTP_SEND_BUDGET_SECONDS: u32 = 120;

/// The longest `poll_interval_seconds` the settings accept (the Wait between polls). The
/// Wait's length is fixed when the run is triggered, so the rule assumes the longest.
pub const MAX_POLL_INTERVAL_SECONDS: u32 = 3600;
/// The shortest `poll_interval_seconds` the settings accept.
pub const MIN_POLL_INTERVAL_SECONDS: u32 = 1;

/// A `poll_interval_seconds` as a run uses it: within the settings' range, whatever was
/// stored (settings saved before a bound existed are never re-checked).
pub const fn poll_interval(stored: u32) -> u32 {
    if stored < MIN_POLL_INTERVAL_SECONDS {
        MIN_POLL_INTERVAL_SECONDS
    } else if stored > MAX_POLL_INTERVAL_SECONDS {
        MAX_POLL_INTERVAL_SECONDS
    } else {
        stored
    }
}

/// The Wait interval trigger fixed for `run` (bounded by [`poll_interval`]), if it did
/// (fixed at the first trigger invocation, returned again by every later one).
pub fn run_poll_interval(run: &Run) -> Option<u32> {
    run.details::<TriggerDetails>()
        .poll_interval_seconds
        .map(|n| poll_interval(u32::try_from(n).unwrap_or(u32::MAX)))
}

/// How long poll monitors a run whose Wait is `interval_seconds`: `max_monitor_seconds`,
/// but at most [`MAX_MONITOR_SECONDS_LIMIT`] (the machine's timeout) and at most
/// [`MAX_POLL_CYCLES`](super::MAX_POLL_CYCLES) polls (the history limit). With the reason
/// when it was cut.
pub fn monitor_seconds(max_monitor_seconds: u32, interval_seconds: u32) -> (u32, Option<String>) {
    let interval = poll_interval(interval_seconds);
    let by_cycles = super::MAX_POLL_CYCLES * u64::from(interval);
    let limit = u64::from(MAX_MONITOR_SECONDS_LIMIT).min(by_cycles);
    if u64::from(max_monitor_seconds) <= limit {
        return (max_monitor_seconds, None);
    }
    let why = if limit == by_cycles {
        format!(
            "max_monitor_seconds {max_monitor_seconds} cut to {limit}: at this run's {interval} s poll interval \
             more would exceed {} poll cycles, the most Step Functions' {}-event history holds",
            super::MAX_POLL_CYCLES,
            super::STEP_FUNCTIONS_HISTORY_LIMIT
        )
    } else {
        format!(
            "max_monitor_seconds {max_monitor_seconds} cut to {limit}, the limit that fits the \
             state machine's {MACHINE_TIMEOUT_SECONDS} s timeout"
        )
    };
    // limit <= MAX_MONITOR_SECONDS_LIMIT, a u32.
    (
        u32::try_from(limit).unwrap_or(MAX_MONITOR_SECONDS_LIMIT),
        Some(why),
    )
}

/// Pauses between trigger's attempts to save the task id once the test server has it
/// (about 30 s in all); part of the Trigger function's timeout.
pub const TRIGGER_PERSIST_BACKOFF_MS: [u64; 9] =
    [100, 250, 500, 1000, 2000, 4000, 6000, 8000, 8000];
/// The sum of [`TRIGGER_PERSIST_BACKOFF_MS`], in whole seconds (rounded up).
pub const TRIGGER_PERSIST_BUDGET_SECONDS: u64 = {
    let mut ms = 0;
    let mut i = 0;
    while i < TRIGGER_PERSIST_BACKOFF_MS.len() {
        ms += TRIGGER_PERSIST_BACKOFF_MS[i];
        i += 1;
    }
    ms.div_ceil(1000)
};

/// The state machine's `TimeoutSeconds` (50 h).
pub const MACHINE_TIMEOUT_SECONDS: u64 = 180_000;

/// From run start until monitoring begins, at most: Download, Trigger, the first Wait.
pub const BEFORE_MONITORING_SECONDS: u64 =
    DOWNLOAD.worst_case_seconds() + TRIGGER.worst_case_seconds() + MAX_POLL_INTERVAL_SECONDS as u64;
/// After the monitoring deadline, at most: the poll running at the deadline, a Wait, the poll
/// that reports `deadline`, then Finalize (which frees the lock) or, when it keeps failing,
/// ReleaseLock.
pub const AFTER_DEADLINE_SECONDS: u64 = 2 * POLL.worst_case_seconds()
    + MAX_POLL_INTERVAL_SECONDS as u64
    + FINALIZE.worst_case_seconds()
    + RELEASE_LOCK.worst_case_seconds();
/// Everything but monitoring itself, up to the execution's end (Notify and Announce included).
pub const OVERHEAD_SECONDS: u64 = BEFORE_MONITORING_SECONDS
    + AFTER_DEADLINE_SECONDS
    + NOTIFY.worst_case_seconds()
    + ANNOUNCE.worst_case_seconds();
/// The largest `max_monitor_seconds` the settings accept (39 h, a round number; the README
/// and the site's settings form state it): its worst-case run still ends within
/// [`MACHINE_TIMEOUT_SECONDS`].
pub const MAX_MONITOR_SECONDS_LIMIT: u32 = 39 * 3600;
const _: () = assert!(
    MAX_MONITOR_SECONDS_LIMIT as u64 + OVERHEAD_SECONDS <= MACHINE_TIMEOUT_SECONDS,
    "max_monitor_seconds' limit must fit the machine's TimeoutSeconds"
);

fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX))
}

/// The monitoring deadline poll fixed for `run` (at its first call), if monitoring began.
pub fn monitoring_deadline(run: &Run) -> Option<DateTime<Utc>> {
    run.details::<PollDetails>().deadline
}

/// When a live run's lock lease ends, and when the sweeper may fail it: before monitoring,
/// `started_at` + [`BEFORE_MONITORING_SECONDS`] + `max_monitor_seconds` +
/// [`AFTER_DEADLINE_SECONDS`]; once monitoring began, its own deadline (fixed by poll, not
/// moved by later settings changes) + [`AFTER_DEADLINE_SECONDS`]. A healthy run has
/// finalized (and freed the lock) by then.
pub fn lease_until(run: &Run, max_monitor_seconds: u32) -> DateTime<Utc> {
    match monitoring_deadline(run) {
        Some(deadline) => deadline + secs(AFTER_DEADLINE_SECONDS),
        None => {
            run.started_at
                + secs(BEFORE_MONITORING_SECONDS)
                + secs(u64::from(max_monitor_seconds))
                + secs(AFTER_DEADLINE_SECONDS)
        }
    }
}

/// Whether the sweeper may fail `run` at `now`: live and past [`lease_until`].
pub fn is_stale(run: &Run, max_monitor_seconds: u32, now: DateTime<Utc>) -> bool {
    !run.status.is_terminal() && now > lease_until(run, max_monitor_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RunStatus;
    use crate::domain::StepName;
    use serde_json::Value;

    #[test]
    fn worst_cases_add_every_attempt_and_wait() {
        // (timeout, retriers) → seconds
        const ONE: &[Retrier] = &[crat_retry(3, 5)];
        const TWO: &[Retrier] = &[crat_retry(1, 5), LAMBDA_RETRY];
        let cases: &[(TaskLimits, u64)] = &[
            (
                TaskLimits {
                    timeout_seconds: 10,
                    retriers: &[],
                },
                10,
            ),
            (
                TaskLimits {
                    timeout_seconds: 10,
                    retriers: ONE,
                },
                4 * 10 + 5 + 10 + 20,
            ),
            (
                TaskLimits {
                    timeout_seconds: 10,
                    retriers: TWO,
                },
                5 * 10 + 5 + (2 + 4 + 8),
            ),
            (DOWNLOAD, 7 * 960 + 35 + 14),
            (TRIGGER, 7 * 410 + 35 + 14),
            (POLL, 9 * 400 + 155 + 14),
            (FINALIZE, 12 * 120 + 14 + 510),
            (RELEASE_LOCK, 12 * 120 + 14 + 1275),
            (NOTIFY, 8 * 540 + 450 + 14),
        ];
        for (limits, expected) in cases {
            assert_eq!(limits.worst_case_seconds(), *expected, "{limits:?}");
        }
    }

    /// One notify invocation reads the summary, then the test cases, then sends the mail,
    /// each within its budget: together they fit the function's timeout, with room for
    /// the store writes.
    #[test]
    fn the_notify_budgets_fit_its_timeout() {
        let budgets = NOTIFY_SUMMARY_BUDGET_SECONDS
            + NOTIFY_TEST_CASES_BUDGET_SECONDS
            + SMTP_SEND_BUDGET_SECONDS;
        assert!(budgets + 20 <= NOTIFY.timeout_seconds, "{budgets} s");
    }

    #[test]
    fn the_default_and_the_limit_fit_the_machine() {
        assert_eq!(
            BEFORE_MONITORING_SECONDS,
            6769 + 2919 + 3600,
            "download + trigger + wait"
        );
        assert!(
            u64::from(crate::domain::Settings::default().max_monitor_seconds) + OVERHEAD_SECONDS
                <= MACHINE_TIMEOUT_SECONDS
        );
        assert_eq!(
            OVERHEAD_SECONDS,
            13_288 + 15_831 + 4_784 + ANNOUNCE.worst_case_seconds()
        );
        assert_eq!(
            ANNOUNCE.worst_case_seconds(),
            3_864,
            "7 × 540 s + the waits"
        );
        let slack =
            MACHINE_TIMEOUT_SECONDS - OVERHEAD_SECONDS - u64::from(MAX_MONITOR_SECONDS_LIMIT);
        assert!(
            slack < 3600,
            "the limit uses what the machine allows: {slack} s left"
        );
        const {
            assert!(
                MAX_MONITOR_SECONDS_LIMIT > 24 * 3600,
                "a day of monitoring fits"
            )
        };
    }

    fn run_at(start: DateTime<Utc>) -> Run {
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "id": 1, "test_item_id": 1, "test_item_name": "cds", "build_info_id": 1,
            "build": {"job_name": "J", "build_number": 1, "package_path": "CDN/x"},
            "parameter_set_id": 1, "parameter_set_version": 1, "params": {},
            "triggered_by": "dev@example.com", "status": "DOWNLOADING", "task_id": null,
            "package_url": null, "package_size": null, "package_sha256": null,
            "report_url": null, "summary": null, "error_message": null,
            "execution_id": "run-1", "started_at": start, "finished_at": null,
            "steps": [], "notification": null, "revision": 1
        }))
        .unwrap();
        run.status = RunStatus::Downloading;
        run
    }

    #[test]
    fn the_lease_counts_from_start_then_from_the_monitoring_deadline() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut run = run_at(t0);
        let h = |n: i64| TimeDelta::hours(n);
        // Before monitoring: from the start, with the current max_monitor_seconds.
        assert_eq!(
            lease_until(&run, 3600),
            t0 + secs(BEFORE_MONITORING_SECONDS + 3600 + AFTER_DEADLINE_SECONDS)
        );
        // Monitoring began 3 h in (a slow download): the deadline poll fixed counts.
        let deadline = t0 + h(3) + h(3);
        run.status = RunStatus::Monitoring;
        // Written as an older version stored it (second precision, `+00:00`).
        run.step_mut(StepName::Monitor)
            .details
            .insert("deadline".into(), Value::from(deadline.to_rfc3339()));
        // (table: max_monitor_seconds now, now) → stale?
        for (max_monitor, now, stale) in [
            (10_800, deadline, false),
            (10_800, deadline + secs(AFTER_DEADLINE_SECONDS), false),
            (10_800, deadline + secs(AFTER_DEADLINE_SECONDS + 1), true),
            // A later settings change moves neither the lease nor the sweeper.
            (60, deadline + h(1), false),
            (600_000, deadline + secs(AFTER_DEADLINE_SECONDS + 1), true),
        ] {
            assert_eq!(
                is_stale(&run, max_monitor, now),
                stale,
                "max_monitor {max_monitor}, now {now}"
            );
            assert_eq!(
                lease_until(&run, max_monitor),
                deadline + secs(AFTER_DEADLINE_SECONDS)
            );
        }
        run.status = RunStatus::Completed;
        assert!(
            !is_stale(&run, 60, deadline + h(1000)),
            "ended runs are never stale"
        );
    }

    /// Review: the bounds hold on the values a run uses, whatever the stored settings.
    #[test]
    fn a_run_s_monitoring_is_clamped_to_the_history_and_the_machine() {
        use super::super::MAX_POLL_CYCLES;
        // (max_monitor_seconds, interval) → (seconds monitored, clamped?)
        for (max_monitor, interval, seconds, clamped) in [
            (10_800, 60, 10_800, false),
            (10_800, 5, 10_800, false),
            // 39 h at 5 s polls: 28,080 cycles → 2,400 cycles × 5 s.
            (MAX_MONITOR_SECONDS_LIMIT, 5, 12_000, true),
            (
                MAX_MONITOR_SECONDS_LIMIT,
                60,
                MAX_MONITOR_SECONDS_LIMIT,
                false,
            ),
            // Stored before the bounds: 7 days at 1 s, at 1 h, at 0 s (read as 1 s).
            (7 * 86_400, 1, 2_400, true),
            (7 * 86_400, 3600, MAX_MONITOR_SECONDS_LIMIT, true),
            (7 * 86_400, 0, 2_400, true),
            (7 * 86_400, 100_000, MAX_MONITOR_SECONDS_LIMIT, true),
        ] {
            let (got, why) = monitor_seconds(max_monitor, interval);
            assert_eq!(
                (got, why.is_some()),
                (seconds, clamped),
                "{max_monitor} at {interval}: {why:?}"
            );
            assert!(u64::from(got).div_ceil(u64::from(poll_interval(interval))) <= MAX_POLL_CYCLES);
            assert!(got <= MAX_MONITOR_SECONDS_LIMIT);
        }
        let (_, why) = monitor_seconds(MAX_MONITOR_SECONDS_LIMIT, 5);
        assert!(why.unwrap().contains("2400 poll cycles"));
        let (_, why) = monitor_seconds(7 * 86_400, 3600);
        assert!(why.unwrap().contains("180000 s timeout"));
        assert_eq!(
            (poll_interval(0), poll_interval(7200), poll_interval(30)),
            (1, 3600, 30)
        );
        assert_eq!(TRIGGER_PERSIST_BUDGET_SECONDS, 30);
    }

    #[test]
    fn settings_cannot_outlast_the_machine() {
        let s = crate::domain::Settings::default();
        // 7 days used to be accepted; the execution then timed out with no Finalize.
        let e = s
            .patched(&serde_json::json!({"max_monitor_seconds": 7 * 86_400}))
            .unwrap_err();
        assert_eq!(e.field, "max_monitor_seconds");
        let limit = s
            .patched(&serde_json::json!({"max_monitor_seconds": MAX_MONITOR_SECONDS_LIMIT}))
            .unwrap();
        assert_eq!(limit.max_monitor_seconds, MAX_MONITOR_SECONDS_LIMIT);
        assert!(
            s.patched(&serde_json::json!({"max_monitor_seconds": MAX_MONITOR_SECONDS_LIMIT + 1}))
                .is_err()
        );
    }
}
