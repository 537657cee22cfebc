//! Lanes: one per test environment, at most one active run in each, a FIFO queue behind it.
//! A lane is named by the environment's id, or `default` for runs of items without one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;

/// The lane a run waits in and holds: `default` or a test environment's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "default")]
pub struct LaneId(String);

impl LaneId {
    /// The lane of items without a test environment (the settings' test server).
    pub const DEFAULT: &'static str = "default";
    pub const MAX_CHARS: usize = 64;

    pub fn default_lane() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    /// Parses input (a path segment): 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let ok = (1..=Self::MAX_CHARS).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be `default` or a test environment id (1-64 letters, digits, '.', '_' or '-')",
            ))
        }
    }

    pub fn of_environment(id: super::EnvironmentId) -> Self {
        Self(id.to_string())
    }

    /// A lane name as stored: taken as it is.
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LaneId {
    fn default() -> Self {
        Self::default_lane()
    }
}

impl std::fmt::Display for LaneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one place that says which lane a test item's runs use: its environment's, or the
/// default lane for an item without one.
pub fn lane_of(item: &super::TestItem) -> LaneId {
    lane_of_environment(item.environment_id)
}

/// The lane of the runs on environment `id` (`None`: the default environment). A run's lane
/// is its environment's, so that one test server never has two active runs.
pub fn lane_of_environment(id: Option<super::EnvironmentId>) -> LaneId {
    match id {
        Some(id) => LaneId::of_environment(id),
        None => LaneId::default_lane(),
    }
}

/// The most runs one lane's queue holds; a trigger past it is refused (409 `queue_full`).
pub const MAX_QUEUED_PER_LANE: usize = 500;

/// The median of `durations` (seconds), `None` when empty.
pub fn median_seconds(mut durations: Vec<i64>) -> Option<i64> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    let mid = durations.len() / 2;
    Some(if durations.len() % 2 == 1 {
        durations[mid]
    } else {
        (durations[mid - 1] + durations[mid]) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_ids_parse_and_default_is_named() {
        assert!(LaneId::parse("id", "default").unwrap().is_default());
        assert_eq!(LaneId::parse("id", " 12 ").unwrap().as_str(), "12");
        for bad in ["", "a/b", "x y", &"a".repeat(65)] {
            assert!(LaneId::parse("id", bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_value(LaneId::default()).unwrap(), "default");
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median_seconds(vec![]), None);
        assert_eq!(median_seconds(vec![30, 10, 20]), Some(20));
        assert_eq!(median_seconds(vec![10, 40, 20, 30]), Some(25));
    }
}
