//! Test items in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde_json::Value;

use super::parameter_sets::read_set;
use super::{
    SqliteStore, conflict_or, corrupt, next_id_in, parse_ts, query_one, query_rows, ts, unavailable,
};
use crate::adapters::{readable, readable_page};
use crate::domain::{Email, EnvironmentId, JobName, ServiceName, TestItem, TestItemFields};
use crate::ports::{Page, StoreError, StoreResult, TestItemStore};

pub(super) const ITEM_COLUMNS: &str = "id, name, job_name, parameter_set_id, environment_id, description, enabled, notify_emails, trigger_on_new_build, created_at, updated_at";

/// One `test_items` row as stored; [`ItemRow::into_item`] re-validates it.
struct ItemRow {
    id: i64,
    name: String,
    job_name: String,
    parameter_set_id: Option<i64>,
    environment_id: Option<i64>,
    description: String,
    enabled: bool,
    notify_emails: String,
    trigger_on_new_build: bool,
    created_at: String,
    updated_at: String,
}

impl ItemRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            job_name: r.get("job_name")?,
            parameter_set_id: r.get("parameter_set_id")?,
            environment_id: r.get("environment_id")?,
            description: r.get("description")?,
            enabled: r.get("enabled")?,
            notify_emails: r.get("notify_emails")?,
            trigger_on_new_build: r.get("trigger_on_new_build")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }

    fn into_item(self) -> StoreResult<TestItem> {
        let emails: Vec<String> =
            serde_json::from_str(&self.notify_emails).map_err(|e| corrupt("notify_emails", e))?;
        Ok(TestItem {
            id: self.id,
            name: ServiceName::parse("name", &self.name).map_err(|e| corrupt("test item", e))?,
            job_name: JobName::parse("job_name", &self.job_name)
                .map_err(|e| corrupt("test item", e))?,
            parameter_set_id: self.parameter_set_id,
            environment_id: self.environment_id.map(EnvironmentId::from_stored),
            description: self.description,
            enabled: self.enabled,
            notify_emails: emails
                .iter()
                .map(|e| Email::from_stored("notify_emails", e))
                .collect::<Result<_, _>>()
                .map_err(|e| corrupt("test item", e))?,
            trigger_on_new_build: self.trigger_on_new_build,
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
        })
    }
}

fn new_build_trigger_items_sql() -> String {
    format!(
        "SELECT {ITEM_COLUMNS} FROM test_items \
         WHERE job_name = ?1 AND trigger_on_new_build = 1 AND enabled = 1 ORDER BY id"
    )
}

pub(super) fn read_item(c: &Connection, id: i64) -> StoreResult<Option<TestItem>> {
    query_one(
        c,
        &format!("SELECT {ITEM_COLUMNS} FROM test_items WHERE id = ?1"),
        [id],
        ItemRow::from_row,
        ItemRow::into_item,
    )
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
    let environment_missing = f.environment_id.is_some_and(|id| {
        c.query_row(
            "SELECT 1 FROM environments WHERE id = ?1",
            [id.get()],
            |_| Ok(()),
        )
        .is_err()
    });
    match (f.parameter_set_id, f.environment_id) {
        (Some(id), _) if set_missing => format!("parameter set {id} does not exist"),
        (_, Some(id)) if environment_missing => format!("environment {id} does not exist"),
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
        self.write(move |c| {
            let id = next_id_in(c, "test_items").map_err(unavailable)?;
            let inserted = c.execute(
                &format!("INSERT INTO test_items ({ITEM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, ?9, ?9)"),
                params![id, f.name.as_str(), f.job_name.as_str(), f.parameter_set_id, f.environment_id.map(EnvironmentId::get), f.description, f.enabled, emails_json(&f), ts(now), f.trigger_on_new_build],
            );
            if let Err(e) = inserted {
                let msg = item_conflict(c, &f);
                return Err(conflict_or(e, || msg));
            }
            let item = read_item(c, id)?.ok_or_else(|| StoreError::Unavailable("inserted item vanished".into()))?;
            Ok(item)
        })
        .await
    }

    async fn get_test_item(&self, id: i64) -> StoreResult<Option<TestItem>> {
        self.read(move |c| read_item(c, id)).await
    }

    async fn list_test_items(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestItem, i64>> {
        self.read(move |c| {
            let rows = query_rows(
                c,
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM test_items WHERE id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after_id.unwrap_or(i64::MIN), limit as i64 + 1],
                ItemRow::from_row,
            )?;
            readable_page(
                "test item",
                rows,
                limit,
                |r| r.id,
                |r| format!("test_items.id={}", r.id),
                ItemRow::into_item,
            )
        })
        .await
    }

    async fn new_build_trigger_items(&self, job: &JobName) -> StoreResult<Vec<TestItem>> {
        let job = job.as_str().to_owned();
        self.read(move |c| {
            // The partial index `test_items_starting_on_new_build` holds exactly these rows.
            let rows = query_rows(c, &new_build_trigger_items_sql(), [job], ItemRow::from_row)?;
            readable(
                "test item",
                rows,
                |r| format!("test_items.id={}", r.id),
                ItemRow::into_item,
            )
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
        self.write(move |c| {
            let updated = c.execute(
                "UPDATE test_items SET name = ?2, job_name = ?3, parameter_set_id = ?4, description = ?5, enabled = ?6,
                 notify_emails = ?7, updated_at = ?8, environment_id = ?9, trigger_on_new_build = ?10 WHERE id = ?1",
                params![id, f.name.as_str(), f.job_name.as_str(), f.parameter_set_id, f.description, f.enabled, emails_json(&f), ts(now), f.environment_id.map(EnvironmentId::get), f.trigger_on_new_build],
            );
            match updated {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => {
                    let msg = item_conflict(c, &f);
                    return Err(conflict_or(e, || msg));
                }
            }
            let item = read_item(c, id)?;
            Ok(item)
        })
        .await
    }

    async fn delete_test_item(&self, id: i64) -> StoreResult<bool> {
        self.write(move |c| {
            Ok(c.execute("DELETE FROM test_items WHERE id = ?1", [id])
                .map_err(unavailable)?
                > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::query_plan;
    use super::*;

    #[test]
    fn what_a_new_build_starts_is_read_from_its_own_index() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("crat.db")).unwrap();
        let plan = query_plan(&c, &new_build_trigger_items_sql(), ["j"]);
        assert!(
            plan.contains("USING INDEX test_items_starting_on_new_build (job_name=?)"),
            "{plan}"
        );
    }

    /// Every webhook asks this with another job name. The partial index's condition once
    /// made SQLite plan it again at each new binding (a sixth of the webhook's CPU).
    #[test]
    fn what_a_new_build_starts_is_planned_once_whatever_the_job() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = super::super::connect_reader(&dir.path().join("crat.db")).unwrap();
        let sql = new_build_trigger_items_sql();
        for job in ["a", "b", "c", "d"] {
            query_rows(&c, &sql, [job], |r| r.get::<_, i64>(0)).unwrap();
        }
        let stmt = c.prepare_cached(&sql).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
