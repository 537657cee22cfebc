//! The "what changed since the previous run" part of the success mail: the new failures
//! first (at most [`MAX_LISTED`], each with the first line of its message, "and N more"
//! pointing at the run page), then how many were fixed and how many still fail.

use crate::domain::TestChange;

/// The most new failures a mail lists by name.
pub const MAX_LISTED: usize = 20;

/// What the mail says about the run's tests against the previous comparable run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestChanges {
    /// The run compared with (the item's previous completed run on the same environment).
    pub previous_run_id: i64,
    /// The new failures to list: at most [`MAX_LISTED`] (more are cut off here).
    pub new_failures: Vec<TestChange>,
    /// How many new failures there are in all.
    pub new_failures_total: u64,
    pub fixed: u64,
    pub still_failing: u64,
}

impl TestChanges {
    /// From a comparison's lists and counts; keeps the first [`MAX_LISTED`] new failures.
    pub fn new(
        previous_run_id: i64,
        mut new_failures: Vec<TestChange>,
        new_failures_total: u64,
        fixed: u64,
        still_failing: u64,
    ) -> Self {
        new_failures.truncate(MAX_LISTED);
        Self {
            previous_run_id,
            new_failures,
            new_failures_total,
            fixed,
            still_failing,
        }
    }

    /// The new failures not listed by name.
    pub fn unlisted(&self) -> u64 {
        self.new_failures_total
            .saturating_sub(self.new_failures.len() as u64)
    }
}
