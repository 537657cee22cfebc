//! Flaky tests of a test item: tests that both passed and failed for the same build and
//! parameter-set version (re-runs show it), or that the report itself marks flaky.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TestId;

/// The most flaky entries one item's list answers (the most recently seen first).
pub const MAX_FLAKY_LISTED: usize = 1000;

/// Why a test is listed as flaky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlakyReason {
    /// The report marks it flaky (Allure's `flaky`).
    Report,
    /// It passed in one run and failed or broke in another of the same build and version.
    Mixed,
}

/// One flaky test of an item, as last recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlakyTest {
    #[schema(value_type = String)]
    pub id: TestId,
    pub name: String,
    pub reason: FlakyReason,
    /// Runs of that build and version in which it passed / failed or broke.
    pub passed: u64,
    pub failed: u64,
    /// The run that last recorded it.
    pub last_run_id: i64,
    /// When that run ended (or was recorded, when it has no end time).
    pub last_seen_at: DateTime<Utc>,
}
