//! Reading a definition object field by field, with errors that name where they are.

use serde_json::{Map, Value};

use crate::error::DefinitionError;
use crate::path::{Path, Template};

/// One JSON object of the definition and where it sits (`States.Poll`).
pub(crate) struct Fields<'a> {
    pub(crate) object: &'a Map<String, Value>,
    pub(crate) location: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(
        value: &'a Value,
        location: impl Into<String>,
    ) -> Result<Self, DefinitionError> {
        let location = location.into();
        match value.as_object() {
            Some(object) => Ok(Fields { object, location }),
            None => Err(DefinitionError::invalid(location, "must be a JSON object")),
        }
    }

    pub(crate) fn at(&self, field: &str) -> String {
        format!("{}.{field}", self.location)
    }

    pub(crate) fn error(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::invalid(self.at(field), message)
    }

    /// Refuses every field not in `allowed`: unknown fields are not silently ignored.
    pub(crate) fn only(&self, allowed: &[&str], what: &str) -> Result<(), DefinitionError> {
        match self
            .object
            .keys()
            .find(|key| !allowed.contains(&key.as_str()))
        {
            Some(key) => Err(self.error(
                key,
                format!(
                    "field '{key}' is not supported in {what} (supported: {})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn has(&self, field: &str) -> bool {
        self.object.contains_key(field)
    }

    pub(crate) fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field)
    }

    pub(crate) fn string(&self, field: &str) -> Result<Option<String>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(field, "must be a string")),
        }
    }

    pub(crate) fn required_string(&self, field: &str) -> Result<String, DefinitionError> {
        self.string(field)?
            .ok_or_else(|| self.error(field, "is required"))
    }

    pub(crate) fn unsigned(&self, field: &str) -> Result<Option<u64>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(field, "must be a non-negative integer")),
        }
    }

    pub(crate) fn positive(&self, field: &str) -> Result<Option<u64>, DefinitionError> {
        match self.unsigned(field)? {
            Some(0) => Err(self.error(field, "must be a positive integer")),
            other => Ok(other),
        }
    }

    pub(crate) fn number(&self, field: &str) -> Result<Option<f64>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(field, "must be a number")),
        }
    }

    pub(crate) fn boolean(&self, field: &str) -> Result<Option<bool>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(field, "must be true or false")),
        }
    }

    /// A path that may be absent (`default`), `null` (`None`) or a path.
    pub(crate) fn nullable_path(
        &self,
        field: &str,
        default: Option<Path>,
    ) -> Result<Option<Path>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Path::parse(text)
                .map(Some)
                .map_err(|e| self.error(field, e)),
            Some(_) => Err(self.error(field, "must be a path string or null")),
        }
    }

    /// A path that must be a string when present.
    pub(crate) fn path(&self, field: &str) -> Result<Option<Path>, DefinitionError> {
        match self.string(field)? {
            None => Ok(None),
            Some(text) => Path::parse(&text)
                .map(Some)
                .map_err(|e| self.error(field, e)),
        }
    }

    /// ResultPath: like [`Fields::nullable_path`] with default `$`, and never into `$$`.
    pub(crate) fn result_path(&self) -> Result<Option<Path>, DefinitionError> {
        let path = self.nullable_path("ResultPath", Some(Path::root()))?;
        if path
            .as_ref()
            .is_some_and(|p| p.root == crate::path::Root::Context)
        {
            return Err(self.error("ResultPath", "cannot write into the context object '$$'"));
        }
        Ok(path)
    }

    pub(crate) fn template(&self, field: &str) -> Result<Option<Template>, DefinitionError> {
        match self.object.get(field) {
            None => Ok(None),
            Some(value) => Template::parse(value).map(Some).map_err(|(at, message)| {
                DefinitionError::invalid(format!("{}{at}", self.at(field)), message)
            }),
        }
    }
}
