//! The audit trail: who changed what, when, from which request. Entries are appended,
//! never updated or deleted; a summary says what changed, with secret-looking fields
//! masked and long values cut so one entry stays small.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// What was done. The wire and stored spelling is `<record>.<verb>` ([`AuditAction::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum AuditAction {
    SessionStart,
    SessionEnd,
    TestItemCreate,
    TestItemUpdate,
    TestItemDelete,
    EnvironmentCreate,
    EnvironmentUpdate,
    EnvironmentDelete,
    EnvironmentRelease,
    ChannelCreate,
    ChannelUpdate,
    ChannelDelete,
    ParameterSetCreate,
    ParameterSetUpdate,
    ParameterSetDelete,
    JobSelectionUpdate,
    JobSelectionDelete,
    JobSelectionSync,
    JobSelectionAutoSync,
    SettingsUpdate,
    RunTrigger,
    RunCancel,
    RunRerun,
}

/// Every action with its spelling.
const NAMES: &[(AuditAction, &str)] = &[
    (AuditAction::SessionStart, "session.start"),
    (AuditAction::SessionEnd, "session.end"),
    (AuditAction::TestItemCreate, "test_item.create"),
    (AuditAction::TestItemUpdate, "test_item.update"),
    (AuditAction::TestItemDelete, "test_item.delete"),
    (AuditAction::EnvironmentCreate, "environment.create"),
    (AuditAction::EnvironmentUpdate, "environment.update"),
    (AuditAction::EnvironmentDelete, "environment.delete"),
    (AuditAction::EnvironmentRelease, "environment.release"),
    (AuditAction::ChannelCreate, "channel.create"),
    (AuditAction::ChannelUpdate, "channel.update"),
    (AuditAction::ChannelDelete, "channel.delete"),
    (AuditAction::ParameterSetCreate, "parameter_set.create"),
    (AuditAction::ParameterSetUpdate, "parameter_set.update"),
    (AuditAction::ParameterSetDelete, "parameter_set.delete"),
    (AuditAction::JobSelectionUpdate, "job_selection.update"),
    (AuditAction::JobSelectionDelete, "job_selection.delete"),
    (AuditAction::JobSelectionSync, "job_selection.sync"),
    (AuditAction::JobSelectionAutoSync, "job_selection.auto_sync"),
    (AuditAction::SettingsUpdate, "settings.update"),
    (AuditAction::RunTrigger, "run.trigger"),
    (AuditAction::RunCancel, "run.cancel"),
    (AuditAction::RunRerun, "run.rerun"),
];

impl AuditAction {
    /// The stored and wire spelling (`test_item.update`).
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(action, _)| *action == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        NAMES.iter().find(|(_, name)| *name == s).map(|(a, _)| *a)
    }
}

impl From<AuditAction> for &'static str {
    fn from(action: AuditAction) -> Self {
        action.as_str()
    }
}

impl TryFrom<String> for AuditAction {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

/// An entry to append: everything but the id the store gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    /// The email of the person (`admin` sessions use the admin email).
    pub actor: String,
    pub actor_is_admin: bool,
    pub action: AuditAction,
    /// What was changed: `<record>/<id or name>` (`test-item/3`, `job/cdn-build`,
    /// `settings`).
    pub target: String,
    pub request_id: String,
    /// What changed: an object (see [`changes`]), never a secret.
    pub changes: Value,
}

/// One appended entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_is_admin: bool,
    /// `<record>.<verb>`: `session.start`, `test_item.update`, `run.trigger`, …
    #[schema(value_type = String, example = "test_item.update")]
    pub action: AuditAction,
    pub target: String,
    pub request_id: String,
    /// Created/deleted records as `{"created": {...}}` / `{"deleted": {...}}`, updates as
    /// `{"changed": {"field": {"from": .., "to": ..}}}`; secrets read `"(hidden)"`.
    #[schema(value_type = Object)]
    pub changes: Value,
}

impl AuditEntry {
    pub fn new(id: i64, entry: NewAuditEntry) -> Self {
        Self {
            id,
            at: entry.at,
            actor: entry.actor,
            actor_is_admin: entry.actor_is_admin,
            action: entry.action,
            target: entry.target,
            request_id: entry.request_id,
            changes: entry.changes,
        }
    }
}

/// Longest actor, target or request id kept (characters).
pub const MAX_AUDIT_FIELD_CHARS: usize = 256;
/// Longest string value kept in a summary (characters); longer ones end in `…`.
const MAX_VALUE_CHARS: usize = 200;
/// Most fields listed in a summary; more are counted in `"more_fields"`.
const MAX_FIELDS: usize = 40;
/// A value standing for a secret.
pub const HIDDEN: &str = "(hidden)";

/// Field names that hold secrets: their values are never written to the trail.
fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // Whether a secret is set (`secret_set`: a bool) says nothing of the secret itself.
    if name.ends_with("_set") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "api_key",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// A summary of a created record: its fields (bounded, secrets hidden).
pub fn created(record: &impl Serialize) -> Value {
    wrap("created", bounded_fields(record))
}

/// A summary of a deleted record.
pub fn deleted(record: &impl Serialize) -> Value {
    wrap("deleted", bounded_fields(record))
}

/// A summary of an update: the top-level fields whose values differ, each as
/// `{"from": .., "to": ..}` (a secret's change is recorded, its values hidden).
pub fn changed(before: &impl Serialize, after: &impl Serialize) -> Value {
    let (before, after) = (as_object(before), as_object(after));
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Map::new();
    let mut more = 0usize;
    for name in names {
        let (from, to) = (
            before.get(name).unwrap_or(&Value::Null),
            after.get(name).unwrap_or(&Value::Null),
        );
        if from == to || IGNORED_IN_DIFF.contains(&name.as_str()) {
            continue;
        }
        if out.len() == MAX_FIELDS {
            more += 1;
            continue;
        }
        let (from, to) = if is_secret_field(name) {
            (Value::from(HIDDEN), Value::from(HIDDEN))
        } else {
            (bounded(from), bounded(to))
        };
        out.insert(name.clone(), serde_json::json!({ "from": from, "to": to }));
    }
    let mut summary = Map::new();
    summary.insert("changed".into(), Value::Object(out));
    if more > 0 {
        summary.insert("more_fields".into(), Value::from(more));
    }
    Value::Object(summary)
}

/// Bookkeeping fields every update moves: listing them says nothing.
const IGNORED_IN_DIFF: &[&str] = &["updated_at", "updated_by", "version", "ref_count"];

/// A summary with named facts (`{"run_id": 4, "build_number": 17}`), bounded like the rest.
pub fn facts(pairs: &[(&str, Value)]) -> Value {
    let mut out = Map::new();
    for (name, value) in pairs.iter().take(MAX_FIELDS) {
        let value = if is_secret_field(name) {
            Value::from(HIDDEN)
        } else {
            bounded(value)
        };
        out.insert((*name).to_owned(), value);
    }
    Value::Object(out)
}

fn wrap(key: &str, fields: Value) -> Value {
    let mut summary = Map::new();
    summary.insert(key.into(), fields);
    Value::Object(summary)
}

fn as_object(record: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        Ok(other) => Map::from_iter([("value".to_owned(), other)]),
        Err(_) => Map::new(),
    }
}

fn bounded_fields(record: &impl Serialize) -> Value {
    let pairs: Vec<(String, Value)> = as_object(record).into_iter().collect();
    let mut out = Map::new();
    for (name, value) in pairs.into_iter().take(MAX_FIELDS) {
        let value = if is_secret_field(&name) {
            Value::from(HIDDEN)
        } else {
            bounded(&value)
        };
        out.insert(name, value);
    }
    Value::Object(out)
}

/// `value` with long strings cut, nested secrets hidden, and long arrays or objects
/// shortened (`"… and N more"`), so no summary grows with the record.
fn bounded(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(cut(s, MAX_VALUE_CHARS)),
        Value::Array(items) if items.len() > MAX_FIELDS => {
            let mut kept: Vec<Value> = items.iter().take(MAX_FIELDS).map(bounded).collect();
            kept.push(Value::String(format!(
                "… and {} more",
                items.len() - MAX_FIELDS
            )));
            Value::Array(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(bounded).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (name, v) in map.iter().take(MAX_FIELDS) {
                let v = if is_secret_field(name) {
                    Value::from(HIDDEN)
                } else {
                    bounded(v)
                };
                out.insert(name.clone(), v);
            }
            if map.len() > MAX_FIELDS {
                out.insert("more_fields".into(), Value::from(map.len() - MAX_FIELDS));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `s` cut to at most `max` characters (the last one `…` when cut).
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_spells_and_parses_back() {
        for (action, name) in NAMES {
            assert_eq!(action.as_str(), *name);
            assert_eq!(AuditAction::parse(name), Some(*action));
            assert_eq!(serde_json::to_value(action).unwrap(), json!(name));
        }
        assert_eq!(AuditAction::parse("run.explode"), None);
    }

    #[test]
    fn an_update_lists_only_what_moved_and_hides_secrets() {
        let before =
            json!({"name": "a", "url": "http://x", "secret": "s1", "updated_at": "t1", "same": 1});
        let after =
            json!({"name": "b", "url": "http://x", "secret": "s2", "updated_at": "t2", "same": 1});
        let summary = changed(&before, &after);
        assert_eq!(
            summary,
            json!({"changed": {
                "name": {"from": "a", "to": "b"},
                "secret": {"from": HIDDEN, "to": HIDDEN},
            }})
        );
        assert!(!summary.to_string().contains("s1") && !summary.to_string().contains("s2"));
    }

    #[test]
    fn created_and_deleted_records_hide_nested_secrets_and_stay_small() {
        let long = "x".repeat(10_000);
        let record = json!({
            "name": long,
            "smtp": {"password": "hunter2", "host": "mail"},
            "list": (0..1000).collect::<Vec<_>>(),
        });
        for summary in [created(&record), deleted(&record)] {
            let text = summary.to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.len() < 2_000, "{} bytes", text.len());
            assert!(text.contains("… and 960 more"), "{text}");
        }
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("数据中心", 3), "数据…");
        assert_eq!(cut("ab", 3), "ab");
    }
}
