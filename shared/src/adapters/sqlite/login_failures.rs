//! Failed admin logins in the embedded store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, parse_ts, ts, unavailable};
use crate::domain::{LOGIN_WINDOW, LoginFailures};
use crate::ports::{LoginFailureStore, StoreResult};

fn read_failures(c: &Connection, key: &str) -> StoreResult<Option<LoginFailures>> {
    let row: Option<(u32, String)> = c
        .query_row(
            "SELECT count, window_start FROM login_failures WHERE key = ?1",
            [key],
            |r| Ok((r.get("count")?, r.get("window_start")?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(count, start)| {
        Ok(LoginFailures {
            count,
            window_start: parse_ts("window_start", &start)?,
        })
    })
    .transpose()
}

#[async_trait]
impl LoginFailureStore for SqliteStore {
    async fn get_login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        let key = key.to_owned();
        self.read(move |c| read_failures(c, &key)).await
    }

    async fn take_login_attempt(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<LoginFailures, LoginFailures>> {
        let key = key.to_owned();
        self.write(move |c| {
            // Closed windows count for nothing: delete them (the stand-in for TTL).
            c.execute(
                "DELETE FROM login_failures WHERE window_start <= ?1",
                [ts(now - LOGIN_WINDOW)],
            )
            .map_err(unavailable)?;
            let current = LoginFailures::current(read_failures(c, &key)?, now);
            if let Some(f) = current.filter(|f| f.count >= max) {
                return Ok(Err(f));
            }
            let next = LoginFailures::after_failure(current, now);
            c.execute(
                "INSERT OR REPLACE INTO login_failures (key, count, window_start) VALUES (?1, ?2, ?3)",
                params![key, next.count, ts(next.window_start)],
            )
            .map_err(unavailable)?;
            Ok(Ok(next))
        })
        .await
    }

    async fn give_back_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE login_failures SET count = count - 1 WHERE key = ?1 AND count > 0 AND window_start > ?2",
                params![key, ts(now - LOGIN_WINDOW)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM login_failures WHERE key = ?1", [key])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
