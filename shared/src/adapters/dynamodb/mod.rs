//! DynamoDB adapter: every store port on one table (single-table design).
//!
//! The item mapping lives in this file only. [`table_schema`] is the one description
//! of the table (keys, indexes, TTL) that [`DynamoStore::create_table_if_missing`]
//! creates and that the SAM template must match.
//!
//! # Table design
//!
//! Table keys `PK` (S) and `SK` (S); billing PAY_PER_REQUEST. Two global secondary
//! indexes, projection ALL: `GSI1` (`GSI1PK`, `GSI1SK`) and `GSI2` (`GSI2PK`, `GSI2SK`),
//! all strings. TTL attribute `ttl` (epoch seconds). DynamoDB deletes expired items
//! late (and DynamoDB-compatible test servers never do), so expiry is always checked
//! in code as well.
//!
//! | item | PK | SK | GSI1PK / GSI1SK | GSI2PK / GSI2SK | other attributes |
//! |---|---|---|---|---|---|
//! | id counter | `COUNTER#<sequence>` | `COUNTER` | | | `value` N (ADD 1, starts at 1) |
//! | build | `BUILD#<id>` | `BUILD` | `BUILDS` / id zero-padded to 20 digits | `JOB#<job_name>` / id zero-padded | `id`, `job_name`, `build_number`, `build_user` (absent when none), `package_path`, `created_at` |
//! | build uniqueness guard | `BUILDKEY#<build_number>#<job_name>` | `BUILDKEY` | | | `build_id` |
//! | job | `JOB#<job_name>` | `JOB` | `JOBS` / job_name | | `job_name`, `latest_build_id`, `latest_build_number` |
//! | session (one per role) | `SESSION#<email>` | `SESSION#ADMIN` or `SESSION#USER` | `SESSIONS` / `<email>#<0 user, 1 admin>` | | `email`, `session_id`, `is_admin`, `token_sha256`, `created_at`, `expires_at`, `ttl` |
//! | failed logins | `LOGINFAIL#<key>` | `LOGINFAIL` | | | `count` N, `window_start`, `ttl` (window end) |
//! | parameter set | `PSET#<id>` | `PSET` | `PSETS` / id zero-padded | | `id`, `name`, `description`, `params_json` (S: the params object as JSON), `is_default` (BOOL), `version`, `created_at`, `updated_at`, `updated_by` (absent when none), `ref_count` (N: test items referring to it) |
//! | parameter set version | `PSET#<id>` | `VERSION#<version zero-padded to 10>` | | | `parameter_set_id`, `version`, `name`, `description`, `params_json`, `updated_at`, `updated_by` |
//! | set name guard | `PSETNAME#<name>` | `PSETNAME` | | | `set_id` |
//! | default set pointer | `PSETDEFAULT` | `PSETDEFAULT` | | | `set_id` |
//! | test item | `ITEM#<id>` | `ITEM` | `ITEMS` / id zero-padded | | `id`, `name`, `job_name`, `parameter_set_id` (absent when none), `description`, `enabled` (BOOL), `notify_emails` (L of S), `created_at`, `updated_at` |
//! | test item guard | `ITEMKEY#<name>#<job_name>` | `ITEMKEY` | | | `item_id` |
//! | job selection | `JOBSEL#<job_name>` | `JOBSEL` | `JOBSELS` / job_name | | `job_name`, `build_id`, `build_number`, `auto_sync`, `sync_on_new_build` (BOOL), `last_synced_at`, `updated_by`, `updated_at` |
//! | settings | `SETTINGS` | `SETTINGS` | | | `settings_json` (S: the settings as JSON), `version` N |
//! | run | `RUN#<id>` | `RUN` | `RUNS` / id zero-padded | `ITEMRUNS#<test_item_id>` / id zero-padded | `id`, `test_item_id`, `status` (S, for list filters), `revision` N, `run_json` (S: the whole run as JSON) |
//! | run lock | `RUNLOCK` | `RUNLOCK` | | | `run_id` N, `lease_until` (S), `lease_until_ns` (N: epoch nanoseconds, for the condition), `ttl` (lease end, rounded up) |
//!
//! Timestamps are RFC 3339 UTC strings; numbers are N.
//!
//! Access patterns:
//! - next id: UpdateItem `ADD value :1`, ReturnValues UPDATED_NEW (atomic).
//! - insert build: GetItem the guard (consistent); if absent take an id, then
//!   TransactWriteItems [Put guard if `attribute_not_exists(PK)`, Put build]. A
//!   cancelled transaction (the guard exists: another caller won) reads the guard again
//!   and answers with the winner's build; the id taken is skipped. Then the job item is
//!   moved to the build with UpdateItem if `attribute_not_exists(PK) OR
//!   latest_build_number < :n` (also on repeats, which heals a crash between the two).
//! - builds newest first: Query GSI1 `BUILDS` (all) or GSI2 `JOB#<name>` (one job),
//!   descending, `SK < padded(before_id)` for the next page.
//! - jobs by name: Query GSI1 `JOBS` ascending, `GSI1SK > after`, then BatchGetItem of
//!   the latest builds.
//! - sessions: Get/Put/Delete by (email, role); ending an email's sessions deletes both
//!   roles; the admin list is Query GSI1 `SESSIONS`, filtered to live sessions in code.
//! - admin login attempts: read, then (same window, under the limit) UpdateItem `ADD
//!   count :1` if `window_start = :ws AND count < :max`, or PutItem a new window if the
//!   old one (or none) is still there; retried on a lost race. The check and the count
//!   are one conditional write, so concurrent callers take at most `max`. A success
//!   gives one back (`ADD count :-1` if `count > 0`). `ttl` is the window end.
//! - latest build of a job: GetItem the job item, then its `latest_build_id`.
//!
//! Parameter sets, test items, job selections and settings (ids from the counters
//! `parameter_sets` and `test_items`). Multi-item writes are TransactWriteItems; a
//! cancellation is read position by position (which write's condition failed) to answer
//! `Conflict` with what clashed, and a cancellation by a concurrent transaction only
//! (`TransactionConflict`) is retried after a short random pause.
//! - the default set: the pointer item is the truth; each set's `is_default` is a copy kept
//!   in step by the same transactions. Since the default set can never be deleted, once a
//!   set exists there is always exactly one default.
//! - create a set: [Put name guard if `attribute_not_exists`, Put set, Put version 1, and,
//!   when no pointer was seen, Put pointer if `attribute_not_exists`]. If only the pointer
//!   clashed (a concurrent create became the default), it is tried again without it.
//! - update a set: read it; [Update set (the fields, not `is_default` or `ref_count`) if
//!   `version = :expected`, Put the new version's history item, and on a rename Delete the
//!   old name guard and Put the new one if `attribute_not_exists`]. Every version, the
//!   current one included, has a history item, so versions are one Query of the set's
//!   partition (consistent), newest first; a set without its `PSET` item shows none.
//! - set the default: read the pointer; [Update new set `is_default = true` if it exists,
//!   Put pointer if it still names the old default, Update old set `is_default = false`].
//! - delete a set: read it and the pointer (answer `IsDefault` / `InUse` / `NotFound`);
//!   [Delete set if `version` is unchanged and `ref_count` is 0, ConditionCheck pointer
//!   `set_id <> :id`, Delete name guard]; a cancellation reads again and answers anew. Its
//!   history items are then removed with BatchWriteItem (left over only on a crash, and
//!   then never shown).
//! - create a test item: [Put (name, job) guard if `attribute_not_exists`, Put item, and
//!   with a set, Update set `ADD ref_count :1` if it exists]. So a set with a reference
//!   always exists, and a set is only deleted with `ref_count` 0.
//! - update a test item: read it; [Put item if its name, job and set are still the ones
//!   read, move the guard when (name, job) changed, and when the set changed `ADD
//!   ref_count -1` on the old and `+1` (if it exists) on the new]. Delete likewise.
//! - sets and items by id: Query GSI1 `PSETS` / `ITEMS` ascending, `GSI1SK > padded(after)`.
//! - job selections: Get/Delete by job name; Put, if `build_id = :expected` for a
//!   conditional move; all of them is Query GSI1 `JOBSELS` (by name).
//! - settings: GetItem (none: defaults, version 0); PutItem with `version + 1` if
//!   `attribute_not_exists(PK)` (expected 0) or `version = :expected`.
//!
//! Runs and the run lock (module `runs`; run ids come from the caller):
//! - start a run: TransactWriteItems [Put lock if `attribute_not_exists(PK) OR
//!   lease_until_ns <= :now_ns` (none, or its lease has ended), Put run if
//!   `attribute_not_exists(PK)`]. Of many concurrent starts exactly one commits. When the
//!   lock's condition failed, the lock is read (consistent) and returned as the holder;
//!   if it is gone or ended meanwhile, the start is tried again. A run id already taken
//!   is `Conflict`; `TransactionConflict` is retried after a short random pause.
//! - update a run: PutItem if `revision = :prev` (`run.revision - 1`); a failed condition
//!   (changed meanwhile, or no such run) is `Conflict`.
//! - runs newest first: Query GSI1 `RUNS` (all) or GSI2 `ITEMRUNS#<item>` (one item),
//!   descending, `GSI?SK < padded(before_id)` for the next page. With a status, a
//!   FilterExpression `status = :s`, following pages until `limit + 1` matches or the end.
//! - the lock: GetItem (consistent); release is DeleteItem if `run_id = :id` (false when
//!   the condition fails: another run holds it, or none does). An expired lock is left in
//!   place (and ignored) until the next start replaces it or TTL removes it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, ReturnValue, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
    TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::{
    Build, BuildNumber, Email, JobName, JobSelection, JobSummary, LoginFailures, NewBuild,
    PackagePath, ParameterSet, ParameterSetVersion, Params, ServiceName, Session, Settings,
    TestItem, TestItemFields,
};
mod executions;
mod runs;

use super::{readable, readable_page};

use crate::ports::{
    BuildStore, IdCounters, JobSelectionStore, LoginFailureStore, Page, ParameterSetStore,
    SessionStore, SetDeletion, SettingsStore, StoreError, StoreResult, TestItemStore,
};

/// One global secondary index: string keys, projection ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GsiSchema {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The table's shape: the single source of truth for table creation and template checks.
/// Every key attribute is a string (`S`); every index projects ALL attributes; billing is
/// PAY_PER_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub global_secondary_indexes: &'static [GsiSchema],
    /// The TTL attribute (epoch seconds).
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
    pub projection: &'static str,
    pub key_attribute_type: &'static str,
}

const PK: &str = "PK";
const SK: &str = "SK";
const GSI1: GsiSchema = GsiSchema {
    name: "GSI1",
    partition_key: "GSI1PK",
    sort_key: "GSI1SK",
};
const GSI2: GsiSchema = GsiSchema {
    name: "GSI2",
    partition_key: "GSI2PK",
    sort_key: "GSI2SK",
};
const TTL: &str = "ttl";
const BUILD_SEQUENCE: &str = "builds";
/// How often a lost optimistic race is retried before giving up with `Conflict`.
const MAX_ATTEMPTS: usize = 10;
/// BatchGetItem takes at most this many keys per call.
const BATCH_GET_MAX: usize = 100;
/// BatchWriteItem takes at most this many writes per call.
const BATCH_WRITE_MAX: usize = 25;
/// The least rows a filtered query reads per page.
const FILTERED_PAGE_MIN: usize = 50;
const PSET_SEQUENCE: &str = "parameter_sets";
const ITEM_SEQUENCE: &str = "test_items";
const PSET_SK: &str = "PSET";
const PSETS: &str = "PSETS";
const PSET_NAME_SK: &str = "PSETNAME";
/// The default-set pointer's PK and SK.
const PSET_DEFAULT: &str = "PSETDEFAULT";
const VERSION_PREFIX: &str = "VERSION#";
const ITEM_SK: &str = "ITEM";
const ITEMS: &str = "ITEMS";
const ITEM_KEY_SK: &str = "ITEMKEY";
const JOB_SELECTION_SK: &str = "JOBSEL";
const JOB_SELECTIONS: &str = "JOBSELS";
/// The settings record's PK and SK.
const SETTINGS: &str = "SETTINGS";

/// The table's keys, indexes and TTL attribute.
pub const fn table_schema() -> TableSchema {
    TableSchema {
        partition_key: PK,
        sort_key: SK,
        global_secondary_indexes: &[GSI1, GSI2],
        ttl_attribute: TTL,
        billing_mode: "PAY_PER_REQUEST",
        projection: "ALL",
        key_attribute_type: "S",
    }
}

type Item = HashMap<String, AttributeValue>;

/// All of CRAT's records in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with the client configured from the environment
    /// (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials chain).
    pub async fn from_env(table: &str) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(Client::new(&config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as [`table_schema`] describes it unless it exists, waits until it
    /// is ACTIVE, and enables TTL on its TTL attribute.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let schema = table_schema();
        let exists = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => return Err(unavailable("DescribeTable", e)),
        };
        if !exists {
            let key_type = ScalarAttributeType::from(schema.key_attribute_type);
            let mut attributes = vec![
                attribute_definition(schema.partition_key, &key_type)?,
                attribute_definition(schema.sort_key, &key_type)?,
            ];
            let mut indexes = Vec::new();
            for gsi in schema.global_secondary_indexes {
                attributes.push(attribute_definition(gsi.partition_key, &key_type)?);
                attributes.push(attribute_definition(gsi.sort_key, &key_type)?);
                indexes.push(built(
                    GlobalSecondaryIndex::builder()
                        .index_name(gsi.name)
                        .set_key_schema(Some(key_schema(gsi.partition_key, gsi.sort_key)?))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::from(schema.projection))
                                .build(),
                        )
                        .build(),
                )?);
            }
            let created = self
                .client
                .create_table()
                .table_name(&self.table)
                .billing_mode(BillingMode::from(schema.billing_mode))
                .set_attribute_definitions(Some(attributes))
                .set_key_schema(Some(key_schema(schema.partition_key, schema.sort_key)?))
                .set_global_secondary_indexes(Some(indexes))
                .send()
                .await;
            match created {
                Ok(_) => tracing::info!(table = %self.table, "created DynamoDB table"),
                // Someone else created it meanwhile.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(e) => return Err(unavailable("CreateTable", e)),
            }
        }
        self.wait_until_active().await?;
        self.enable_ttl(schema.ttl_attribute).await
    }

    async fn wait_until_active(&self) -> StoreResult<()> {
        for _ in 0..600 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| unavailable("DescribeTable", e))?;
            if let Some(t) = out.table() {
                let indexes_active = t
                    .global_secondary_indexes()
                    .iter()
                    .all(|g| g.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
                if t.table_status() == Some(&TableStatus::Active) && indexes_active {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB table {} did not become ACTIVE within 5 minutes",
            self.table
        )))
    }

    async fn enable_ttl(&self, attribute: &str) -> StoreResult<()> {
        let out = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| unavailable("DescribeTimeToLive", e))?;
        if let Some(d) = out.time_to_live_description() {
            let on = matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            );
            if on && d.attribute_name() == Some(attribute) {
                return Ok(());
            }
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(built(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build(),
            )?)
            .send()
            .await
            .map_err(|e| unavailable("UpdateTimeToLive", e))?;
        Ok(())
    }

    // ---- small item operations -------------------------------------------------------

    async fn get_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
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

    async fn delete_item(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
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
    async fn query_index(
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
    async fn query_index_filtered(
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
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(gsi.name)
                .key_condition_expression(&expression)
                .expression_attribute_names("#pk", gsi.partition_key)
                .expression_attribute_values(":pk", s(partition))
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take());
            if let Some((_, value)) = &sort_condition {
                query = query
                    .expression_attribute_names("#sk", gsi.sort_key)
                    .expression_attribute_values(":sk", s(value));
            }
            if let Some((attribute, value)) = &filter {
                query = query
                    .filter_expression("#f = :f")
                    .expression_attribute_names("#f", *attribute)
                    .expression_attribute_values(":f", value.clone());
            }
            if let Some(want) = want {
                let mut missing = want.saturating_sub(rows.len()).max(1);
                if filter.is_some() {
                    // The limit counts rows read, not rows kept: read a little ahead.
                    missing = missing.max(FILTERED_PAGE_MIN);
                }
                query = query.limit(i32::try_from(missing).unwrap_or(i32::MAX));
            }
            let out = query.send().await.map_err(|e| unavailable("Query", e))?;
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
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
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
                if attempt > 0 {
                    // Unprocessed keys mean throttling: back off a little.
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                attempt += 1;
                if attempt > 20 {
                    return Err(StoreError::Unavailable(
                        "DynamoDB BatchGetItem kept leaving keys unprocessed".to_owned(),
                    ));
                }
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

    // ---- builds ------------------------------------------------------------------------

    /// The build the uniqueness guard of (job, number) points at, if the guard exists.
    async fn build_by_guard(&self, guard_pk: &str) -> StoreResult<Option<Build>> {
        let Some(guard) = self.get_item(guard_pk.to_owned(), "BUILDKEY").await? else {
            return Ok(None);
        };
        let id = get_i64(&guard, "build_id")?;
        match self.get_item(build_pk(id), "BUILD").await? {
            Some(item) => build_from_item(&item).map(Some),
            None => Err(StoreError::Corrupt(format!(
                "{guard_pk} points at build {id}, which does not exist"
            ))),
        }
    }

    /// Points the job item at `build` unless it already points at a higher build number.
    async fn update_job(&self, build: &Build) -> StoreResult<()> {
        let job = build.job_name.as_str();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job), "JOB")))
            .update_expression(
                "SET #g1pk = :jobs, #g1sk = :name, job_name = :name, \
                 latest_build_id = :id, latest_build_number = :n",
            )
            .condition_expression("attribute_not_exists(#pk) OR latest_build_number < :n")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#g1pk", GSI1.partition_key)
            .expression_attribute_names("#g1sk", GSI1.sort_key)
            .expression_attribute_values(":jobs", s("JOBS"))
            .expression_attribute_values(":name", s(job))
            .expression_attribute_values(":id", n(build.id))
            .expression_attribute_values(":n", n(build.build_number.get()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("UpdateItem (job)", e)),
        }
    }

    /// The existing build for a guard after a lost race, with the job item healed.
    async fn existing_build(&self, guard_pk: &str) -> StoreResult<Option<Build>> {
        let Some(build) = self.build_by_guard(guard_pk).await? else {
            return Ok(None);
        };
        self.update_job(&build).await?;
        Ok(Some(build))
    }

    /// [`Self::existing_build`], except that a stored build that no longer reads (saved
    /// under older, laxer rules: `CDN/. `) is rewritten from the repeated webhook `new`,
    /// keeping its id, instead of failing every repeat.
    async fn existing_or_repaired_build(
        &self,
        guard_pk: &str,
        new: &NewBuild,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Build>> {
        match self.existing_build(guard_pk).await {
            Err(StoreError::Corrupt(why)) => {
                let Some(guard) = self.get_item(guard_pk.to_owned(), "BUILDKEY").await? else {
                    return Ok(None);
                };
                let id = get_i64(&guard, "build_id")?;
                tracing::warn!(guard = %guard_pk, build_id = id, error = %why,
                    "stored build unreadable; repaired from the repeated webhook");
                let build = Build::new(id, new, now);
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(build_item(&build)))
                    .send()
                    .await
                    .map_err(|e| unavailable("PutItem (build repair)", e))?;
                self.update_job(&build).await?;
                Ok(Some(build))
            }
            other => other,
        }
    }

    // ---- login failures ----------------------------------------------------------------

    async fn login_failures_item(&self, k: &str) -> StoreResult<Option<(LoginFailures, String)>> {
        let Some(item) = self.get_item(loginfail_pk(k), "LOGINFAIL").await? else {
            return Ok(None);
        };
        let raw = get_s(&item, "window_start")?.to_owned();
        Ok(Some((login_failures_from_item(&item)?, raw)))
    }

    /// One try at taking an attempt: `None` when a concurrent writer changed the record
    /// between the read and the conditional write (try again).
    async fn try_take_login_attempt(
        &self,
        k: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<LoginFailures, LoginFailures>>> {
        let stored = self.login_failures_item(k).await?;
        let current = LoginFailures::current(stored.as_ref().map(|(f, _)| *f), now);
        if let Some(f) = current.filter(|f| f.count >= max) {
            return Ok(Some(Err(f)));
        }
        let pk = loginfail_pk(k);
        if let (Some(_), Some((_, raw_start))) = (current, &stored) {
            // Same window: count it only while still under the limit, in one conditional
            // update, so concurrent callers can never take more than `max`.
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, "LOGINFAIL")))
                .update_expression("ADD #count :one")
                .condition_expression("window_start = :ws AND #count < :max")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(i64::from(max)))
                .expression_attribute_values(":ws", s(raw_start))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            return match result {
                Ok(out) => match out.attributes {
                    Some(item) => login_failures_from_item(&item).map(|f| Some(Ok(f))),
                    None => Err(StoreError::Corrupt(format!(
                        "UpdateItem on login failures of {k} returned no attributes"
                    ))),
                },
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(unavailable("UpdateItem (login failures)", e)),
            };
        }
        let next = LoginFailures::after_failure(None, now);
        let mut item = key(pk, "LOGINFAIL");
        item.insert("count".to_owned(), n(i64::from(next.count)));
        item.insert("window_start".to_owned(), s(&fmt_time(next.window_start)));
        // DynamoDB deletes the record once its window has closed (late; read checks too).
        item.insert(TTL.to_owned(), n(next.window_end().timestamp()));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match &stored {
            Some((_, raw_start)) => put
                .condition_expression("attribute_not_exists(#pk) OR window_start = :ws")
                .expression_attribute_values(":ws", s(raw_start)),
            None => put.condition_expression("attribute_not_exists(#pk)"),
        };
        match put.expression_attribute_names("#pk", PK).send().await {
            Ok(_) => Ok(Some(Ok(next))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable("PutItem (login failures)", e)),
        }
    }
}

#[async_trait]
impl IdCounters for DynamoStore {
    async fn next_id(&self, sequence: &str) -> StoreResult<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("COUNTER#{sequence}"), "COUNTER")))
            .update_expression("ADD #value :one")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem (counter)", e))?;
        let attributes = out.attributes.unwrap_or_default();
        get_i64(&attributes, "value")
    }
}

#[async_trait]
impl BuildStore for DynamoStore {
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)> {
        let guard_pk = format!("BUILDKEY#{}#{}", new.build_number, new.job_name);
        let mut id = None;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(existing) = self.existing_or_repaired_build(&guard_pk, new, now).await? {
                return Ok((existing, false));
            }
            let build_id = match id {
                Some(i) => i,
                None => self.next_id(BUILD_SEQUENCE).await?,
            };
            id = Some(build_id);
            let build = Build::new(build_id, new, now);
            let mut guard = key(guard_pk.clone(), "BUILDKEY");
            guard.insert("build_id".to_owned(), n(build_id));
            let put_guard = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(guard))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .build(),
            )?;
            let put_build = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(build_item(&build)))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .build(),
            )?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_guard).build())
                .transact_items(TransactWriteItem::builder().put(put_build).build())
                .send()
                .await;
            match result {
                Ok(_) => {
                    self.update_job(&build).await?;
                    return Ok((build, true));
                }
                Err(e) => {
                    let codes: Vec<Option<String>> = match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().map(str::to_owned))
                            .collect(),
                        _ => return Err(unavailable("TransactWriteItems (build)", e)),
                    };
                    match codes.first().and_then(Option::as_deref) {
                        // Another caller stored this (job, number) first: use theirs.
                        Some("ConditionalCheckFailed") => {
                            if let Some(existing) =
                                self.existing_or_repaired_build(&guard_pk, new, now).await?
                            {
                                return Ok((existing, false));
                            }
                        }
                        // Raced with a concurrent transaction on the guard: try again.
                        Some("TransactionConflict") => {}
                        _ if codes.get(1).and_then(Option::as_deref)
                            == Some("ConditionalCheckFailed") =>
                        {
                            return Err(StoreError::Conflict(format!(
                                "build id {build_id} is already taken"
                            )));
                        }
                        _ if codes.iter().flatten().any(|c| c == "TransactionConflict") => {}
                        _ => return Err(unavailable("TransactWriteItems (build)", e)),
                    }
                    tracing::debug!(guard = %guard_pk, "build insert lost a race; retrying");
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "build {} of {} is being stored concurrently; try again",
            new.build_number, new.job_name
        )))
    }

    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>> {
        match self.get_item(build_pk(id), "BUILD").await? {
            Some(item) => build_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn latest_build(&self, job: &JobName) -> StoreResult<Option<Build>> {
        let Some(item) = self.get_item(job_pk(job.as_str()), "JOB").await? else {
            return Ok(None);
        };
        let id = get_i64(&item, "latest_build_id")?;
        match self.get_build(id).await? {
            Some(build) => Ok(Some(build)),
            None => Err(StoreError::Corrupt(format!(
                "job {job} points at build {id}, which does not exist"
            ))),
        }
    }

    async fn list_builds(
        &self,
        job: Option<&JobName>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Build, i64>> {
        if before_id.is_some_and(|b| b <= 1) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let (gsi, partition) = match job {
            Some(j) => (GSI2, job_pk(j.as_str())),
            None => (GSI1, "BUILDS".to_owned()),
        };
        let condition = before_id.map(|b| ("<", padded(b)));
        let rows = self
            .query_index(
                gsi,
                &partition,
                condition,
                false,
                Some(limit.saturating_add(1)),
            )
            .await?;
        readable_page(
            "build",
            rows,
            limit,
            |i| index_id(i, gsi),
            item_pk_of,
            |i| build_from_item(&i),
        )
    }

    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>> {
        let condition = after_name.map(|a| (">", a.to_owned()));
        let rows = self
            .query_index(GSI1, "JOBS", condition, true, Some(limit.saturating_add(1)))
            .await?;
        let page = Page::from_overfetch(rows, limit, |i| {
            get_s(i, GSI1.sort_key).unwrap_or_default().to_owned()
        });
        let jobs = readable("job", page.items, item_pk_of, |row| {
            Ok((
                job_name(get_s(&row, "job_name")?)?,
                get_i64(&row, "latest_build_id")?,
            ))
        })?;
        let ids: HashSet<i64> = jobs.iter().map(|(_, id)| *id).collect();
        let keys = ids.iter().map(|id| key(build_pk(*id), "BUILD")).collect();
        let mut builds: HashMap<i64, Build> = HashMap::new();
        for build in readable("build", self.batch_get(keys).await?, item_pk_of, |i| {
            build_from_item(&i)
        })? {
            builds.insert(build.id, build);
        }
        let mut summaries = Vec::with_capacity(jobs.len());
        for (job_name, id) in jobs {
            let Some(latest_build) = builds.get(&id).cloned() else {
                tracing::warn!(
                    record = "job",
                    key = %job_pk(job_name.as_str()),
                    build_id = id,
                    "left a job whose latest build cannot be read out of the list"
                );
                continue;
            };
            summaries.push(JobSummary {
                job_name,
                latest_build,
            });
        }
        Ok(Page {
            items: summaries,
            next: page.next,
        })
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (session)", e))?;
        Ok(())
    }

    async fn get_session(&self, email: &Email, is_admin: bool) -> StoreResult<Option<Session>> {
        match self
            .get_item(session_pk(email), session_sk(is_admin))
            .await?
        {
            Some(item) => session_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, email: &Email, is_admin: Option<bool>) -> StoreResult<bool> {
        let roles: &[bool] = match is_admin {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        let mut deleted = false;
        for role in roles {
            deleted |= self
                .delete_item(session_pk(email), session_sk(*role))
                .await?
                .is_some();
        }
        if is_admin.is_none() {
            // A session stored before sessions were kept per role (no longer accepted).
            self.delete_item(session_pk(email), LEGACY_SESSION_SK)
                .await?;
        }
        Ok(deleted)
    }

    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let mut rows = self.query_index(GSI1, "SESSIONS", None, true, None).await?;
        // Sessions stored before they were kept per role no longer sign anyone in.
        rows.retain(|i| {
            i.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) != Some(LEGACY_SESSION_SK)
        });
        let mut sessions = readable("session", rows, item_key_of, |i| session_from_item(&i))?;
        sessions.retain(|s| s.is_live(now));
        sessions
            .sort_by(|a, b| (a.email.as_str(), a.is_admin).cmp(&(b.email.as_str(), b.is_admin)));
        Ok(sessions)
    }
}

#[async_trait]
impl LoginFailureStore for DynamoStore {
    async fn get_login_failures(&self, k: &str) -> StoreResult<Option<LoginFailures>> {
        Ok(self.login_failures_item(k).await?.map(|(f, _)| f))
    }

    async fn take_login_attempt(
        &self,
        k: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<LoginFailures, LoginFailures>> {
        // Every lost race means another caller's write went through, and at most `max`
        // of those can be counts: the loop ends once the limit is seen.
        for _ in 0..MAX_ATTEMPTS.max(2 * max as usize + 2) {
            if let Some(taken) = self.try_take_login_attempt(k, max, now).await? {
                return Ok(taken);
            }
            tracing::debug!(key = k, "login attempt count lost a race; retrying");
        }
        Err(StoreError::Conflict(format!(
            "login failures of {k} are being updated concurrently"
        )))
    }

    async fn give_back_login_attempt(&self, k: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let Some((f, raw_start)) = self.login_failures_item(k).await? else {
            return Ok(());
        };
        if LoginFailures::current(Some(f), now).is_none() {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(loginfail_pk(k), "LOGINFAIL")))
            .update_expression("ADD #count :minus")
            .condition_expression("window_start = :ws AND #count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":ws", s(&raw_start))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A new window or nothing left to give back: nothing to do.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("UpdateItem (login failures)", e)),
        }
    }

    async fn clear_login_failures(&self, k: &str) -> StoreResult<()> {
        self.delete_item(loginfail_pk(k), "LOGINFAIL").await?;
        Ok(())
    }
}

// ---- transactions and the configuration records ---------------------------------------

/// What one write of a transaction is, to tell its failed condition apart from the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The record itself (set, item).
    Main,
    /// A parameter-set version (history) record.
    History,
    /// A uniqueness guard being removed.
    OldGuard,
    /// A uniqueness guard being taken.
    NewGuard,
    /// The default-set pointer.
    Pointer,
    /// A parameter set losing a reference or the default flag.
    OldSet,
    /// A parameter set gaining a reference or the default flag.
    NewSet,
    /// The run lock.
    Lock,
}

/// How a transaction ended, when DynamoDB answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TxOutcome {
    Committed,
    /// Cancelled: these writes' conditions failed.
    ConditionFailed(Vec<Role>),
    /// Cancelled only because another transaction touched the same items: retry.
    Contended,
}

/// Expression attribute names and values of one request (sent only when non-empty).
#[derive(Debug, Default)]
struct Attrs {
    names: HashMap<String, String>,
    values: Item,
}

impl Attrs {
    /// `#pk` names the partition key, for `attribute_exists(#pk)` and the like.
    fn pk() -> Self {
        Self::default().name("#pk", PK)
    }

    fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    fn into_parts(self) -> (Option<HashMap<String, String>>, Option<Item>) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

fn tx_put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn tx_update(
    table: &str,
    item_key: Item,
    update: &str,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        Update::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().update(op).build())
}

fn tx_delete(
    table: &str,
    item_key: Item,
    condition: Option<&str>,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        Delete::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().delete(op).build())
}

fn tx_check(
    table: &str,
    item_key: Item,
    condition: &str,
    attrs: Attrs,
) -> StoreResult<TransactWriteItem> {
    let (names, values) = attrs.into_parts();
    let op = built(
        ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(item_key))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().condition_check(op).build())
}

/// Adds `delta` to a parameter set's reference count; the set must exist (an update of a
/// missing key would create a stray item).
fn tx_add_refs(table: &str, set_id: i64, delta: i64) -> StoreResult<TransactWriteItem> {
    tx_update(
        table,
        key(pset_pk(set_id), PSET_SK),
        "ADD #refs :delta",
        Some("attribute_exists(#pk)"),
        Attrs::pk()
            .name("#refs", "ref_count")
            .value(":delta", n(delta)),
    )
}

/// A short random pause before retrying a contended transaction.
async fn backoff(attempt: usize) {
    let cap = 5u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(rand::random_range(1..=cap))).await;
}

/// The condition "this test item still has the (name, job, set) we read", and its attributes.
fn unchanged_item_condition(old: &TestItem) -> (String, Attrs) {
    let mut attrs = Attrs::default()
        .name("#name", "name")
        .name("#job", "job_name")
        .name("#set", "parameter_set_id")
        .value(":old_name", s(old.name.as_str()))
        .value(":old_job", s(old.job_name.as_str()));
    let set = match old.parameter_set_id {
        Some(id) => {
            attrs = attrs.value(":old_set", n(id));
            "#set = :old_set"
        }
        None => "attribute_not_exists(#set)",
    };
    (
        format!("#name = :old_name AND #job = :old_job AND {set}"),
        attrs,
    )
}

/// What a failed test-item write means for the caller, unless it should be retried.
fn test_item_conflict(roles: &[Role], fields: &TestItemFields) -> Option<StoreError> {
    if roles.contains(&Role::NewGuard) {
        return Some(StoreError::Conflict(format!(
            "a test item named {} for job {} already exists",
            fields.name, fields.job_name
        )));
    }
    if roles.contains(&Role::NewSet) {
        let id = fields.parameter_set_id.unwrap_or_default();
        return Some(StoreError::Conflict(format!(
            "parameter set {id} does not exist"
        )));
    }
    if roles.contains(&Role::OldSet) {
        return Some(StoreError::Corrupt(
            "a test item refers to a parameter set that does not exist".to_owned(),
        ));
    }
    None
}

impl DynamoStore {
    /// Runs a transaction; a cancellation is an answer, not an error.
    async fn transact(
        &self,
        what: &str,
        ops: Vec<(Role, TransactWriteItem)>,
    ) -> StoreResult<TxOutcome> {
        let (roles, items): (Vec<Role>, Vec<TransactWriteItem>) = ops.into_iter().unzip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(TxOutcome::Committed),
            Err(e) => e,
        };
        let codes: Vec<&str> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect(),
            _ => return Err(unavailable(&format!("TransactWriteItems ({what})"), err)),
        };
        let failed: Vec<Role> = roles
            .iter()
            .zip(&codes)
            .filter(|(_, code)| **code == "ConditionalCheckFailed")
            .map(|(role, _)| *role)
            .collect();
        if !failed.is_empty() {
            return Ok(TxOutcome::ConditionFailed(failed));
        }
        if codes.contains(&"TransactionConflict") {
            return Ok(TxOutcome::Contended);
        }
        Err(unavailable(&format!("TransactWriteItems ({what})"), err))
    }

    /// Every item of one partition of the table (consistent), optionally with an SK prefix.
    async fn query_partition(&self, pk: &str, sk_prefix: Option<&str>) -> StoreResult<Vec<Item>> {
        let expression = match sk_prefix {
            Some(_) => "#pk = :pk AND begins_with(#sk, :prefix)",
            None => "#pk = :pk",
        };
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(expression)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(prefix) = sk_prefix {
                query = query
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix));
            }
            let out = query.send().await.map_err(|e| unavailable("Query", e))?;
            rows.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(rows),
            }
        }
    }

    /// Deletes many items by primary key.
    async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk
                .iter()
                .map(|k| {
                    let delete = built(DeleteRequest::builder().set_key(Some(k.clone())).build())?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                if attempt > 0 {
                    // Unprocessed items mean throttling: back off a little.
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                attempt += 1;
                if attempt > 20 {
                    return Err(StoreError::Unavailable(
                        "DynamoDB BatchWriteItem kept leaving items unprocessed".to_owned(),
                    ));
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    // ---- parameter sets ----------------------------------------------------------------

    /// The id the default-set pointer names, if any.
    async fn default_set_id(&self) -> StoreResult<Option<i64>> {
        match self.get_item(PSET_DEFAULT.to_owned(), PSET_DEFAULT).await? {
            Some(item) => get_i64(&item, "set_id").map(Some),
            None => Ok(None),
        }
    }

    /// The stored set and its reference count.
    async fn parameter_set_with_refs(&self, id: i64) -> StoreResult<Option<(ParameterSet, i64)>> {
        let Some(item) = self.get_item(pset_pk(id), PSET_SK).await? else {
            return Ok(None);
        };
        let refs = match item.get("ref_count") {
            None => 0,
            Some(_) => get_i64(&item, "ref_count")?,
        };
        Ok(Some((pset_from_item(&item)?, refs)))
    }

    /// The writes that create `set` (version 1), taking the default pointer when asked.
    fn create_set_ops(&self, set: &ParameterSet) -> StoreResult<Vec<(Role, TransactWriteItem)>> {
        let table = &self.table;
        let absent = Some("attribute_not_exists(#pk)");
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put(
                    table,
                    pset_name_item(&set.name, set.id),
                    absent,
                    Attrs::pk(),
                )?,
            ),
            (
                Role::Main,
                tx_put(table, new_pset_item(set)?, absent, Attrs::pk())?,
            ),
            (
                Role::History,
                tx_put(table, pset_version_item(set)?, None, Attrs::default())?,
            ),
        ];
        if set.is_default {
            let mut pointer = key(PSET_DEFAULT.to_owned(), PSET_DEFAULT);
            pointer.insert("set_id".to_owned(), n(set.id));
            ops.push((Role::Pointer, tx_put(table, pointer, absent, Attrs::pk())?));
        }
        Ok(ops)
    }

    /// The writes that replace `stored` by `next` (same id, next version).
    fn update_set_ops(
        &self,
        stored: &ParameterSet,
        next: &ParameterSet,
    ) -> StoreResult<Vec<(Role, TransactWriteItem)>> {
        let table = &self.table;
        let mut set = "SET #name = :name, #desc = :desc, #params = :params, \
                       #version = :version, #updated_at = :updated_at"
            .to_owned();
        let mut attrs = Attrs::pk()
            .name("#name", "name")
            .name("#desc", "description")
            .name("#params", "params_json")
            .name("#version", "version")
            .name("#updated_at", "updated_at")
            .name("#by", "updated_by")
            .value(":name", s(&next.name))
            .value(":desc", s(&next.description))
            .value(":params", s(&encode_json("params", &next.params)?))
            .value(":version", n(next.version))
            .value(":updated_at", s(&fmt_time(next.updated_at)))
            .value(":expected", n(stored.version));
        match &next.updated_by {
            Some(by) => {
                set.push_str(", #by = :by");
                attrs = attrs.value(":by", s(by));
            }
            None => set.push_str(" REMOVE #by"),
        }
        let mut ops = vec![
            (
                Role::Main,
                tx_update(
                    table,
                    key(pset_pk(next.id), PSET_SK),
                    &set,
                    Some("attribute_exists(#pk) AND #version = :expected"),
                    attrs,
                )?,
            ),
            (
                Role::History,
                tx_put(table, pset_version_item(next)?, None, Attrs::default())?,
            ),
        ];
        if next.name != stored.name {
            ops.push((
                Role::OldGuard,
                tx_delete(
                    table,
                    key(pset_name_pk(&stored.name), PSET_NAME_SK),
                    None,
                    Attrs::default(),
                )?,
            ));
            ops.push((
                Role::NewGuard,
                tx_put(
                    table,
                    pset_name_item(&next.name, next.id),
                    Some("attribute_not_exists(#pk)"),
                    Attrs::pk(),
                )?,
            ));
        }
        Ok(ops)
    }

    /// One attempt at making `id` the default; `None` when it should be retried.
    async fn try_set_default(&self, id: i64, heal: bool) -> StoreResult<Option<bool>> {
        let table = &self.table;
        let current = self.default_set_id().await?;
        if current == Some(id) {
            return Ok(Some(self.get_item(pset_pk(id), PSET_SK).await?.is_some()));
        }
        let flag = |set_id: i64, value: bool| {
            tx_update(
                table,
                key(pset_pk(set_id), PSET_SK),
                "SET #default = :value",
                Some("attribute_exists(#pk)"),
                Attrs::pk()
                    .name("#default", "is_default")
                    .value(":value", AttributeValue::Bool(value)),
            )
        };
        let mut pointer = key(PSET_DEFAULT.to_owned(), PSET_DEFAULT);
        pointer.insert("set_id".to_owned(), n(id));
        let mut ops = vec![(Role::NewSet, flag(id, true)?)];
        match current {
            Some(old) => {
                let attrs = Attrs::default()
                    .name("#sid", "set_id")
                    .value(":old", n(old));
                ops.push((
                    Role::Pointer,
                    tx_put(table, pointer, Some("#sid = :old"), attrs)?,
                ));
                if !heal {
                    ops.push((Role::OldSet, flag(old, false)?));
                }
            }
            None => ops.push((
                Role::Pointer,
                tx_put(
                    table,
                    pointer,
                    Some("attribute_not_exists(#pk)"),
                    Attrs::pk(),
                )?,
            )),
        }
        match self.transact("set default parameter set", ops).await? {
            TxOutcome::Committed => Ok(Some(true)),
            TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewSet) => Ok(Some(false)),
            TxOutcome::ConditionFailed(_) | TxOutcome::Contended => Ok(None),
        }
    }

    /// Removes a deleted set's history; a failure leaves unreachable items only.
    async fn delete_set_history(&self, id: i64) {
        let result = async {
            let rows = self
                .query_partition(&pset_pk(id), Some(VERSION_PREFIX))
                .await?;
            let keys = rows
                .iter()
                .map(|row| Ok(key(get_s(row, PK)?.to_owned(), get_s(row, SK)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            self.batch_delete(keys).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(set_id = id, error = %e, "could not delete a deleted parameter set's history");
        }
    }

    // ---- test items --------------------------------------------------------------------

    /// The writes that replace `old` by `next`, moving its guard and references.
    fn update_item_ops(
        &self,
        old: &TestItem,
        next: &TestItem,
    ) -> StoreResult<Vec<(Role, TransactWriteItem)>> {
        let table = &self.table;
        let (condition, attrs) = unchanged_item_condition(old);
        let mut ops = vec![(
            Role::Main,
            tx_put(table, test_item_item(next), Some(&condition), attrs)?,
        )];
        if (&old.name, &old.job_name) != (&next.name, &next.job_name) {
            ops.push((
                Role::OldGuard,
                tx_delete(
                    table,
                    key(item_key_pk(old), ITEM_KEY_SK),
                    None,
                    Attrs::default(),
                )?,
            ));
            ops.push((
                Role::NewGuard,
                tx_put(
                    table,
                    item_guard(next),
                    Some("attribute_not_exists(#pk)"),
                    Attrs::pk(),
                )?,
            ));
        }
        if old.parameter_set_id != next.parameter_set_id {
            if let Some(set) = old.parameter_set_id {
                ops.push((Role::OldSet, tx_add_refs(table, set, -1)?));
            }
            if let Some(set) = next.parameter_set_id {
                ops.push((Role::NewSet, tx_add_refs(table, set, 1)?));
            }
        }
        Ok(ops)
    }
}

#[async_trait]
impl ParameterSetStore for DynamoStore {
    async fn create_parameter_set(
        &self,
        name: &str,
        description: &str,
        params: &Params,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ParameterSet> {
        let id = self.next_id(PSET_SEQUENCE).await?;
        let mut set = ParameterSet {
            id,
            name: name.to_owned(),
            description: description.to_owned(),
            params: params.clone(),
            is_default: self.default_set_id().await?.is_none(),
            version: 1,
            created_at: now,
            updated_at: now,
            updated_by: Some(by.to_owned()),
        };
        for attempt in 0..MAX_ATTEMPTS {
            let ops = self.create_set_ops(&set)?;
            match self.transact("create parameter set", ops).await? {
                TxOutcome::Committed => return Ok(set),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    return Err(StoreError::Conflict(format!(
                        "a parameter set named {name:?} already exists"
                    )));
                }
                // Another set became the default first: this one is an ordinary set.
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Pointer) => {
                    set.is_default = false;
                }
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Conflict(format!(
                        "parameter set id {id} is already taken"
                    )));
                }
                TxOutcome::Contended => {
                    backoff(attempt).await;
                    set.is_default = self.default_set_id().await?.is_none();
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "parameter set {name:?} could not be stored under concurrent changes; try again"
        )))
    }

    async fn get_parameter_set(&self, id: i64) -> StoreResult<Option<ParameterSet>> {
        Ok(self.parameter_set_with_refs(id).await?.map(|(set, _)| set))
    }

    async fn default_parameter_set(&self) -> StoreResult<Option<ParameterSet>> {
        let Some(id) = self.default_set_id().await? else {
            return Ok(None);
        };
        match self.get_parameter_set(id).await? {
            Some(set) => Ok(Some(set)),
            None => Err(StoreError::Corrupt(format!(
                "the default pointer names parameter set {id}, which does not exist"
            ))),
        }
    }

    async fn list_parameter_sets(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<ParameterSet, i64>> {
        let condition = after_id.map(|a| (">", padded(a)));
        let rows = self
            .query_index(GSI1, PSETS, condition, true, Some(limit.saturating_add(1)))
            .await?;
        readable_page(
            "parameter set",
            rows,
            limit,
            |i| index_id(i, GSI1),
            item_pk_of,
            |i| pset_from_item(&i),
        )
    }

    async fn update_parameter_set(&self, next: &ParameterSet) -> StoreResult<Option<ParameterSet>> {
        let expected = next.version - 1;
        for attempt in 0..MAX_ATTEMPTS {
            let Some(stored) = self.get_parameter_set(next.id).await? else {
                return Ok(None);
            };
            if stored.version != expected {
                return Err(StoreError::Conflict(format!(
                    "parameter set {} is at version {}, not {expected}: it changed meanwhile",
                    next.id, stored.version
                )));
            }
            let saved = ParameterSet {
                is_default: stored.is_default,
                created_at: stored.created_at,
                ..next.clone()
            };
            let ops = self.update_set_ops(&stored, &saved)?;
            match self.transact("update parameter set", ops).await? {
                TxOutcome::Committed => return Ok(Some(saved)),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    return Err(StoreError::Conflict(format!(
                        "a parameter set named {:?} already exists",
                        next.name
                    )));
                }
                // Deleted or changed meanwhile: the next read tells which.
                TxOutcome::ConditionFailed(_) => {}
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "parameter set {} is being changed concurrently; try again",
            next.id
        )))
    }

    async fn set_default_parameter_set(&self, id: i64) -> StoreResult<bool> {
        let mut heal = false;
        for attempt in 0..MAX_ATTEMPTS {
            if let Some(done) = self.try_set_default(id, heal).await? {
                return Ok(done);
            }
            // If the old default vanished (a hand-edited store), move the pointer anyway.
            if let Some(old) = self.default_set_id().await? {
                heal = old != id && self.get_item(pset_pk(old), PSET_SK).await?.is_none();
            }
            backoff(attempt).await;
        }
        Err(StoreError::Conflict(
            "the default parameter set is being changed concurrently; try again".to_owned(),
        ))
    }

    async fn delete_parameter_set(&self, id: i64) -> StoreResult<SetDeletion> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some((set, refs)) = self.parameter_set_with_refs(id).await? else {
                return Ok(SetDeletion::NotFound);
            };
            if set.is_default || self.default_set_id().await? == Some(id) {
                return Ok(SetDeletion::IsDefault);
            }
            if refs > 0 {
                return Ok(SetDeletion::InUse);
            }
            let table = &self.table;
            let delete_set = tx_delete(
                table,
                key(pset_pk(id), PSET_SK),
                Some(
                    "attribute_exists(#pk) AND #version = :version \
                     AND (attribute_not_exists(#refs) OR #refs <= :zero)",
                ),
                Attrs::pk()
                    .name("#version", "version")
                    .name("#refs", "ref_count")
                    .value(":version", n(set.version))
                    .value(":zero", n(0)),
            )?;
            let not_default = tx_check(
                table,
                key(PSET_DEFAULT.to_owned(), PSET_DEFAULT),
                "attribute_not_exists(#pk) OR #sid <> :id",
                Attrs::pk().name("#sid", "set_id").value(":id", n(id)),
            )?;
            let guard = tx_delete(
                table,
                key(pset_name_pk(&set.name), PSET_NAME_SK),
                None,
                Attrs::default(),
            )?;
            let ops = vec![
                (Role::Main, delete_set),
                (Role::Pointer, not_default),
                (Role::OldGuard, guard),
            ];
            match self.transact("delete parameter set", ops).await? {
                TxOutcome::Committed => {
                    self.delete_set_history(id).await;
                    return Ok(SetDeletion::Deleted);
                }
                // A reference, the default flag or an update came in meanwhile: read again.
                TxOutcome::ConditionFailed(_) => {}
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "parameter set {id} is being changed concurrently; try again"
        )))
    }

    async fn list_parameter_set_versions(&self, id: i64) -> StoreResult<Vec<ParameterSetVersion>> {
        let rows = self.query_partition(&pset_pk(id), None).await?;
        let mut exists = false;
        let mut versions = Vec::new();
        for row in &rows {
            let sk = get_s(row, SK)?;
            if sk == PSET_SK {
                exists = true;
            } else if sk.starts_with(VERSION_PREFIX) {
                versions.extend(readable(
                    "parameter set version",
                    vec![row],
                    |i| format!("{}/{sk}", item_pk_of(i)),
                    pset_version_from_item,
                )?);
            }
        }
        if !exists {
            // History left behind by an interrupted delete is not shown.
            return Ok(Vec::new());
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(versions)
    }
}

#[async_trait]
impl TestItemStore for DynamoStore {
    async fn create_test_item(
        &self,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<TestItem> {
        let id = self.next_id(ITEM_SEQUENCE).await?;
        let item = test_item_from_fields(id, fields, now, now);
        let table = &self.table;
        let absent = Some("attribute_not_exists(#pk)");
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put(table, item_guard(&item), absent, Attrs::pk())?,
            ),
            (
                Role::Main,
                tx_put(table, test_item_item(&item), absent, Attrs::pk())?,
            ),
        ];
        if let Some(set) = item.parameter_set_id {
            ops.push((Role::NewSet, tx_add_refs(table, set, 1)?));
        }
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("create test item", ops.clone()).await? {
                TxOutcome::Committed => return Ok(item),
                TxOutcome::ConditionFailed(roles) => {
                    return Err(test_item_conflict(&roles, fields).unwrap_or_else(|| {
                        StoreError::Conflict(format!("test item id {id} is already taken"))
                    }));
                }
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "test item {} for job {} could not be stored under concurrent changes; try again",
            fields.name, fields.job_name
        )))
    }

    async fn get_test_item(&self, id: i64) -> StoreResult<Option<TestItem>> {
        match self.get_item(item_pk(id), ITEM_SK).await? {
            Some(item) => test_item_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn list_test_items(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestItem, i64>> {
        let condition = after_id.map(|a| (">", padded(a)));
        let rows = self
            .query_index(GSI1, ITEMS, condition, true, Some(limit.saturating_add(1)))
            .await?;
        readable_page(
            "test item",
            rows,
            limit,
            |i| index_id(i, GSI1),
            item_pk_of,
            |i| test_item_from_item(&i),
        )
    }

    async fn update_test_item(
        &self,
        id: i64,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TestItem>> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(old) = self.get_test_item(id).await? else {
                return Ok(None);
            };
            let next = test_item_from_fields(id, fields, old.created_at, now);
            let ops = self.update_item_ops(&old, &next)?;
            match self.transact("update test item", ops).await? {
                TxOutcome::Committed => return Ok(Some(next)),
                // Changed or deleted meanwhile: the next read tells which.
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Main) => {}
                TxOutcome::ConditionFailed(roles) => {
                    if let Some(e) = test_item_conflict(&roles, fields) {
                        return Err(e);
                    }
                }
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "test item {id} is being changed concurrently; try again"
        )))
    }

    async fn delete_test_item(&self, id: i64) -> StoreResult<bool> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(old) = self.get_test_item(id).await? else {
                return Ok(false);
            };
            let table = &self.table;
            let (condition, attrs) = unchanged_item_condition(&old);
            let mut ops = vec![
                (
                    Role::Main,
                    tx_delete(table, key(item_pk(id), ITEM_SK), Some(&condition), attrs)?,
                ),
                (
                    Role::OldGuard,
                    tx_delete(
                        table,
                        key(item_key_pk(&old), ITEM_KEY_SK),
                        None,
                        Attrs::default(),
                    )?,
                ),
            ];
            if let Some(set) = old.parameter_set_id {
                ops.push((Role::OldSet, tx_add_refs(table, set, -1)?));
            }
            match self.transact("delete test item", ops).await? {
                TxOutcome::Committed => return Ok(true),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Main) => {}
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "test item {id} refers to a parameter set that does not exist"
                    )));
                }
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "test item {id} is being changed concurrently; try again"
        )))
    }
}

#[async_trait]
impl JobSelectionStore for DynamoStore {
    async fn get_job_selection(&self, job: &JobName) -> StoreResult<Option<JobSelection>> {
        match self
            .get_item(job_selection_pk(job), JOB_SELECTION_SK)
            .await?
        {
            Some(item) => job_selection_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn list_job_selections(&self) -> StoreResult<Vec<JobSelection>> {
        let rows = self
            .query_index(GSI1, JOB_SELECTIONS, None, true, None)
            .await?;
        readable("job selection", rows, item_pk_of, |i| {
            job_selection_from_item(&i)
        })
    }

    async fn put_job_selection(
        &self,
        selection: &JobSelection,
        only_if_build_id: Option<i64>,
    ) -> StoreResult<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_selection_item(selection)));
        if let Some(expected) = only_if_build_id {
            put = put
                .condition_expression("#build = :expected")
                .expression_attribute_names("#build", "build_id")
                .expression_attribute_values(":expected", n(expected));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(format!(
                    "the selection of job {} no longer points at build {}",
                    selection.job_name,
                    only_if_build_id.unwrap_or_default()
                )))
            }
            Err(e) => Err(unavailable("PutItem (job selection)", e)),
        }
    }

    async fn delete_job_selection(&self, job: &JobName) -> StoreResult<bool> {
        Ok(self
            .delete_item(job_selection_pk(job), JOB_SELECTION_SK)
            .await?
            .is_some())
    }
}

#[async_trait]
impl SettingsStore for DynamoStore {
    async fn get_settings(&self) -> StoreResult<(Settings, i64)> {
        match self.get_item(SETTINGS.to_owned(), SETTINGS).await? {
            Some(item) => Ok((
                decode_json(&item, "settings_json")?,
                get_i64(&item, "version")?,
            )),
            None => Ok((Settings::default(), 0)),
        }
    }

    async fn put_settings(&self, settings: &Settings, expected_version: i64) -> StoreResult<i64> {
        let version = expected_version.saturating_add(1);
        let mut item = key(SETTINGS.to_owned(), SETTINGS);
        item.insert(
            "settings_json".to_owned(),
            s(&encode_json("settings", settings)?),
        );
        item.insert("version".to_owned(), n(version));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
        } else {
            put.condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected_version))
        };
        match put.send().await {
            Ok(_) => Ok(version),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(format!(
                    "the settings are no longer at version {expected_version}: someone saved meanwhile"
                )))
            }
            Err(e) => Err(unavailable("PutItem (settings)", e)),
        }
    }
}

// ---- keys ------------------------------------------------------------------------------

/// An item's partition key, to name it in logs.
pub(super) fn item_pk_of(item: &Item) -> String {
    item.get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| "<no PK>".to_owned())
}

/// An item's whole key (`PK/SK`), to name it in logs.
fn item_key_of(item: &Item) -> String {
    let sk = item.get(SK).and_then(|v| v.as_s().ok());
    format!(
        "{}/{}",
        item_pk_of(item),
        sk.map_or("<no SK>", String::as_str)
    )
}

/// The id an index row sorts by (its zero-padded sort key), for a page cursor.
pub(super) fn index_id(item: &Item, gsi: GsiSchema) -> i64 {
    item.get(gsi.sort_key)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), s(sk)),
    ])
}

fn build_pk(id: i64) -> String {
    format!("BUILD#{id}")
}

fn job_pk(job: &str) -> String {
    format!("JOB#{job}")
}

fn session_pk(email: &Email) -> String {
    format!("SESSION#{email}")
}

/// The sort key of the one session per email kept before sessions were per role; such
/// items are ignored and expire by TTL.
const LEGACY_SESSION_SK: &str = "SESSION";

/// One session per role under the email's partition.
fn session_sk(is_admin: bool) -> &'static str {
    if is_admin {
        "SESSION#ADMIN"
    } else {
        "SESSION#USER"
    }
}

fn loginfail_pk(k: &str) -> String {
    format!("LOGINFAIL#{k}")
}

fn pset_pk(id: i64) -> String {
    format!("PSET#{id}")
}

fn pset_name_pk(name: &str) -> String {
    format!("PSETNAME#{name}")
}

/// A version's sort key; zero-padded so versions sort in order.
fn pset_version_sk(version: i64) -> String {
    format!("{VERSION_PREFIX}{version:010}")
}

fn item_pk(id: i64) -> String {
    format!("ITEM#{id}")
}

/// The (name, job) guard of a test item. Service names never contain `#`, job names may:
/// the name goes first so the key is unambiguous.
fn item_key_pk(item: &TestItem) -> String {
    format!("ITEMKEY#{}#{}", item.name, item.job_name)
}

fn job_selection_pk(job: &JobName) -> String {
    format!("JOBSEL#{job}")
}

/// An id as a sort key that orders like the number (ids are positive).
fn padded(id: i64) -> String {
    format!("{id:020}")
}

// ---- item mapping ----------------------------------------------------------------------

fn build_item(b: &Build) -> Item {
    let mut item = key(build_pk(b.id), "BUILD");
    let pad = padded(b.id);
    item.insert(GSI1.partition_key.to_owned(), s("BUILDS"));
    item.insert(GSI1.sort_key.to_owned(), s(&pad));
    item.insert(
        GSI2.partition_key.to_owned(),
        s(&job_pk(b.job_name.as_str())),
    );
    item.insert(GSI2.sort_key.to_owned(), s(&pad));
    item.insert("id".to_owned(), n(b.id));
    item.insert("job_name".to_owned(), s(b.job_name.as_str()));
    item.insert("build_number".to_owned(), n(b.build_number.get()));
    if let Some(user) = &b.build_user {
        item.insert("build_user".to_owned(), s(user));
    }
    item.insert("package_path".to_owned(), s(b.package_path.as_str()));
    item.insert("created_at".to_owned(), s(&fmt_time(b.created_at)));
    item
}

fn build_from_item(item: &Item) -> StoreResult<Build> {
    let build_number = get_i64(item, "build_number")?;
    if build_number <= 0 {
        return Err(corrupt(item, "build_number", "is not a positive integer"));
    }
    Ok(Build {
        id: get_i64(item, "id")?,
        job_name: job_name(get_s(item, "job_name")?)?,
        build_number: BuildNumber::from_stored(build_number),
        build_user: get_opt_s(item, "build_user")?.map(str::to_owned),
        package_path: PackagePath::parse("package_path", get_s(item, "package_path")?)
            .map_err(|e| corrupt(item, "package_path", &e.to_string()))?,
        created_at: get_time(item, "created_at")?,
    })
}

fn job_name(raw: &str) -> StoreResult<JobName> {
    JobName::parse("job_name", raw).map_err(|e| StoreError::Corrupt(format!("job name: {e}")))
}

fn session_item(session: &Session) -> Item {
    let mut item = key(session_pk(&session.email), session_sk(session.is_admin));
    item.insert(GSI1.partition_key.to_owned(), s("SESSIONS"));
    item.insert(
        GSI1.sort_key.to_owned(),
        s(&format!("{}#{}", session.email, u8::from(session.is_admin))),
    );
    item.insert("email".to_owned(), s(session.email.as_str()));
    item.insert("session_id".to_owned(), s(&session.session_id));
    item.insert(
        "is_admin".to_owned(),
        AttributeValue::Bool(session.is_admin),
    );
    item.insert("token_sha256".to_owned(), s(&session.token_sha256));
    item.insert("created_at".to_owned(), s(&fmt_time(session.created_at)));
    item.insert("expires_at".to_owned(), s(&fmt_time(session.expires_at)));
    item.insert(TTL.to_owned(), n(session.expires_at.timestamp()));
    item
}

fn session_from_item(item: &Item) -> StoreResult<Session> {
    Ok(Session {
        email: Email::parse("email", get_s(item, "email")?)
            .map_err(|e| corrupt(item, "email", &e.to_string()))?,
        session_id: get_s(item, "session_id")?.to_owned(),
        is_admin: get_bool(item, "is_admin")?,
        token_sha256: get_s(item, "token_sha256")?.to_owned(),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
    })
}

fn login_failures_from_item(item: &Item) -> StoreResult<LoginFailures> {
    let count = get_i64(item, "count")?;
    Ok(LoginFailures {
        count: u32::try_from(count).map_err(|_| corrupt(item, "count", "is out of range"))?,
        window_start: get_time(item, "window_start")?,
    })
}

/// The JSON text of a value stored as one string attribute.
fn encode_json<T: serde::Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {what} as JSON: {e}")))
}

fn decode_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> StoreResult<T> {
    serde_json::from_str(get_s(item, name)?)
        .map_err(|e| corrupt(item, name, &format!("is not valid JSON for it: {e}")))
}

fn get_opt_i64(item: &Item, name: &str) -> StoreResult<Option<i64>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_i64(item, name).map(Some),
    }
}

/// A new set's item (reference count 0).
fn new_pset_item(set: &ParameterSet) -> StoreResult<Item> {
    let mut item = key(pset_pk(set.id), PSET_SK);
    item.insert(GSI1.partition_key.to_owned(), s(PSETS));
    item.insert(GSI1.sort_key.to_owned(), s(&padded(set.id)));
    item.insert("id".to_owned(), n(set.id));
    item.insert("name".to_owned(), s(&set.name));
    item.insert("description".to_owned(), s(&set.description));
    item.insert(
        "params_json".to_owned(),
        s(&encode_json("params", &set.params)?),
    );
    item.insert(
        "is_default".to_owned(),
        AttributeValue::Bool(set.is_default),
    );
    item.insert("version".to_owned(), n(set.version));
    item.insert("created_at".to_owned(), s(&fmt_time(set.created_at)));
    item.insert("updated_at".to_owned(), s(&fmt_time(set.updated_at)));
    if let Some(by) = &set.updated_by {
        item.insert("updated_by".to_owned(), s(by));
    }
    item.insert("ref_count".to_owned(), n(0));
    Ok(item)
}

fn pset_from_item(item: &Item) -> StoreResult<ParameterSet> {
    Ok(ParameterSet {
        id: get_i64(item, "id")?,
        name: get_s(item, "name")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        params: decode_json(item, "params_json")?,
        is_default: get_bool(item, "is_default")?,
        version: get_i64(item, "version")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        updated_by: get_opt_s(item, "updated_by")?.map(str::to_owned),
    })
}

fn pset_name_item(name: &str, id: i64) -> Item {
    let mut item = key(pset_name_pk(name), PSET_NAME_SK);
    item.insert("set_id".to_owned(), n(id));
    item
}

/// The history record of the set's current version.
fn pset_version_item(set: &ParameterSet) -> StoreResult<Item> {
    let mut item = key(pset_pk(set.id), &pset_version_sk(set.version));
    item.insert("parameter_set_id".to_owned(), n(set.id));
    item.insert("version".to_owned(), n(set.version));
    item.insert("name".to_owned(), s(&set.name));
    item.insert("description".to_owned(), s(&set.description));
    item.insert(
        "params_json".to_owned(),
        s(&encode_json("params", &set.params)?),
    );
    item.insert("updated_at".to_owned(), s(&fmt_time(set.updated_at)));
    if let Some(by) = &set.updated_by {
        item.insert("updated_by".to_owned(), s(by));
    }
    Ok(item)
}

fn pset_version_from_item(item: &Item) -> StoreResult<ParameterSetVersion> {
    Ok(ParameterSetVersion {
        parameter_set_id: get_i64(item, "parameter_set_id")?,
        version: get_i64(item, "version")?,
        name: get_s(item, "name")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        params: decode_json(item, "params_json")?,
        updated_at: get_time(item, "updated_at")?,
        updated_by: get_opt_s(item, "updated_by")?.map(str::to_owned),
    })
}

fn test_item_from_fields(
    id: i64,
    fields: &TestItemFields,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> TestItem {
    TestItem {
        id,
        name: fields.name.clone(),
        job_name: fields.job_name.clone(),
        parameter_set_id: fields.parameter_set_id,
        description: fields.description.clone(),
        enabled: fields.enabled,
        notify_emails: fields.notify_emails.clone(),
        created_at,
        updated_at,
    }
}

fn test_item_item(t: &TestItem) -> Item {
    let mut item = key(item_pk(t.id), ITEM_SK);
    item.insert(GSI1.partition_key.to_owned(), s(ITEMS));
    item.insert(GSI1.sort_key.to_owned(), s(&padded(t.id)));
    item.insert("id".to_owned(), n(t.id));
    item.insert("name".to_owned(), s(t.name.as_str()));
    item.insert("job_name".to_owned(), s(t.job_name.as_str()));
    if let Some(set) = t.parameter_set_id {
        item.insert("parameter_set_id".to_owned(), n(set));
    }
    item.insert("description".to_owned(), s(&t.description));
    item.insert("enabled".to_owned(), AttributeValue::Bool(t.enabled));
    let emails = t.notify_emails.iter().map(|e| s(e.as_str())).collect();
    item.insert("notify_emails".to_owned(), AttributeValue::L(emails));
    item.insert("created_at".to_owned(), s(&fmt_time(t.created_at)));
    item.insert("updated_at".to_owned(), s(&fmt_time(t.updated_at)));
    item
}

fn test_item_from_item(item: &Item) -> StoreResult<TestItem> {
    let emails = match item.get("notify_emails") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(raw) => Email::from_stored("notify_emails", raw)
                    .map_err(|e| corrupt(item, "notify_emails", &e.to_string())),
                _ => Err(corrupt(item, "notify_emails", "holds a non-string")),
            })
            .collect::<StoreResult<Vec<_>>>()?,
        Some(_) => return Err(corrupt(item, "notify_emails", "is not a list")),
    };
    Ok(TestItem {
        id: get_i64(item, "id")?,
        name: ServiceName::parse("name", get_s(item, "name")?)
            .map_err(|e| corrupt(item, "name", &e.to_string()))?,
        job_name: job_name(get_s(item, "job_name")?)?,
        parameter_set_id: get_opt_i64(item, "parameter_set_id")?,
        description: get_s(item, "description")?.to_owned(),
        enabled: get_bool(item, "enabled")?,
        notify_emails: emails,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

fn item_guard(t: &TestItem) -> Item {
    let mut item = key(item_key_pk(t), ITEM_KEY_SK);
    item.insert("item_id".to_owned(), n(t.id));
    item
}

fn job_selection_item(sel: &JobSelection) -> Item {
    let mut item = key(job_selection_pk(&sel.job_name), JOB_SELECTION_SK);
    item.insert(GSI1.partition_key.to_owned(), s(JOB_SELECTIONS));
    item.insert(GSI1.sort_key.to_owned(), s(sel.job_name.as_str()));
    item.insert("job_name".to_owned(), s(sel.job_name.as_str()));
    item.insert("build_id".to_owned(), n(sel.build_id));
    item.insert("build_number".to_owned(), n(sel.build_number.get()));
    item.insert("auto_sync".to_owned(), AttributeValue::Bool(sel.auto_sync));
    item.insert(
        "sync_on_new_build".to_owned(),
        AttributeValue::Bool(sel.sync_on_new_build),
    );
    item.insert(
        "last_synced_at".to_owned(),
        s(&fmt_time(sel.last_synced_at)),
    );
    item.insert("updated_by".to_owned(), s(&sel.updated_by));
    item.insert("updated_at".to_owned(), s(&fmt_time(sel.updated_at)));
    item
}

fn job_selection_from_item(item: &Item) -> StoreResult<JobSelection> {
    let build_number = get_i64(item, "build_number")?;
    if build_number <= 0 {
        return Err(corrupt(item, "build_number", "is not a positive integer"));
    }
    Ok(JobSelection {
        job_name: job_name(get_s(item, "job_name")?)?,
        build_id: get_i64(item, "build_id")?,
        build_number: BuildNumber::from_stored(build_number),
        auto_sync: get_bool(item, "auto_sync")?,
        sync_on_new_build: get_bool(item, "sync_on_new_build")?,
        last_synced_at: get_time(item, "last_synced_at")?,
        updated_by: get_s(item, "updated_by")?.to_owned(),
        updated_at: get_time(item, "updated_at")?,
    })
}

// ---- attribute values ------------------------------------------------------------------

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// RFC 3339 UTC with as many fractional digits as needed: round-trips exactly.
fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn corrupt(item: &Item, attribute: &str, why: &str) -> StoreError {
    let pk = match item.get(PK) {
        Some(AttributeValue::S(pk)) => pk.as_str(),
        _ => "item",
    };
    StoreError::Corrupt(format!("{pk}: attribute {attribute} {why}"))
}

fn get_opt_s<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(item, name, "is not a string")),
    }
}

fn get_s<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    get_opt_s(item, name)?.ok_or_else(|| corrupt(item, name, "is missing"))
}

fn get_i64(item: &Item, name: &str) -> StoreResult<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(item, name, "is not an integer")),
        Some(_) => Err(corrupt(item, name, "is not a number")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(_) => Err(corrupt(item, name, "is not a boolean")),
        None => Err(corrupt(item, name, "is missing")),
    }
}

fn get_time(item: &Item, name: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|t| t.to_utc())
        .map_err(|_| corrupt(item, name, "is not an RFC 3339 time"))
}

// ---- requests and errors ---------------------------------------------------------------

fn attribute_definition(
    name: &str,
    attribute_type: &ScalarAttributeType,
) -> StoreResult<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(attribute_type.clone())
            .build(),
    )
}

fn key_schema(partition: &str, sort: &str) -> StoreResult<Vec<KeySchemaElement>> {
    Ok(vec![
        built(
            KeySchemaElement::builder()
                .attribute_name(partition)
                .key_type(KeyType::Hash)
                .build(),
        )?,
        built(
            KeySchemaElement::builder()
                .attribute_name(sort)
                .key_type(KeyType::Range)
                .build(),
        )?,
    ])
}

/// A request type that could not be built (a missing required field: a bug here).
fn built<T>(result: Result<T, BuildError>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Unavailable(format!("building a DynamoDB request: {e}")))
}

/// A failed call. For a service error only the error itself is kept (code, message and
/// request id), not the raw HTTP response.
fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match err {
        SdkError::ServiceError(context) => DisplayErrorContext(context.into_err()).to_string(),
        other => DisplayErrorContext(other).to_string(),
    };
    StoreError::Unavailable(format!("DynamoDB {operation}: {detail}"))
}
