//! What each step of a run records beyond its status: one struct per step, read from and
//! written to the step's `details` object (the JSON the API shows; key names are part of
//! the API, README "Deploy-test runs").
//!
//! The stored object stays the source of truth, so nothing written by an older or newer
//! version is lost: keys a struct does not know are kept in `other`, and a value of the
//! wrong shape reads as absent instead of failing the run record (a run list never fails
//! on one odd record).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::run::{Run, StepName};

/// The details of one step: which step they belong to, and the JSON object they are.
pub trait StepDetails: Serialize + DeserializeOwned + Default {
    const STEP: StepName;

    /// Reads a stored `details` object; never fails (see the module comment).
    fn from_map(map: &Map<String, Value>) -> Self {
        serde_json::from_value(Value::Object(map.clone())).unwrap_or_default()
    }

    fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// The key every step may carry: the error name (`Crat.…`) a failed run ended with.
pub const ERROR_NAME_KEY: &str = "error_name";

/// DOWNLOAD: the file that was fetched and verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadDetails {
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub file_name: Option<String>,
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub sha256: Option<String>,
    /// `sha256` or `md5`: the checksum file that proved the file sound; `null` (always
    /// written, as CRAT always has) when the server listed none.
    #[serde(default, deserialize_with = "lenient")]
    pub verified_with: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl StepDetails for DownloadDetails {
    const STEP: StepName = StepName::Download;
}

/// TRIGGER: the POST to the test server and its answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerDetails {
    /// The Wait between polls, fixed at the first trigger invocation.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub poll_interval_seconds: Option<u64>,
    /// Set just before the POST goes out; a trigger that finds it never posts again.
    #[serde(default, with = "millis", skip_serializing_if = "absent")]
    pub post_sent_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub task_id: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl StepDetails for TriggerDetails {
    const STEP: StepName = StepName::Trigger;
}

/// MONITOR: the polls of the test server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollDetails {
    /// When monitoring gives up, fixed by the first poll.
    #[serde(default, with = "millis", skip_serializing_if = "absent")]
    pub deadline: Option<DateTime<Utc>>,
    /// Why the deadline is earlier than `max_monitor_seconds` asked.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub deadline_clamped: Option<String>,
    #[serde(default, with = "millis", skip_serializing_if = "absent")]
    pub last_poll_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub polls: Option<u64>,
    /// The test server's last reported phase (`completed`, `failed`, or its own words).
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub phase: Option<String>,
    /// The last poll's trouble (unreachable, a bad answer); cleared by an answer.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub last_error: Option<String>,
    /// When the current run of failed polls began (the first poll of it); cleared by an
    /// answer. Past `max_unreachable_seconds` from it, the run fails.
    #[serde(default, with = "millis", skip_serializing_if = "absent")]
    pub unreachable_since: Option<DateTime<Utc>>,
    /// Failed polls in a row since `unreachable_since`.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub failed_polls: Option<u64>,
    /// When the run fails if the test server stays unreachable: `unreachable_since` plus
    /// `max_unreachable_seconds`, or the monitor deadline when that comes first.
    #[serde(default, with = "millis", skip_serializing_if = "absent")]
    pub unreachable_until: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl StepDetails for PollDetails {
    const STEP: StepName = StepName::Monitor;
}

/// NOTIFY: the result mail (its delivery is in the run's `notification`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyDetails {
    /// Where the Allure summary was read from.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub summary_source: Option<String>,
    /// Why the mail has no Allure summary.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub summary_unavailable: Option<String>,
    /// The mail server's answer (an excerpt).
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub receipt: Option<String>,
    /// The recipients the mail server refused.
    #[serde(default, deserialize_with = "lenient", skip_serializing_if = "absent")]
    pub recipients_not_sent: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl StepDetails for NotifyDetails {
    const STEP: StepName = StepName::Notify;
}

impl Run {
    /// The details of step `D::STEP` (empty when the step has none).
    pub fn details<D: StepDetails>(&self) -> D {
        self.step(D::STEP)
            .map(|s| D::from_map(&s.details))
            .unwrap_or_default()
    }

    /// Changes the details of step `D::STEP` through their struct.
    pub fn edit_details<D: StepDetails, R>(&mut self, edit: impl FnOnce(&mut D) -> R) -> R {
        let step = self.step_mut(D::STEP);
        let mut details = D::from_map(&step.details);
        let result = edit(&mut details);
        step.details = details.to_map();
        result
    }

    /// The error name recorded on `step` when the run failed there.
    pub fn error_name(&self, step: StepName) -> Option<&str> {
        self.step(step)?.details.get(ERROR_NAME_KEY)?.as_str()
    }
}

/// Absent keys are left out, as the writers always did.
fn absent<T>(value: &Option<T>) -> bool {
    value.is_none()
}

/// A value of the wrong shape reads as absent.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// Timestamps as CRAT has always written them in details: RFC 3339, milliseconds, `Z`.
mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Value::deserialize(d)?
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn each_struct_writes_the_keys_the_api_has_always_shown() {
        let t = DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .to_utc();
        let download = DownloadDetails {
            file_name: Some("a.tar.gz".into()),
            size: Some(3),
            sha256: Some("ab".into()),
            verified_with: Some("sha256".into()),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(download.to_map()),
            json!({"file_name": "a.tar.gz", "size": 3, "sha256": "ab", "verified_with": "sha256"})
        );
        let trigger = TriggerDetails {
            poll_interval_seconds: Some(30),
            post_sent_at: Some(t),
            task_id: Some("t-1".into()),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(trigger.to_map()),
            json!({"poll_interval_seconds": 30, "post_sent_at": "2026-03-02T10:00:00.000Z", "task_id": "t-1"})
        );
        let poll = PollDetails {
            deadline: Some(t),
            deadline_clamped: Some("cut".into()),
            last_poll_at: Some(t),
            polls: Some(2),
            phase: Some("running".into()),
            last_error: None,
            ..Default::default()
        };
        assert_eq!(
            Value::Object(poll.to_map()),
            json!({"deadline": "2026-03-02T10:00:00.000Z", "deadline_clamped": "cut",
                "last_poll_at": "2026-03-02T10:00:00.000Z", "polls": 2, "phase": "running"})
        );
        let notify = NotifyDetails {
            summary_source: Some("widgets/summary.json".into()),
            receipt: Some("250 ok".into()),
            recipients_not_sent: Some(vec!["x@example.com".into()]),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(notify.to_map()),
            json!({"summary_source": "widgets/summary.json", "receipt": "250 ok",
                "recipients_not_sent": ["x@example.com"]})
        );
        assert_eq!(NotifyDetails::from_map(&notify.to_map()), notify);
        for d in [download.to_map(), trigger.to_map(), poll.to_map()] {
            assert!(
                !d.values().any(Value::is_null),
                "absent keys are left out: {d:?}"
            );
        }
        assert_eq!(DownloadDetails::from_map(&download.to_map()), download);
        assert_eq!(TriggerDetails::from_map(&trigger.to_map()), trigger);
        assert_eq!(PollDetails::from_map(&poll.to_map()), poll);
    }

    #[test]
    fn old_and_unknown_keys_survive_and_odd_values_read_as_absent() {
        // As an older CRAT stored it: second-precision deadline, a key no struct knows, a
        // count written as text.
        let stored = map(
            json!({"deadline": "2026-03-02T10:00:00+00:00", "polls": "three",
            "error_name": crate::tasks::ErrorName::Timeout.as_str(), "legacy": {"x": 1}}),
        );
        let mut poll = PollDetails::from_map(&stored);
        assert_eq!(
            poll.deadline,
            Some(
                DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
        assert_eq!(poll.polls, None);
        poll.polls = Some(1);
        let written = poll.to_map();
        assert_eq!(
            written["error_name"],
            crate::tasks::ErrorName::Timeout.as_str()
        );
        assert_eq!(written["legacy"], json!({"x": 1}));
        assert_eq!(written["deadline"], "2026-03-02T10:00:00.000Z");
        assert_eq!(written["polls"], 1);
        // Not an object of the expected shape at all: empty details, never a failure.
        let odd = map(json!({"deadline": 5, "post_sent_at": [], "task_id": 7}));
        assert_eq!(PollDetails::from_map(&odd).deadline, None);
        let trigger = TriggerDetails::from_map(&odd);
        assert_eq!((trigger.post_sent_at, trigger.task_id), (None, None));
    }
}
