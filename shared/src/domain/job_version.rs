//! Job versions: the build of each job that runs test by default, and how it follows new builds.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Build, BuildNumber, JobName};

/// The stored selection. `build_number` is kept so "is this build newer?" needs no lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSelection {
    pub job_name: JobName,
    pub build_id: i64,
    pub build_number: BuildNumber,
    pub auto_sync: bool,
    pub sync_on_new_build: bool,
    pub last_synced_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// A selection as the API shows it, with the selected build embedded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobVersion {
    #[schema(value_type = String)]
    pub job_name: JobName,
    pub build_id: i64,
    /// `null` only if the build was removed from the store by hand.
    pub build: Option<Build>,
    pub auto_sync: bool,
    pub sync_on_new_build: bool,
    pub last_synced_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

impl JobVersion {
    pub fn new(s: JobSelection, build: Option<Build>) -> Self {
        Self {
            job_name: s.job_name,
            build_id: s.build_id,
            build,
            auto_sync: s.auto_sync,
            sync_on_new_build: s.sync_on_new_build,
            last_synced_at: s.last_synced_at,
            updated_by: s.updated_by,
            updated_at: s.updated_at,
        }
    }
}

impl JobSelection {
    /// Auto-sync is due when it is on and the last sync is at least `interval` old.
    pub fn auto_sync_due(&self, now: DateTime<Utc>, interval: TimeDelta) -> bool {
        self.auto_sync && now - self.last_synced_at >= interval
    }

    /// A newly stored build moves the selection at once when both switches are on and
    /// the build is newer than the selected one.
    pub fn follows_new_build(&self, build: &Build) -> bool {
        self.auto_sync && self.sync_on_new_build && build.build_number > self.build_number
    }

    /// This selection moved to `build` by `who` at `now`.
    pub fn moved_to(&self, build: &Build, who: &str, now: DateTime<Utc>) -> Self {
        Self {
            build_id: build.id,
            build_number: build.build_number,
            last_synced_at: now,
            updated_by: who.to_owned(),
            updated_at: now,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewBuild, PackagePath};

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::hours(h)
    }

    fn build(id: i64, number: i64) -> Build {
        let new = NewBuild {
            job_name: JobName::parse("j", "CDN_CORE").unwrap(),
            build_number: BuildNumber::from_stored(number),
            build_user: None,
            package_path: PackagePath::parse("p", "CDN/x").unwrap(),
        };
        Build::new(id, &new, t(0))
    }

    fn selection(auto_sync: bool, on_new: bool) -> JobSelection {
        JobSelection {
            job_name: JobName::parse("j", "CDN_CORE").unwrap(),
            build_id: 1,
            build_number: BuildNumber::from_stored(10),
            auto_sync,
            sync_on_new_build: on_new,
            last_synced_at: t(0),
            updated_by: "dev@example.com".into(),
            updated_at: t(0),
        }
    }

    #[test]
    fn auto_sync_due_table() {
        let day = TimeDelta::hours(24);
        for (auto, at, due) in [
            (true, 23, false),
            (true, 24, true),
            (true, 100, true),
            (false, 100, false),
        ] {
            assert_eq!(
                selection(auto, false).auto_sync_due(t(at), day),
                due,
                "auto={auto} at={at}"
            );
        }
    }

    #[test]
    fn follows_only_newer_builds_with_both_switches() {
        for (auto, on_new, number, follows) in [
            (true, true, 11, true),
            (true, true, 10, false),
            (true, true, 9, false),
            (true, false, 11, false),
            (false, true, 11, false),
        ] {
            assert_eq!(
                selection(auto, on_new).follows_new_build(&build(5, number)),
                follows,
                "{auto} {on_new} {number}"
            );
        }
        let moved = selection(true, true).moved_to(&build(5, 11), "auto-sync", t(3));
        assert_eq!(
            (
                moved.build_id,
                moved.build_number.get(),
                moved.last_synced_at
            ),
            (5, 11, t(3))
        );
        assert!(moved.auto_sync && moved.sync_on_new_build);
    }
}
