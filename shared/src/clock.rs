//! Time comes from a port so tests can move it without sleeping.

use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time, cut to milliseconds so stored and rendered times round-trip.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or(now)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    /// Moves the clock to `at` unless it is there or later already, in one step: a check and
    /// a separate `set` could move it back past an `advance` made in between.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = (*now).max(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn advance_to_never_moves_the_clock_back() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let clock = ManualClock::new(t0);
        clock.advance(TimeDelta::seconds(10));
        clock.advance_to(t0 + TimeDelta::seconds(5));
        assert_eq!(clock.now(), t0 + TimeDelta::seconds(10));
        clock.advance_to(t0 + TimeDelta::seconds(20));
        assert_eq!(clock.now(), t0 + TimeDelta::seconds(20));
        // Beside a thread that keeps advancing, no reading is ever earlier than the last.
        let clock = std::sync::Arc::new(ManualClock::new(t0));
        let ticker = {
            let c = clock.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    c.advance(TimeDelta::milliseconds(1));
                }
            })
        };
        let mut last = clock.now();
        for i in 0..20_000 {
            clock.advance_to(t0 + TimeDelta::milliseconds(i));
            let now = clock.now();
            assert!(now >= last, "the clock went back from {last} to {now}");
            last = now;
        }
        ticker.join().unwrap();
    }
}
