//! Item mapping helpers: attribute values, expression attributes, JSON in one string
//! attribute, and typed reads that name the item and attribute when a record is corrupt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};

use super::table::PK;
use crate::domain::JobName;
use crate::ports::{StoreError, StoreResult};

/// One DynamoDB item: attribute name to value.
pub(super) type Item = HashMap<String, AttributeValue>;

/// Expression attribute names and values of one request (sent only when non-empty).
#[derive(Debug, Default)]
pub(super) struct Attrs {
    names: HashMap<String, String>,
    values: Item,
}

impl Attrs {
    /// `#pk` names the partition key, for `attribute_exists(#pk)` and the like.
    pub(super) fn pk() -> Self {
        Self::default().name("#pk", PK)
    }

    pub(super) fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    pub(super) fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    pub(super) fn into_parts(self) -> (Option<HashMap<String, String>>, Option<Item>) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

pub(super) fn job_name(raw: &str) -> StoreResult<JobName> {
    JobName::parse("job_name", raw).map_err(|e| StoreError::Corrupt(format!("job name: {e}")))
}

/// The JSON text of a value stored as one string attribute.
pub(super) fn encode_json<T: serde::Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what} as JSON: {e}")))
}

pub(super) fn decode_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> StoreResult<T> {
    serde_json::from_str(get_s(item, name)?)
        .map_err(|e| corrupt(item, name, &format!("is not valid JSON for it: {e}")))
}

pub(super) fn get_opt_i64(item: &Item, name: &str) -> StoreResult<Option<i64>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_i64(item, name).map(Some),
    }
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// RFC 3339 UTC with as many fractional digits as needed: round-trips exactly.
pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(super) fn corrupt(item: &Item, attribute: &str, why: &str) -> StoreError {
    let pk = match item.get(PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "item",
    };
    StoreError::Corrupt(format!("{pk}: attribute {attribute} {why}"))
}

pub(super) fn get_opt_s<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(item, name, "is not a string")),
    }
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    get_opt_s(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

pub(super) fn get_i64(item: &Item, name: &str) -> StoreResult<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(item, name, "is not an integer")),
        Some(_) => Err(corrupt(item, name, "is not a number")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

pub(super) fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(_) => Err(corrupt(item, name, "is not a boolean")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

pub(super) fn get_time(item: &Item, name: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|t| t.to_utc())
        .map_err(|_| corrupt(item, name, "is not an RFC 3339 time"))
}

// ---- requests and errors ---------------------------------------------------------------
