//! Parameter sets and their history in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

use super::{
    SqliteStore, conflict_or, corrupt, next_id_in, parse_ts, query_one, query_rows, ts, unavailable,
};
use crate::adapters::{readable, readable_page};
use crate::domain::{ParameterSet, ParameterSetVersion, Params};
use crate::ports::{Page, ParameterSetStore, SetDeletion, StoreError, StoreResult};

fn parse_params(raw: &str) -> StoreResult<Params> {
    let v: Value = serde_json::from_str(raw).map_err(|e| corrupt("params", e))?;
    Params::parse("params", &v).map_err(|e| corrupt("params", e))
}

const SET_COLUMNS: &str =
    "id, name, description, params, is_default, version, created_at, updated_at, updated_by";

/// One `parameter_sets` row as stored; [`SetRow::into_set`] re-validates it.
struct SetRow {
    id: i64,
    name: String,
    description: String,
    params: String,
    is_default: bool,
    version: i64,
    created_at: String,
    updated_at: String,
    updated_by: Option<String>,
}

impl SetRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            description: r.get("description")?,
            params: r.get("params")?,
            is_default: r.get("is_default")?,
            version: r.get("version")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
            updated_by: r.get("updated_by")?,
        })
    }

    fn into_set(self) -> StoreResult<ParameterSet> {
        Ok(ParameterSet {
            id: self.id,
            name: self.name,
            description: self.description,
            params: parse_params(&self.params)?,
            is_default: self.is_default,
            version: self.version,
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
            updated_by: self.updated_by,
        })
    }
}

/// One `parameter_set_versions` row as stored.
struct VersionRow {
    set_id: i64,
    version: i64,
    name: String,
    description: String,
    params: String,
    updated_at: String,
    updated_by: Option<String>,
}

impl VersionRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            set_id: r.get("set_id")?,
            version: r.get("version")?,
            name: r.get("name")?,
            description: r.get("description")?,
            params: r.get("params")?,
            updated_at: r.get("updated_at")?,
            updated_by: r.get("updated_by")?,
        })
    }

    fn into_version(self) -> StoreResult<ParameterSetVersion> {
        Ok(ParameterSetVersion {
            parameter_set_id: self.set_id,
            version: self.version,
            name: self.name,
            description: self.description,
            params: parse_params(&self.params)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
            updated_by: self.updated_by,
        })
    }
}

pub(super) fn read_set(
    c: &Connection,
    filter: &str,
    arg: i64,
) -> StoreResult<Option<ParameterSet>> {
    query_one(
        c,
        &format!("SELECT {SET_COLUMNS} FROM parameter_sets WHERE {filter}"),
        [arg],
        SetRow::from_row,
        SetRow::into_set,
    )
}

fn record_version(c: &Connection, s: &ParameterSet) -> StoreResult<()> {
    insert_version(c, &ParameterSetVersion::from(s))
}

/// Stores one version of a set; `Conflict` when the set already has that version.
pub(super) fn insert_version(c: &Connection, v: &ParameterSetVersion) -> StoreResult<()> {
    c.execute(
        "INSERT INTO parameter_set_versions (set_id, version, name, description, params, updated_at, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![v.parameter_set_id, v.version, v.name, v.description, v.params.clone().into_value().to_string(), ts(v.updated_at), v.updated_by],
    )
    .map_err(|e| conflict_or(e, || format!("parameter set {} version {} exists", v.parameter_set_id, v.version)))?;
    Ok(())
}

/// Every version of set `id`, newest first.
pub(super) fn read_versions(c: &Connection, id: i64) -> StoreResult<Vec<ParameterSetVersion>> {
    let rows = query_rows(
        c,
        "SELECT set_id, version, name, description, params, updated_at, updated_by
             FROM parameter_set_versions WHERE set_id = ?1 ORDER BY version DESC",
        [id],
        VersionRow::from_row,
    )?;
    readable(
        "parameter set version",
        rows,
        |r| {
            format!(
                "parameter_set_versions.set_id={} version={}",
                r.set_id, r.version
            )
        },
        VersionRow::into_version,
    )
}

#[async_trait]
impl ParameterSetStore for SqliteStore {
    async fn create_parameter_set(
        &self,
        name: &str,
        description: &str,
        params: &Params,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ParameterSet> {
        let (name, description, params, by) = (
            name.to_owned(),
            description.to_owned(),
            params.clone(),
            by.to_owned(),
        );
        self.write(move |c| {
            let has_default: bool = c
                .query_row("SELECT EXISTS (SELECT 1 FROM parameter_sets WHERE is_default = 1)", [], |r| r.get(0))
                .map_err(unavailable)?;
            let set = ParameterSet {
                id: next_id_in(c, "parameter_sets").map_err(unavailable)?,
                name,
                description,
                params,
                is_default: !has_default,
                version: 1,
                created_at: now,
                updated_at: now,
                updated_by: Some(by),
            };
            c.execute(
                &format!("INSERT INTO parameter_sets ({SET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![set.id, set.name, set.description, set.params.clone().into_value().to_string(), set.is_default,
                    set.version, ts(set.created_at), ts(set.updated_at), set.updated_by],
            )
            .map_err(|e| conflict_or(e, || format!("a parameter set named {:?} exists", set.name)))?;
            record_version(c, &set)?;
            Ok(set)
        })
        .await
    }

    async fn get_parameter_set(&self, id: i64) -> StoreResult<Option<ParameterSet>> {
        self.read(move |c| read_set(c, "id = ?1", id)).await
    }

    async fn default_parameter_set(&self) -> StoreResult<Option<ParameterSet>> {
        self.read(|c| read_set(c, "is_default = ?1", 1)).await
    }

    async fn list_parameter_sets(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<ParameterSet, i64>> {
        self.read(move |c| {
            let rows = query_rows(
                c,
                &format!(
                    "SELECT {SET_COLUMNS} FROM parameter_sets WHERE id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after_id.unwrap_or(i64::MIN), limit as i64 + 1],
                SetRow::from_row,
            )?;
            readable_page(
                "parameter set",
                rows,
                limit,
                |r| r.id,
                |r| format!("parameter_sets.id={}", r.id),
                SetRow::into_set,
            )
        })
        .await
    }

    async fn update_parameter_set(&self, next: &ParameterSet) -> StoreResult<Option<ParameterSet>> {
        let next = next.clone();
        self.write(move |c| {
            let Some(current) = read_set(c, "id = ?1", next.id)? else {
                return Ok(None);
            };
            if current.version != next.version - 1 {
                return Err(StoreError::Conflict(format!(
                    "parameter set {} changed meanwhile (now version {}); reload and try again",
                    next.id, current.version
                )));
            }
            c.execute(
                "UPDATE parameter_sets SET name = ?2, description = ?3, params = ?4, version = ?5, updated_at = ?6, updated_by = ?7
                 WHERE id = ?1",
                params![next.id, next.name, next.description, next.params.clone().into_value().to_string(), next.version,
                    ts(next.updated_at), next.updated_by],
            )
            .map_err(|e| conflict_or(e, || format!("a parameter set named {:?} exists", next.name)))?;
            record_version(c, &next)?;
            let stored = read_set(c, "id = ?1", next.id)?;
            Ok(stored)
        })
        .await
    }

    async fn set_default_parameter_set(&self, id: i64) -> StoreResult<bool> {
        self.write(move |c| {
            if read_set(c, "id = ?1", id)?.is_none() {
                return Ok(false);
            }
            c.execute(
                "UPDATE parameter_sets SET is_default = 0 WHERE is_default = 1 AND id <> ?1",
                [id],
            )
            .map_err(unavailable)?;
            c.execute(
                "UPDATE parameter_sets SET is_default = 1 WHERE id = ?1",
                [id],
            )
            .map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn delete_parameter_set(&self, id: i64) -> StoreResult<SetDeletion> {
        self.write(move |c| {
            let Some(set) = read_set(c, "id = ?1", id)? else {
                return Ok(SetDeletion::NotFound);
            };
            if set.is_default {
                return Ok(SetDeletion::IsDefault);
            }
            let in_use: bool = c
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM test_items WHERE parameter_set_id = ?1)",
                    [id],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            if in_use {
                return Ok(SetDeletion::InUse);
            }
            c.execute("DELETE FROM parameter_sets WHERE id = ?1", [id])
                .map_err(unavailable)?;
            Ok(SetDeletion::Deleted)
        })
        .await
    }

    async fn list_parameter_set_versions(&self, id: i64) -> StoreResult<Vec<ParameterSetVersion>> {
        self.read(move |c| read_versions(c, id)).await
    }
}
