//! Parameter sets, test items, job selections and settings in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use serde_json::Value;

use super::super::{readable, readable_page};
use super::{SqliteStore, next_id_in, parse_ts, query_rows, ts, unavailable};
use crate::domain::{
    BuildNumber, Email, JobName, JobSelection, ParameterSet, ParameterSetVersion, Params,
    ServiceName, Settings, TestItem, TestItemFields,
};
use crate::ports::{
    JobSelectionStore, Page, ParameterSetStore, SetDeletion, SettingsStore, StoreError,
    StoreResult, TestItemStore,
};

/// A constraint violation becomes `Conflict` with `what`; anything else stays `Unavailable`.
fn conflict_or(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict(what())
        }
        _ => unavailable(e),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_params(raw: &str) -> StoreResult<Params> {
    let v: Value = serde_json::from_str(raw).map_err(|e| corrupt("params", e))?;
    Params::parse("params", &v).map_err(|e| corrupt("params", e))
}

// ---- parameter sets ---------------------------------------------------------------

const SET_COLUMNS: &str =
    "id, name, description, params, is_default, version, created_at, updated_at, updated_by";

type RawSet = (
    i64,
    String,
    String,
    String,
    bool,
    i64,
    String,
    String,
    Option<String>,
);

fn raw_set(r: &Row<'_>) -> rusqlite::Result<RawSet> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn into_set(raw: RawSet) -> StoreResult<ParameterSet> {
    let (id, name, description, params, is_default, version, created_at, updated_at, updated_by) =
        raw;
    Ok(ParameterSet {
        id,
        name,
        description,
        params: parse_params(&params)?,
        is_default,
        version,
        created_at: parse_ts("created_at", &created_at)?,
        updated_at: parse_ts("updated_at", &updated_at)?,
        updated_by,
    })
}

fn read_set(c: &Connection, filter: &str, arg: i64) -> StoreResult<Option<ParameterSet>> {
    c.query_row(
        &format!("SELECT {SET_COLUMNS} FROM parameter_sets WHERE {filter}"),
        [arg],
        raw_set,
    )
    .optional()
    .map_err(unavailable)?
    .map(into_set)
    .transpose()
}

fn record_version(c: &Connection, s: &ParameterSet) -> StoreResult<()> {
    c.execute(
        "INSERT INTO parameter_set_versions (set_id, version, name, description, params, updated_at, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![s.id, s.version, s.name, s.description, s.params.clone().into_value().to_string(), ts(s.updated_at), s.updated_by],
    )
    .map_err(|e| conflict_or(e, || format!("parameter set {} version {} exists", s.id, s.version)))?;
    Ok(())
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
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let has_default: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM parameter_sets WHERE is_default = 1)", [], |r| r.get(0))
                .map_err(unavailable)?;
            let set = ParameterSet {
                id: next_id_in(&tx, "parameter_sets").map_err(unavailable)?,
                name,
                description,
                params,
                is_default: !has_default,
                version: 1,
                created_at: now,
                updated_at: now,
                updated_by: Some(by),
            };
            tx.execute(
                &format!("INSERT INTO parameter_sets ({SET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![set.id, set.name, set.description, set.params.clone().into_value().to_string(), set.is_default,
                    set.version, ts(set.created_at), ts(set.updated_at), set.updated_by],
            )
            .map_err(|e| conflict_or(e, || format!("a parameter set named {:?} exists", set.name)))?;
            record_version(&tx, &set)?;
            tx.commit().map_err(unavailable)?;
            Ok(set)
        })
        .await
    }

    async fn get_parameter_set(&self, id: i64) -> StoreResult<Option<ParameterSet>> {
        self.with(move |c| read_set(c, "id = ?1", id)).await
    }

    async fn default_parameter_set(&self) -> StoreResult<Option<ParameterSet>> {
        self.with(|c| read_set(c, "is_default = ?1", 1)).await
    }

    async fn list_parameter_sets(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<ParameterSet, i64>> {
        self.with(move |c| {
            let rows = query_rows(c, &format!(
                    "SELECT {SET_COLUMNS} FROM parameter_sets WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"
                ), params![after_id, limit as i64 + 1], raw_set)?;
            readable_page("parameter set", rows, limit, |r| r.0, |r| format!("parameter_sets.id={}", r.0), into_set)
        })
        .await
    }

    async fn update_parameter_set(&self, next: &ParameterSet) -> StoreResult<Option<ParameterSet>> {
        let next = next.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let Some(current) = read_set(&tx, "id = ?1", next.id)? else {
                return Ok(None);
            };
            if current.version != next.version - 1 {
                return Err(StoreError::Conflict(format!(
                    "parameter set {} changed meanwhile (now version {}); reload and try again",
                    next.id, current.version
                )));
            }
            tx.execute(
                "UPDATE parameter_sets SET name = ?2, description = ?3, params = ?4, version = ?5, updated_at = ?6, updated_by = ?7
                 WHERE id = ?1",
                params![next.id, next.name, next.description, next.params.clone().into_value().to_string(), next.version,
                    ts(next.updated_at), next.updated_by],
            )
            .map_err(|e| conflict_or(e, || format!("a parameter set named {:?} exists", next.name)))?;
            record_version(&tx, &next)?;
            let stored = read_set(&tx, "id = ?1", next.id)?;
            tx.commit().map_err(unavailable)?;
            Ok(stored)
        })
        .await
    }

    async fn set_default_parameter_set(&self, id: i64) -> StoreResult<bool> {
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            if read_set(&tx, "id = ?1", id)?.is_none() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE parameter_sets SET is_default = 0 WHERE is_default = 1 AND id <> ?1",
                [id],
            )
            .map_err(unavailable)?;
            tx.execute(
                "UPDATE parameter_sets SET is_default = 1 WHERE id = ?1",
                [id],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn delete_parameter_set(&self, id: i64) -> StoreResult<SetDeletion> {
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let Some(set) = read_set(&tx, "id = ?1", id)? else {
                return Ok(SetDeletion::NotFound);
            };
            if set.is_default {
                return Ok(SetDeletion::IsDefault);
            }
            let in_use: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM test_items WHERE parameter_set_id = ?1)",
                    [id],
                    |r| r.get(0),
                )
                .map_err(unavailable)?;
            if in_use {
                return Ok(SetDeletion::InUse);
            }
            tx.execute("DELETE FROM parameter_sets WHERE id = ?1", [id])
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(SetDeletion::Deleted)
        })
        .await
    }

    async fn list_parameter_set_versions(&self, id: i64) -> StoreResult<Vec<ParameterSetVersion>> {
        self.with(move |c| {
            let rows = query_rows(
                c,
                "SELECT set_id, version, name, description, params, updated_at, updated_by
                     FROM parameter_set_versions WHERE set_id = ?1 ORDER BY version DESC",
                [id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                },
            )?;
            readable(
                "parameter set version",
                rows,
                |r| format!("parameter_set_versions.set_id={} version={}", r.0, r.1),
                |(set_id, version, name, description, params, updated_at, updated_by)| {
                    Ok(ParameterSetVersion {
                        parameter_set_id: set_id,
                        version,
                        name,
                        description,
                        params: parse_params(&params)?,
                        updated_at: parse_ts("updated_at", &updated_at)?,
                        updated_by,
                    })
                },
            )
        })
        .await
    }
}

// ---- test items -------------------------------------------------------------------

const ITEM_COLUMNS: &str = "id, name, job_name, parameter_set_id, description, enabled, notify_emails, created_at, updated_at";

type RawItem = (
    i64,
    String,
    String,
    Option<i64>,
    String,
    bool,
    String,
    String,
    String,
);

fn raw_item(r: &Row<'_>) -> rusqlite::Result<RawItem> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn into_item(raw: RawItem) -> StoreResult<TestItem> {
    let (
        id,
        name,
        job_name,
        parameter_set_id,
        description,
        enabled,
        emails,
        created_at,
        updated_at,
    ) = raw;
    let emails: Vec<String> =
        serde_json::from_str(&emails).map_err(|e| corrupt("notify_emails", e))?;
    Ok(TestItem {
        id,
        name: ServiceName::parse("name", &name).map_err(|e| corrupt("test item", e))?,
        job_name: JobName::parse("job_name", &job_name).map_err(|e| corrupt("test item", e))?,
        parameter_set_id,
        description,
        enabled,
        notify_emails: emails
            .iter()
            .map(|e| Email::from_stored("notify_emails", e))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("test item", e))?,
        created_at: parse_ts("created_at", &created_at)?,
        updated_at: parse_ts("updated_at", &updated_at)?,
    })
}

fn read_item(c: &Connection, id: i64) -> StoreResult<Option<TestItem>> {
    c.query_row(
        &format!("SELECT {ITEM_COLUMNS} FROM test_items WHERE id = ?1"),
        [id],
        raw_item,
    )
    .optional()
    .map_err(unavailable)?
    .map(into_item)
    .transpose()
}

fn emails_json(f: &TestItemFields) -> String {
    Value::from(
        f.notify_emails
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// Explains a constraint failure of an item write: which rule it broke.
fn item_conflict(c: &Connection, f: &TestItemFields) -> String {
    let set_missing = f
        .parameter_set_id
        .is_some_and(|id| matches!(read_set(c, "id = ?1", id), Ok(None)));
    match f.parameter_set_id {
        Some(id) if set_missing => format!("parameter set {id} does not exist"),
        _ => format!("a test item named {} exists for job {}", f.name, f.job_name),
    }
}

#[async_trait]
impl TestItemStore for SqliteStore {
    async fn create_test_item(
        &self,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<TestItem> {
        let f = fields.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let id = next_id_in(&tx, "test_items").map_err(unavailable)?;
            let inserted = tx.execute(
                &format!("INSERT INTO test_items ({ITEM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"),
                params![id, f.name.as_str(), f.job_name.as_str(), f.parameter_set_id, f.description, f.enabled, emails_json(&f), ts(now)],
            );
            if let Err(e) = inserted {
                let msg = item_conflict(&tx, &f);
                return Err(conflict_or(e, || msg));
            }
            let item = read_item(&tx, id)?.ok_or_else(|| StoreError::Unavailable("inserted item vanished".into()))?;
            tx.commit().map_err(unavailable)?;
            Ok(item)
        })
        .await
    }

    async fn get_test_item(&self, id: i64) -> StoreResult<Option<TestItem>> {
        self.with(move |c| read_item(c, id)).await
    }

    async fn list_test_items(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestItem, i64>> {
        self.with(move |c| {
            let rows = query_rows(c, &format!(
                    "SELECT {ITEM_COLUMNS} FROM test_items WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"
                ), params![after_id, limit as i64 + 1], raw_item)?;
            readable_page("test item", rows, limit, |r| r.0, |r| format!("test_items.id={}", r.0), into_item)
        })
        .await
    }

    async fn update_test_item(
        &self,
        id: i64,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TestItem>> {
        let f = fields.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let updated = tx.execute(
                "UPDATE test_items SET name = ?2, job_name = ?3, parameter_set_id = ?4, description = ?5, enabled = ?6,
                 notify_emails = ?7, updated_at = ?8 WHERE id = ?1",
                params![id, f.name.as_str(), f.job_name.as_str(), f.parameter_set_id, f.description, f.enabled, emails_json(&f), ts(now)],
            );
            match updated {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => {
                    let msg = item_conflict(&tx, &f);
                    return Err(conflict_or(e, || msg));
                }
            }
            let item = read_item(&tx, id)?;
            tx.commit().map_err(unavailable)?;
            Ok(item)
        })
        .await
    }

    async fn delete_test_item(&self, id: i64) -> StoreResult<bool> {
        self.with(move |c| {
            Ok(c.execute("DELETE FROM test_items WHERE id = ?1", [id])
                .map_err(unavailable)?
                > 0)
        })
        .await
    }
}

// ---- job selections ---------------------------------------------------------------

const SELECTION_COLUMNS: &str = "job_name, build_id, build_number, auto_sync, sync_on_new_build, last_synced_at, updated_by, updated_at";

type RawSelection = (String, i64, i64, bool, bool, String, String, String);

fn raw_selection(r: &Row<'_>) -> rusqlite::Result<RawSelection> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn into_selection(raw: RawSelection) -> StoreResult<JobSelection> {
    let (
        job_name,
        build_id,
        build_number,
        auto_sync,
        sync_on_new_build,
        last_synced_at,
        updated_by,
        updated_at,
    ) = raw;
    Ok(JobSelection {
        job_name: JobName::parse("job_name", &job_name).map_err(|e| corrupt("job selection", e))?,
        build_id,
        build_number: BuildNumber::from_stored(build_number),
        auto_sync,
        sync_on_new_build,
        last_synced_at: parse_ts("last_synced_at", &last_synced_at)?,
        updated_by,
        updated_at: parse_ts("updated_at", &updated_at)?,
    })
}

#[async_trait]
impl JobSelectionStore for SqliteStore {
    async fn get_job_selection(&self, job: &JobName) -> StoreResult<Option<JobSelection>> {
        let job = job.as_str().to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {SELECTION_COLUMNS} FROM job_selections WHERE job_name = ?1"),
                [job],
                raw_selection,
            )
            .optional()
            .map_err(unavailable)?
            .map(into_selection)
            .transpose()
        })
        .await
    }

    async fn list_job_selections(&self) -> StoreResult<Vec<JobSelection>> {
        self.with(|c| {
            let rows = query_rows(
                c,
                &format!("SELECT {SELECTION_COLUMNS} FROM job_selections ORDER BY job_name"),
                [],
                raw_selection,
            )?;
            readable(
                "job selection",
                rows,
                |r| format!("job_selections.job_name={:?}", r.0),
                into_selection,
            )
        })
        .await
    }

    async fn put_job_selection(
        &self,
        s: &JobSelection,
        only_if_build_id: Option<i64>,
    ) -> StoreResult<()> {
        let s = s.clone();
        self.with(move |c| {
            let values = params![s.job_name.as_str(), s.build_id, s.build_number.get(), s.auto_sync, s.sync_on_new_build,
                ts(s.last_synced_at), s.updated_by, ts(s.updated_at)];
            let written = match only_if_build_id {
                None => c.execute(
                    &format!("INSERT OR REPLACE INTO job_selections ({SELECTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    values,
                ),
                Some(expected) => c.execute(
                    "UPDATE job_selections SET build_id = ?2, build_number = ?3, auto_sync = ?4, sync_on_new_build = ?5,
                     last_synced_at = ?6, updated_by = ?7, updated_at = ?8 WHERE job_name = ?1 AND build_id = ?9",
                    params![s.job_name.as_str(), s.build_id, s.build_number.get(), s.auto_sync, s.sync_on_new_build,
                        ts(s.last_synced_at), s.updated_by, ts(s.updated_at), expected],
                ),
            }
            .map_err(unavailable)?;
            if written == 0 {
                return Err(StoreError::Conflict(format!("the selection of {} changed meanwhile", s.job_name)));
            }
            Ok(())
        })
        .await
    }

    async fn delete_job_selection(&self, job: &JobName) -> StoreResult<bool> {
        let job = job.as_str().to_owned();
        self.with(move |c| {
            Ok(
                c.execute("DELETE FROM job_selections WHERE job_name = ?1", [job])
                    .map_err(unavailable)?
                    > 0,
            )
        })
        .await
    }
}

// ---- settings ---------------------------------------------------------------------

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn get_settings(&self) -> StoreResult<(Settings, i64)> {
        self.with(|c| {
            let row: Option<(String, i64)> = c
                .query_row("SELECT json, version FROM settings WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
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
        self.with(move |c| {
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
