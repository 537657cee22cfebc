//! The settings record on DynamoDB.
//! - settings: GetItem (none: defaults, version 0); PutItem with `version + 1` if
//!   `attribute_not_exists(PK)` (expected 0) or `version = :expected`.

use async_trait::async_trait;

use super::DynamoStore;
use super::codec::{decode_json, encode_json, get_i64, n, s};
use super::keys::{SETTINGS, key};
use super::requests::condition_held;
use super::table::PK;
use crate::domain::Settings;
use crate::ports::{SettingsStore, StoreError, StoreResult};

#[async_trait]
impl SettingsStore for DynamoStore {
    async fn get_settings(&self) -> StoreResult<(Settings, i64)> {
        match self.get_item(SETTINGS.to_owned(), SETTINGS).await? {
            Some(item) => Ok((
                decode_json(&item, "settings_json")?,
                get_i64(&item, "version")?,
            )),
            None => Ok((Settings::default(), 0)),
        }
    }

    async fn put_settings(&self, settings: &Settings, expected_version: i64) -> StoreResult<i64> {
        let version = expected_version.saturating_add(1);
        let mut item = key(SETTINGS.to_owned(), SETTINGS);
        item.insert(
            "settings_json".to_owned(),
            s(&encode_json("settings", settings)?),
        );
        item.insert("version".to_owned(), n(version));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected_version))
        };
        match condition_held("PutItem (settings)", put.send().await)? {
            Some(_) => Ok(version),
            None => Err(StoreError::Conflict(format!(
                "the settings are no longer at version {expected_version}: someone saved meanwhile"
            ))),
        }
    }
}
