//! The settings record in the embedded store.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, corrupt, unavailable};
use crate::domain::Settings;
use crate::ports::{SettingsStore, StoreError, StoreResult};

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn get_settings(&self) -> StoreResult<(Settings, i64)> {
        self.read(|c| {
            let row: Option<(String, i64)> = c
                .query_row("SELECT json, version FROM settings WHERE id = 1", [], |r| {
                    Ok((r.get("json")?, r.get("version")?))
                })
                .optional()
                .map_err(unavailable)?;
            match row {
                None => Ok((Settings::default(), 0)),
                Some((json, version)) => Ok((
                    serde_json::from_str(&json).map_err(|e| corrupt("settings", e))?,
                    version,
                )),
            }
        })
        .await
    }

    async fn put_settings(&self, settings: &Settings, expected_version: i64) -> StoreResult<i64> {
        let json = serde_json::to_string(settings).map_err(|e| corrupt("settings", e))?;
        self.write(move |c| {
            let written = if expected_version == 0 {
                c.execute("INSERT OR IGNORE INTO settings (id, json, version) VALUES (1, ?1, 1)", [json])
            } else {
                c.execute(
                    "UPDATE settings SET json = ?1, version = version + 1 WHERE id = 1 AND version = ?2",
                    params![json, expected_version],
                )
            }
            .map_err(unavailable)?;
            if written == 0 {
                return Err(StoreError::Conflict("the settings changed meanwhile; reload and try again".into()));
            }
            Ok(expected_version + 1)
        })
        .await
    }
}
