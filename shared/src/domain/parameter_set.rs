//! Parameter sets: the deploy parameters a run sends to the test server, versioned.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::config_values::parse_text;
use super::field::{FieldError, has_control};

/// `params`: a JSON object of at most 16 KiB. Known keys are type-checked; others pass through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(Map<String, Value>);

impl Params {
    pub const MAX_BYTES: usize = 16 * 1024;

    pub fn parse(field: &str, raw: &Value) -> Result<Self, FieldError> {
        let Some(obj) = raw.as_object() else {
            return Err(FieldError::new(
                field,
                "must be a JSON object such as {\"upgrade_type\": \"full\"}",
            ));
        };
        let size = raw.to_string().len();
        if size > Self::MAX_BYTES {
            return Err(FieldError::new(
                field,
                format!("must be at most 16 KiB of JSON (got {size} bytes)"),
            ));
        }
        for (key, value) in obj {
            let name = format!("{field}.{key}");
            if key.is_empty() || has_control(key) {
                return Err(FieldError::new(
                    name,
                    "keys must be non-empty text without control characters",
                ));
            }
            let install_dir_ok = |s: &str| {
                s.starts_with('/') && !has_control(s) && !s.split('/').any(|seg| seg == "..")
            };
            let problem = match key.as_str() {
                "service_name" => value
                    .as_str()
                    .is_none_or(|s| s.trim().is_empty())
                    .then_some("must be a non-empty string"),
                "install_dir" => (!value.as_str().is_some_and(install_dir_ok))
                    .then_some("must be an absolute path such as /opt/cdn (no '..')"),
                "upgrade_type" => (!matches!(value.as_str(), Some("full" | "update")))
                    .then_some("must be \"full\" or \"update\""),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(FieldError::new(name, problem));
            }
        }
        Ok(Self(obj.clone()))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The name and description rules of a parameter set.
pub fn parse_set_name(raw: &str) -> Result<String, FieldError> {
    let name = parse_text("name", raw.trim(), 1, 100)?;
    if name.contains('\n') || name.contains('\t') {
        return Err(FieldError::new("name", "must be one line"));
    }
    Ok(name)
}

pub fn parse_description(raw: &str) -> Result<String, FieldError> {
    parse_text("description", raw, 0, 2000)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParameterSet {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub params: Params,
    pub is_default: bool,
    /// Starts at 1; every update adds one and keeps the previous version.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// One stored version of a set, as it was after that version's write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParameterSetVersion {
    pub parameter_set_id: i64,
    pub version: i64,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub params: Params,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

impl From<&ParameterSet> for ParameterSetVersion {
    fn from(s: &ParameterSet) -> Self {
        Self {
            parameter_set_id: s.id,
            version: s.version,
            name: s.name.clone(),
            description: s.description.clone(),
            params: s.params.clone(),
            updated_at: s.updated_at,
            updated_by: s.updated_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_keys_are_typed_and_others_pass() {
        let ok = json!({"service_name": "cds", "install_dir": "/opt/cdn", "upgrade_type": "update", "extra": [1, {"a": null}]});
        assert_eq!(Params::parse("params", &ok).unwrap().into_value(), ok);
        let cases = [
            (json!([]), "params"),
            (json!("x"), "params"),
            (json!({"service_name": 3}), "params.service_name"),
            (json!({"service_name": " "}), "params.service_name"),
            (json!({"install_dir": "opt/cdn"}), "params.install_dir"),
            (json!({"install_dir": "/opt/../etc"}), "params.install_dir"),
            (json!({"upgrade_type": "partial"}), "params.upgrade_type"),
            (json!({"upgrade_type": null}), "params.upgrade_type"),
            (json!({"": 1}), "params."),
        ];
        for (value, field) in cases {
            assert_eq!(
                Params::parse("params", &value).unwrap_err().field,
                field,
                "{value}"
            );
        }
    }

    #[test]
    fn size_limit_is_16_kib() {
        let just = json!({"k": "x".repeat(Params::MAX_BYTES - 10)});
        assert!(Params::parse("params", &just).is_ok());
        let over = json!({"k": "x".repeat(Params::MAX_BYTES)});
        assert_eq!(Params::parse("params", &over).unwrap_err().field, "params");
    }

    #[test]
    fn names() {
        assert_eq!(parse_set_name("  default ").unwrap(), "default");
        assert!(parse_set_name("").is_err());
        assert!(parse_set_name("a\nb").is_err());
        assert!(parse_set_name(&"x".repeat(101)).is_err());
    }
}
