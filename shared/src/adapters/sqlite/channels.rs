//! Notification channels in the embedded store: one row each, the fields as one JSON
//! document (`channel_doc`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{SqliteStore, next_id_in, parse_ts, query_one, query_rows, ts, unavailable};
use crate::adapters::channel_doc::{channel_doc, channel_fields};
use crate::adapters::readable;
use crate::domain::{Channel, ChannelFields, ChannelId};
use crate::ports::{ChannelStore, MAX_CHANNELS, StoreError, StoreResult};

struct ChannelRow {
    id: i64,
    doc: String,
    created_at: String,
    updated_at: String,
}

impl ChannelRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            doc: r.get("doc")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        })
    }

    fn into_channel(self) -> StoreResult<Channel> {
        Ok(Channel {
            id: ChannelId::from_stored(self.id),
            fields: channel_fields(&self.doc)?,
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
        })
    }
}

fn read_channel(c: &Connection, id: i64) -> StoreResult<Option<Channel>> {
    query_one(
        c,
        "SELECT id, doc, created_at, updated_at FROM channels WHERE id = ?1",
        [id],
        ChannelRow::from_row,
        ChannelRow::into_channel,
    )
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn create_channel(
        &self,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Channel> {
        let doc = channel_doc(fields);
        self.write(move |c| {
            let id = next_id_in(c, "channels").map_err(unavailable)?;
            c.execute(
                "INSERT INTO channels (id, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![id, doc, ts(now)],
            )
            .map_err(unavailable)?;
            read_channel(c, id)?
                .ok_or_else(|| StoreError::Unavailable("inserted channel vanished".into()))
        })
        .await
    }

    async fn get_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        self.read(move |c| read_channel(c, id.get())).await
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        self.read(move |c| {
            let rows = query_rows(
                c,
                "SELECT id, doc, created_at, updated_at FROM channels ORDER BY id LIMIT ?1",
                [MAX_CHANNELS as i64],
                ChannelRow::from_row,
            )?;
            readable(
                "channel",
                rows,
                |r| format!("channels.id={}", r.id),
                ChannelRow::into_channel,
            )
        })
        .await
    }

    async fn update_channel(
        &self,
        id: ChannelId,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Channel>> {
        let doc = channel_doc(fields);
        self.write(move |c| {
            let updated = c
                .execute(
                    "UPDATE channels SET doc = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.get(), doc, ts(now)],
                )
                .map_err(unavailable)?;
            if updated == 0 {
                return Ok(None);
            }
            read_channel(c, id.get())
        })
        .await
    }

    async fn delete_channel(&self, id: ChannelId) -> StoreResult<bool> {
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM channels WHERE id = ?1", [id.get()])
                .map_err(unavailable)?;
            Ok(n > 0)
        })
        .await
    }
}
