//! The audit trail in the embedded store: one row per entry, the entry as JSON beside the
//! columns its lists filter on. The table's triggers refuse updates and deletes.

use async_trait::async_trait;
use rusqlite::params;

use super::super::readable_page;
use super::{SqliteStore, corrupt, next_id_in, query_rows, unavailable};
use crate::domain::{AuditEntry, NewAuditEntry};
use crate::ports::{AuditFilter, AuditStore, Page, StoreResult};

// One statement per filter (no `?1 IS NULL OR …`), so each walks its own index.
const NEWEST: &str = "SELECT id, json FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
const BY_ACTOR: &str =
    "SELECT id, json FROM audit WHERE actor = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const BY_TARGET: &str =
    "SELECT id, json FROM audit WHERE target = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const BY_BOTH: &str = "SELECT id, json FROM audit WHERE target = ?1 AND actor = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4";

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry> {
        let entry = entry.clone();
        self.write(move |c| {
            let id = next_id_in(c, "audit").map_err(unavailable)?;
            let stored = AuditEntry::new(id, entry);
            let json = serde_json::to_string(&stored).map_err(|e| corrupt("audit entry", e))?;
            c.execute(
                "INSERT INTO audit (id, actor, target, json) VALUES (?1, ?2, ?3, ?4)",
                params![stored.id, stored.actor, stored.target, json],
            )
            .map_err(unavailable)?;
            Ok(stored)
        })
        .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEntry, i64>> {
        let filter = filter.clone();
        let before = before.unwrap_or(i64::MAX);
        let fetch = limit as i64 + 1;
        self.read(move |c| {
            let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?));
            let rows = match (&filter.actor, &filter.target) {
                (None, None) => query_rows(c, NEWEST, params![before, fetch], row)?,
                (Some(actor), None) => query_rows(c, BY_ACTOR, params![actor, before, fetch], row)?,
                (None, Some(target)) => {
                    query_rows(c, BY_TARGET, params![target, before, fetch], row)?
                }
                (Some(actor), Some(target)) => {
                    query_rows(c, BY_BOTH, params![target, actor, before, fetch], row)?
                }
            };
            readable_page(
                "audit entry",
                rows,
                limit,
                |r| r.0,
                |r| format!("audit.id={}", r.0),
                |r| serde_json::from_str(&r.1).map_err(|e| corrupt("audit.json", e)),
            )
        })
        .await
    }
}
