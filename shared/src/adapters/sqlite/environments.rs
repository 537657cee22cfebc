//! Test environments in the embedded store. Test items refer to them by
//! `test_items.environment_id` (a foreign key: an environment in use is not deleted).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};

use super::{
    SqliteStore, conflict_or, corrupt, next_id_in, parse_ts, query_one, query_rows, ts, unavailable,
};
use crate::adapters::readable_page;
use crate::domain::config_values::{HttpUrl, Origin};
use crate::domain::{Environment, EnvironmentFields, EnvironmentId};
use crate::ports::{EnvironmentDeletion, EnvironmentStore, Page, StoreError, StoreResult};

/// The id sequence, shared in name with the DynamoDB store.
const SEQUENCE: &str = "environments";

pub(super) const COLUMNS: &str = "id, name, external_test_server_url, report_origins, description, enabled, created_at, updated_at";

/// One `environments` row as stored; [`EnvironmentRow::into_environment`] re-validates it.
struct EnvironmentRow {
    id: i64,
    name: String,
    external_test_server_url: String,
    report_origins: String,
    description: String,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl EnvironmentRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            external_test_server_url: r.get("external_test_server_url")?,
            report_origins: r.get("report_origins")?,
            description: r.get("description")?,
            enabled: r.get("enabled")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }

    fn into_environment(self) -> StoreResult<Environment> {
        let origins: Vec<String> =
            serde_json::from_str(&self.report_origins).map_err(|e| corrupt("report_origins", e))?;
        let bad = |e| corrupt("environment", e);
        Ok(Environment {
            id: EnvironmentId::from_stored(self.id),
            name: self.name,
            external_test_server_url: HttpUrl::parse(
                "external_test_server_url",
                &self.external_test_server_url,
            )
            .map_err(bad)?,
            report_origins: origins
                .iter()
                .map(|o| Origin::parse("report_origins", o))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            description: self.description,
            enabled: self.enabled,
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
        })
    }
}

pub(super) fn read_environment(c: &Connection, id: i64) -> StoreResult<Option<Environment>> {
    query_one(
        c,
        &format!("SELECT {COLUMNS} FROM environments WHERE id = ?1"),
        [id],
        EnvironmentRow::from_row,
        EnvironmentRow::into_environment,
    )
}

fn origins_json(f: &EnvironmentFields) -> String {
    serde_json::Value::from(
        f.report_origins
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

fn name_taken(f: &EnvironmentFields) -> String {
    format!("an environment named {:?} already exists", f.name)
}

#[async_trait]
impl EnvironmentStore for SqliteStore {
    async fn create_environment(
        &self,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        let f = fields.clone();
        self.write(move |c| {
            let id = next_id_in(c, SEQUENCE).map_err(unavailable)?;
            c.execute(
                &format!(
                    "INSERT INTO environments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
                ),
                params![
                    id,
                    f.name,
                    f.external_test_server_url.as_str(),
                    origins_json(&f),
                    f.description,
                    f.enabled,
                    ts(now)
                ],
            )
            .map_err(|e| conflict_or(e, || name_taken(&f)))?;
            let env = read_environment(c, id)?
                .ok_or_else(|| StoreError::Unavailable("inserted environment vanished".into()))?;
            Ok(env)
        })
        .await
    }

    async fn get_environment(&self, id: EnvironmentId) -> StoreResult<Option<Environment>> {
        self.read(move |c| read_environment(c, id.get())).await
    }

    async fn list_environments(
        &self,
        after_id: Option<EnvironmentId>,
        limit: usize,
    ) -> StoreResult<Page<Environment, EnvironmentId>> {
        let after = after_id.map(EnvironmentId::get);
        self.read(move |c| {
            let rows = query_rows(
                c,
                &format!("SELECT {COLUMNS} FROM environments WHERE id > ?1 ORDER BY id LIMIT ?2"),
                params![after.unwrap_or(i64::MIN), limit as i64 + 1],
                EnvironmentRow::from_row,
            )?;
            readable_page(
                "environment",
                rows,
                limit,
                |r| EnvironmentId::from_stored(r.id),
                |r| format!("environments.id={}", r.id),
                EnvironmentRow::into_environment,
            )
        })
        .await
    }

    async fn update_environment(
        &self,
        id: EnvironmentId,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Environment>> {
        let f = fields.clone();
        self.write(move |c| {
            let updated = c
                .execute(
                    "UPDATE environments SET name = ?2, external_test_server_url = ?3, report_origins = ?4,
                     description = ?5, enabled = ?6, updated_at = ?7 WHERE id = ?1",
                    params![id.get(), f.name, f.external_test_server_url.as_str(), origins_json(&f), f.description, f.enabled, ts(now)],
                )
                .map_err(|e| conflict_or(e, || name_taken(&f)))?;
            if updated == 0 {
                return Ok(None);
            }
            let env = read_environment(c, id.get())?;
            Ok(env)
        })
        .await
    }

    async fn delete_environment(&self, id: EnvironmentId) -> StoreResult<EnvironmentDeletion> {
        self.write(move |c| {
            // The foreign key refuses the delete while an item refers to it.
            match c.execute("DELETE FROM environments WHERE id = ?1", [id.get()]) {
                Ok(0) => Ok(EnvironmentDeletion::NotFound),
                Ok(_) => Ok(EnvironmentDeletion::Deleted),
                Err(e) => match conflict_or(e, String::new) {
                    StoreError::Conflict(_) => Ok(EnvironmentDeletion::InUse),
                    other => Err(other),
                },
            }
        })
        .await
    }
}
