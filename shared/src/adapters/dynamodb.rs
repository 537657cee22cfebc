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
//! | session | `SESSION#<email>` | `SESSION` | `SESSIONS` / email | | `email`, `session_id`, `is_admin`, `token_sha256`, `created_at`, `expires_at`, `ttl` |
//! | failed logins | `LOGINFAIL#<key>` | `LOGINFAIL` | | | `count` N, `window_start`, `ttl` (window end) |
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
//! - sessions: Get/Put/Delete by email; the admin list is Query GSI1 `SESSIONS`,
//!   filtered to live sessions in code.
//! - failed logins: read, then UpdateItem `ADD count :1` if `window_start` is unchanged,
//!   or PutItem a new window if the old one (or none) is still there; retried on a lost
//!   race.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::{
    Build, BuildNumber, Email, JobName, JobSummary, LoginFailures, NewBuild, PackagePath, Session,
};
use crate::ports::{
    BuildStore, IdCounters, LoginFailureStore, Page, SessionStore, StoreError, StoreResult,
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
            if let Some(want) = want {
                let missing = want.saturating_sub(rows.len()).max(1);
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

    // ---- login failures ----------------------------------------------------------------

    async fn login_failures_item(&self, k: &str) -> StoreResult<Option<(LoginFailures, String)>> {
        let Some(item) = self.get_item(loginfail_pk(k), "LOGINFAIL").await? else {
            return Ok(None);
        };
        let raw = get_s(&item, "window_start")?.to_owned();
        Ok(Some((login_failures_from_item(&item)?, raw)))
    }

    /// One attempt at counting a failure; `None` when a concurrent writer won the race.
    async fn try_record_login_failure(
        &self,
        k: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<LoginFailures>> {
        let stored = self.login_failures_item(k).await?;
        let current = stored.as_ref().map(|(f, _)| *f);
        let next = LoginFailures::after_failure(current, now);
        let pk = loginfail_pk(k);
        let same_window = LoginFailures::current(current, now).is_some();
        if let (true, Some((_, raw_start))) = (same_window, &stored) {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, "LOGINFAIL")))
                .update_expression("ADD #count :one")
                .condition_expression("window_start = :ws")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ws", s(raw_start))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            return match result {
                Ok(out) => match out.attributes {
                    Some(item) => login_failures_from_item(&item).map(Some),
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
        let mut item = key(pk, "LOGINFAIL");
        item.insert("count".to_owned(), n(i64::from(next.count)));
        item.insert("window_start".to_owned(), s(&fmt_time(next.window_start)));
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
            Ok(_) => Ok(Some(next)),
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
            if let Some(existing) = self.existing_build(&guard_pk).await? {
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
                            if let Some(existing) = self.existing_build(&guard_pk).await? {
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
        let builds = rows
            .iter()
            .map(build_from_item)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(builds, limit, |b| b.id))
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
        let mut jobs = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = job_name(get_s(row, "job_name")?)?;
            jobs.push((name, get_i64(row, "latest_build_id")?));
        }
        let ids: HashSet<i64> = jobs.iter().map(|(_, id)| *id).collect();
        let keys = ids.iter().map(|id| key(build_pk(*id), "BUILD")).collect();
        let mut builds: HashMap<i64, Build> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let build = build_from_item(&item)?;
            builds.insert(build.id, build);
        }
        let mut summaries = Vec::with_capacity(jobs.len());
        for (job_name, id) in jobs {
            let Some(latest_build) = builds.get(&id).cloned() else {
                return Err(StoreError::Corrupt(format!(
                    "job {job_name} points at build {id}, which does not exist"
                )));
            };
            summaries.push(JobSummary {
                job_name,
                latest_build,
            });
        }
        Ok(Page::from_overfetch(summaries, limit, |j| {
            j.job_name.to_string()
        }))
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

    async fn get_session(&self, email: &Email) -> StoreResult<Option<Session>> {
        match self.get_item(session_pk(email), "SESSION").await? {
            Some(item) => session_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, email: &Email) -> StoreResult<bool> {
        Ok(self
            .delete_item(session_pk(email), "SESSION")
            .await?
            .is_some())
    }

    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let rows = self.query_index(GSI1, "SESSIONS", None, true, None).await?;
        let mut sessions = Vec::with_capacity(rows.len());
        for row in &rows {
            let session = session_from_item(row)?;
            if session.is_live(now) {
                sessions.push(session);
            }
        }
        sessions.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
        Ok(sessions)
    }
}

#[async_trait]
impl LoginFailureStore for DynamoStore {
    async fn get_login_failures(&self, k: &str) -> StoreResult<Option<LoginFailures>> {
        Ok(self.login_failures_item(k).await?.map(|(f, _)| f))
    }

    async fn record_login_failure(
        &self,
        k: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<LoginFailures> {
        for _ in 0..MAX_ATTEMPTS {
            if let Some(f) = self.try_record_login_failure(k, now).await? {
                return Ok(f);
            }
            tracing::debug!(key = k, "login failure count lost a race; retrying");
        }
        Err(StoreError::Conflict(format!(
            "login failures of {k} are being updated concurrently"
        )))
    }

    async fn clear_login_failures(&self, k: &str) -> StoreResult<()> {
        self.delete_item(loginfail_pk(k), "LOGINFAIL").await?;
        Ok(())
    }
}

// ---- keys ------------------------------------------------------------------------------

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

fn loginfail_pk(k: &str) -> String {
    format!("LOGINFAIL#{k}")
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
    let mut item = key(session_pk(&session.email), "SESSION");
    item.insert(GSI1.partition_key.to_owned(), s("SESSIONS"));
    item.insert(GSI1.sort_key.to_owned(), s(session.email.as_str()));
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
