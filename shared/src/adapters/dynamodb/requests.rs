//! Single requests, queries and batches on the table, and the one reading of a failed
//! condition.

use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest,
};

use super::DynamoStore;
use super::codec::{Item, s};
use super::keys::{index_id, item_pk_of, key, padded};
use super::table::{GsiSchema, PK, SK};
use crate::adapters::{readable_page, sdk_error_text};
use crate::ports::{Page, StoreError, StoreResult};

/// BatchGetItem takes at most this many keys per call.
pub(super) const BATCH_GET_MAX: usize = 100;
/// BatchWriteItem takes at most this many writes per call.
pub(super) const BATCH_WRITE_MAX: usize = 25;
/// The least rows a filtered query reads per page.
pub(super) const FILTERED_PAGE_MIN: usize = 50;

impl DynamoStore {
    pub(super) async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item)
    }

    pub(super) async fn delete_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", e))?;
        Ok(out.attributes.filter(|a| !a.is_empty()))
    }

    /// Queries one index partition, following pages until `want` items (or all).
    pub(super) async fn query_index(
        &self,
        gsi: GsiSchema,
        partition: &str,
        sort_condition: Option<(&str, String)>,
        forward: bool,
        want: Option<usize>,
    ) -> StoreResult<Vec<Item>> {
        self.query_index_filtered(gsi, partition, sort_condition, forward, want, None)
            .await
    }

    /// Like [`Self::query_index`], keeping only rows whose attribute `filter.0` equals
    /// `filter.1` (a FilterExpression: pages are followed until `want` matches or the end).
    pub(super) async fn query_index_filtered(
        &self,
        gsi: GsiSchema,
        partition: &str,
        sort_condition: Option<(&str, String)>,
        forward: bool,
        want: Option<usize>,
        filter: Option<(&str, AttributeValue)>,
    ) -> StoreResult<Vec<Item>> {
        let mut expression = "#pk = :pk".to_owned();
        if let Some((op, _)) = &sort_condition {
            expression.push_str(&format!(" AND #sk {op} :sk"));
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(gsi.name)
            .key_condition_expression(&expression)
            .expression_attribute_names("#pk", gsi.partition_key)
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(forward);
        if let Some((_, value)) = &sort_condition {
            query = query
                .expression_attribute_names("#sk", gsi.sort_key)
                .expression_attribute_values(":sk", s(value));
        }
        // The limit counts rows read, not rows kept: with a filter, read a little ahead.
        let mut least_page = 1;
        if let Some((attribute, value)) = filter {
            query = query
                .filter_expression("#f = :f")
                .expression_attribute_names("#f", attribute)
                .expression_attribute_values(":f", value);
            least_page = FILTERED_PAGE_MIN;
        }
        self.query_pages("Query", query, want, least_page).await
    }

    /// Sends `query` page by page, each from where the last one ended, until `want` rows
    /// (asking for at least `least_page` a page) or all of them.
    pub(super) async fn query_pages(
        &self,
        operation: &str,
        query: QueryFluentBuilder,
        want: Option<usize>,
        least_page: usize,
    ) -> StoreResult<Vec<Item>> {
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut page = query.clone().set_exclusive_start_key(start.take());
            if let Some(want) = want {
                let missing = want.saturating_sub(rows.len()).max(least_page);
                page = page.limit(i32::try_from(missing).unwrap_or(i32::MAX));
            }
            let out = page.send().await.map_err(|e| unavailable(operation, e))?;
            rows.extend(out.items.unwrap_or_default());
            if let Some(want) = want
                && rows.len() >= want
            {
                rows.truncate(want);
                return Ok(rows);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(rows),
            }
        }
    }

    /// Reads many items by primary key (any order; missing items are left out).
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build(),
            )?);
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                pause_before_retry("BatchGetItem", attempt).await?;
                attempt += 1;
                let mut out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                if let Some(items) = out.responses.as_mut().and_then(|r| r.remove(&self.table)) {
                    found.extend(items);
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(found)
    }

    /// Every item of one partition of the table (consistent), optionally with an SK prefix.
    pub(super) async fn query_partition(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
    ) -> StoreResult<Vec<Item>> {
        let expression = match sk_prefix {
            Some(_) => "#pk = :pk AND begins_with(#sk, :prefix)",
            None => "#pk = :pk",
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(expression)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        if let Some(prefix) = sk_prefix {
            query = query
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":prefix", s(prefix));
        }
        self.query_pages("Query", query, None, 1).await
    }

    /// Deletes many items by primary key.
    pub(super) async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        self.batch_write("BatchWriteItem", keys, |key| {
            let delete = DeleteRequest::builder().set_key(Some(key)).build()?;
            Ok(WriteRequest::builder().delete_request(delete).build())
        })
        .await
    }

    /// Puts many items (no conditions).
    pub(super) async fn batch_put(&self, what: &str, items: Vec<Item>) -> StoreResult<()> {
        self.batch_write(&format!("BatchWriteItem ({what})"), items, |item| {
            let put = PutRequest::builder().set_item(Some(item)).build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .await
    }

    /// Sends one write per item with BatchWriteItem ([`BATCH_WRITE_MAX`] a call), retrying
    /// the unprocessed ones.
    async fn batch_write(
        &self,
        operation: &str,
        items: Vec<Item>,
        request: impl Fn(Item) -> Result<WriteRequest, BuildError>,
    ) -> StoreResult<()> {
        let requests = items
            .into_iter()
            .map(|item| built(request(item)))
            .collect::<StoreResult<Vec<_>>>()?;
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                pause_before_retry(operation, attempt).await?;
                attempt += 1;
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable(operation, e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}

/// Where a page of records kept in id order on an index partition starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum IdOrder {
    /// Oldest first, after this id.
    After(Option<i64>),
    /// Newest first, before this id.
    Before(Option<i64>),
}

impl DynamoStore {
    /// One page of the records on an index partition whose sort key is their padded id:
    /// `limit + 1` rows are read to tell whether more follow, the cursor comes from the raw
    /// rows, and rows that no longer read are logged and left out. With a filter only rows
    /// whose attribute `filter.0` equals `filter.1` count.
    pub(super) async fn id_page<T>(
        &self,
        what: &'static str,
        (gsi, partition): (GsiSchema, &str),
        order: IdOrder,
        filter: Option<(&str, AttributeValue)>,
        limit: usize,
        read: impl Fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<Page<T, i64>> {
        let (condition, forward) = match order {
            IdOrder::After(after) => (after.map(|a| (">", padded(a))), true),
            // Ids start at 1: nothing comes before it.
            IdOrder::Before(Some(before)) if before <= 1 => {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            IdOrder::Before(before) => (before.map(|b| ("<", padded(b))), false),
        };
        let want = Some(limit.saturating_add(1));
        let rows = self
            .query_index_filtered(gsi, partition, condition, forward, want, filter)
            .await?;
        readable_page(
            what,
            rows,
            limit,
            |i| index_id(i, gsi),
            item_pk_of,
            |i| read(&i),
        )
    }
}

/// Before try `attempt` (counting from 0) of a batch call: unprocessed keys or items mean
/// throttling, so back off a little more each time, and give up after 20 tries.
async fn pause_before_retry(operation: &str, attempt: u32) -> StoreResult<()> {
    if attempt >= 20 {
        return Err(StoreError::Unavailable(format!(
            "DynamoDB {operation} kept leaving requests unprocessed"
        )));
    }
    if attempt > 0 {
        tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
    }
    Ok(())
}

/// The service errors of the requests that take a condition expression.
pub(super) trait ConditionalError {
    fn is_condition_failed(&self) -> bool;
}

macro_rules! conditional_error {
    ($($error:ty),*) => {$(
        impl ConditionalError for $error {
            fn is_condition_failed(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}
conditional_error!(PutItemError, UpdateItemError, DeleteItemError);

/// A conditional request's answer: `Some(output)` when it went through, `None` when its
/// condition failed (an answer, not an error); any other failure is `Unavailable`.
pub(super) fn condition_held<T, E, R>(
    operation: &str,
    result: Result<T, SdkError<E, R>>,
) -> StoreResult<Option<T>>
where
    E: ConditionalError + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(E::is_condition_failed) => Ok(None),
        Err(e) => Err(unavailable(operation, e)),
    }
}

/// A request type that could not be built (a missing required field: a bug here).
pub(super) fn built<T>(result: Result<T, BuildError>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Unavailable(format!("building a DynamoDB request: {e}")))
}

/// A failed call, named by its operation.
pub(super) fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("DynamoDB {operation}: {}", sdk_error_text(err)))
}
