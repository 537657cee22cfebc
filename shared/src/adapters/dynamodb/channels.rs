//! Notification channels on DynamoDB: one item each (`CHANNEL#<id>`), the fields as one
//! JSON document (`channel_doc`). Create is a PutItem if `attribute_not_exists`, replace an
//! UpdateItem if `attribute_exists`; the list is a Query of GSI1 `CHANNELS`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Item, fmt_time, get_i64, get_s, get_time, n, s};
use super::keys::{CHANNEL_SEQUENCE, CHANNEL_SK, CHANNELS, channel_pk, key, padded};
use super::requests::{IdOrder, condition_held};
use super::table::{GSI1, PK};
use crate::adapters::channel_doc::{channel_doc, channel_fields};
use crate::domain::{Channel, ChannelFields, ChannelId};
use crate::ports::{ChannelStore, IdCounters as _, MAX_CHANNELS, StoreError, StoreResult};

fn channel_item(c: &Channel) -> Item {
    let mut item = key(channel_pk(c.id.get()), CHANNEL_SK);
    item.insert(GSI1.partition_key.to_owned(), s(CHANNELS));
    item.insert(GSI1.sort_key.to_owned(), s(&padded(c.id.get())));
    item.insert("id".to_owned(), n(c.id.get()));
    item.insert("doc".to_owned(), s(&channel_doc(&c.fields)));
    item.insert("created_at".to_owned(), s(&fmt_time(c.created_at)));
    item.insert("updated_at".to_owned(), s(&fmt_time(c.updated_at)));
    item
}

fn channel_from_item(item: &Item) -> StoreResult<Channel> {
    Ok(Channel {
        id: ChannelId::from_stored(get_i64(item, "id")?),
        fields: channel_fields(get_s(item, "doc")?)?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

#[async_trait]
impl ChannelStore for DynamoStore {
    async fn create_channel(
        &self,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Channel> {
        let id = ChannelId::from_stored(self.next_id(CHANNEL_SEQUENCE).await?);
        let channel = Channel {
            id,
            fields: fields.clone(),
            created_at: now,
            updated_at: now,
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(channel_item(&channel)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        match condition_held("PutItem (channel)", put.send().await)? {
            Some(_) => Ok(channel),
            None => Err(StoreError::Conflict(format!(
                "channel id {id} is already taken (the channel counter is behind)"
            ))),
        }
    }

    async fn get_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>> {
        self.get_item(channel_pk(id.get()), CHANNEL_SK)
            .await?
            .map(|item| channel_from_item(&item))
            .transpose()
    }

    async fn list_channels(&self) -> StoreResult<Vec<Channel>> {
        let page = self
            .id_page(
                "channel",
                (GSI1, CHANNELS),
                IdOrder::After(None),
                None,
                MAX_CHANNELS,
                channel_from_item,
            )
            .await?;
        Ok(page.items)
    }

    async fn update_channel(
        &self,
        id: ChannelId,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Channel>> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(id.get()), CHANNEL_SK)))
            .update_expression("SET #doc = :doc, #updated_at = :updated_at")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":doc", s(&channel_doc(fields)))
            .expression_attribute_values(":updated_at", s(&fmt_time(now)))
            .return_values(ReturnValue::AllNew);
        match condition_held("UpdateItem (channel)", update.send().await)? {
            None => Ok(None),
            Some(out) => match out.attributes {
                Some(item) => channel_from_item(&item).map(Some),
                None => Err(StoreError::Unavailable(
                    "UpdateItem (channel) returned no attributes".into(),
                )),
            },
        }
    }

    async fn delete_channel(&self, id: ChannelId) -> StoreResult<bool> {
        Ok(self
            .delete_item(channel_pk(id.get()), CHANNEL_SK)
            .await?
            .is_some())
    }
}
