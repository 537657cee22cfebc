//! Builds and jobs on DynamoDB.
//! - insert build, one write call: BatchGetItem (consistent) the (job, number) guard, the
//!   build id counter and the job item; a guard found is a repeat (GetItem the build; the
//!   job item is moved to it only if it points at a lower build number, which heals a
//!   crash of an older version between its writes). Otherwise one TransactWriteItems
//!   [Update counter to read+1 if still at the value read, Put guard if
//!   `attribute_not_exists(PK)`, Put build, Update job if `attribute_not_exists(PK) OR
//!   latest_build_number < :n` (left out when the job item is already past it)]. A
//!   cancellation by the guard (another caller won) answers with the winner's build; by
//!   the counter (another build took the id) takes an id with the atomic ADD instead (a
//!   second write call, only under contention) and tries again; by the job item only
//!   (it moved past meanwhile) reads again.
//! - builds newest first: Query GSI1 `BUILDS` (all) or GSI2 `JOB#<name>` (one job),
//!   descending, `SK < padded(before_id)` for the next page.
//! - jobs by name: Query GSI1 `JOBS` ascending, `GSI1SK > after`, then BatchGetItem of
//!   the latest builds.
//! - latest build of a job: GetItem the job item, then its `latest_build_id`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{
    Attrs, Item, corrupt, fmt_time, get_i64, get_opt_i64, get_opt_s, get_s, get_time, job_name, n,
    s,
};
use super::keys::{
    BUILD_GUARD_SK, BUILD_SEQUENCE, BUILD_SK, BUILDS, COUNTER_SK, JOB_SK, JOBS, build_guard_pk,
    build_pk, counter_pk, item_pk_of, job_pk, key, padded,
};
use super::requests::{IdOrder, condition_held, unavailable};
use super::table::{GSI1, GSI2, PK};
use super::tx::{MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_put_new, tx_update};
use crate::adapters::readable;
use crate::domain::{Build, BuildNumber, JobName, JobSummary, NewBuild, PackagePath};
use crate::ports::{BuildStore, IdCounters as _, Page, StoreError, StoreResult};

impl DynamoStore {
    /// The uniqueness guard of (job, number): `known` when just read, else read now.
    async fn guard(&self, guard_pk: &str, known: Option<&Item>) -> StoreResult<Option<Item>> {
        match known {
            Some(guard) => Ok(Some(guard.clone())),
            None => self.get_item(guard_pk.to_owned(), BUILD_GUARD_SK).await,
        }
    }

    /// The build the uniqueness guard of (job, number) points at, if the guard exists.
    async fn build_by_guard(
        &self,
        guard_pk: &str,
        known: Option<&Item>,
    ) -> StoreResult<Option<Build>> {
        let Some(guard) = self.guard(guard_pk, known).await? else {
            return Ok(None);
        };
        let id = get_i64(&guard, "build_id")?;
        match self.get_item(build_pk(id), BUILD_SK).await? {
            Some(item) => build_from_item(&item).map(Some),
            None => Err(StoreError::Corrupt(format!(
                "{guard_pk} points at build {id}, which does not exist"
            ))),
        }
    }

    /// Points the job item at `build` unless it already points at a higher build number.
    pub(super) async fn update_job(&self, build: &Build) -> StoreResult<()> {
        let (names, values) = job_update_attrs(build).into_parts();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(build.job_name.as_str()), JOB_SK)))
            .update_expression(JOB_UPDATE)
            .condition_expression(JOB_BEHIND)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        // Already at a higher build: nothing to do.
        condition_held("UpdateItem (job)", result)?;
        Ok(())
    }

    /// What the table holds for a webhook before it writes: the (job, number) guard, the
    /// last build id issued, the job item's build number (one consistent BatchGetItem).
    async fn before_insert(&self, guard_pk: &str, job: &JobName) -> StoreResult<BeforeInsert> {
        let counter = counter_pk(BUILD_SEQUENCE);
        let job_key = job_pk(job.as_str());
        let keys = vec![
            key(guard_pk.to_owned(), BUILD_GUARD_SK),
            key(counter.clone(), COUNTER_SK),
            key(job_key.clone(), JOB_SK),
        ];
        let mut seen = BeforeInsert::default();
        for item in self.batch_get(keys).await? {
            let pk = item_pk_of(&item);
            if pk == guard_pk {
                seen.guard = Some(item);
            } else if pk == counter {
                seen.last_id = Some(get_i64(&item, "value")?);
            } else if pk == job_key {
                // A job item without a readable number is never moved (the condition on
                // it cannot hold), as before: leave it out rather than fail the webhook.
                let number = get_opt_i64(&item, "latest_build_number").ok().flatten();
                seen.job_number = Some(number.unwrap_or(i64::MAX));
            }
        }
        Ok(seen)
    }

    /// The existing build for a guard, with the job item healed unless `job_number` (the
    /// job item's build number, when read just before) shows it is not behind.
    async fn existing_build(
        &self,
        guard_pk: &str,
        known_guard: Option<&Item>,
        job_number: Option<i64>,
    ) -> StoreResult<Option<Build>> {
        let Some(build) = self.build_by_guard(guard_pk, known_guard).await? else {
            return Ok(None);
        };
        if job_number.is_none_or(|n| n < build.build_number.get()) {
            self.update_job(&build).await?;
        }
        Ok(Some(build))
    }

    /// [`Self::existing_build`], except that a stored build that no longer reads (saved
    /// under older, laxer rules: `CDN/. `) is rewritten from the repeated webhook `new`,
    /// keeping its id, instead of failing every repeat.
    async fn existing_or_repaired_build(
        &self,
        guard_pk: &str,
        known_guard: Option<&Item>,
        job_number: Option<i64>,
        new: &NewBuild,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Build>> {
        match self.existing_build(guard_pk, known_guard, job_number).await {
            Err(StoreError::Corrupt(why)) => {
                let Some(guard) = self.guard(guard_pk, known_guard).await? else {
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
}

#[async_trait]
impl BuildStore for DynamoStore {
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)> {
        let guard_pk = build_guard_pk(new.build_number, &new.job_name);
        // An id taken with the atomic ADD after another build took the one read.
        let mut reserved = None;
        for attempt in 0..MAX_ATTEMPTS {
            let seen = self.before_insert(&guard_pk, &new.job_name).await?;
            if seen.guard.is_some()
                && let Some(existing) = self
                    .existing_or_repaired_build(
                        &guard_pk,
                        seen.guard.as_ref(),
                        seen.job_number,
                        new,
                        now,
                    )
                    .await?
            {
                return Ok((existing, false));
            }
            let mut ops = Vec::with_capacity(4);
            let build_id = match reserved {
                Some(id) => id,
                None => {
                    let (id, bump) = counter_bump(&self.table, seen.last_id)?;
                    ops.push((Role::Counter, bump));
                    id
                }
            };
            let build = Build::new(build_id, new, now);
            let mut guard = key(guard_pk.clone(), BUILD_GUARD_SK);
            guard.insert("build_id".to_owned(), n(build_id));
            ops.push((Role::NewGuard, tx_put_new(&self.table, guard)?));
            ops.push((Role::Main, tx_put_new(&self.table, build_item(&build))?));
            if seen.job_number.is_none_or(|n| n < build.build_number.get()) {
                let job_key = key(job_pk(build.job_name.as_str()), JOB_SK);
                let attrs = job_update_attrs(&build);
                let update = tx_update(&self.table, job_key, JOB_UPDATE, Some(JOB_BEHIND), attrs)?;
                ops.push((Role::Job, update));
            }
            match self.transact("build", ops).await? {
                TxOutcome::Committed => return Ok((build, true)),
                // Another caller stored this (job, number) first: use theirs.
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    if let Some(existing) = self
                        .existing_or_repaired_build(&guard_pk, None, None, new, now)
                        .await?
                    {
                        return Ok((existing, false));
                    }
                }
                // Another build took the id read: take one that no one else can.
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Counter) => {
                    reserved = Some(self.next_id(BUILD_SEQUENCE).await?);
                }
                // The job item moved past this build meanwhile: read again.
                TxOutcome::ConditionFailed(roles) if roles == [Role::Job] => {}
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Conflict(format!(
                        "build id {build_id} is already taken"
                    )));
                }
                // Raced with a concurrent transaction on the guard: try again.
                TxOutcome::Contended => backoff(attempt).await,
            }
            tracing::debug!(guard = %guard_pk, "build insert lost a race; retrying");
        }
        Err(StoreError::Conflict(format!(
            "build {} of {} is being stored concurrently; try again",
            new.build_number, new.job_name
        )))
    }

    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>> {
        match self.get_item(build_pk(id), BUILD_SK).await? {
            Some(item) => build_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn find_build(&self, job: &JobName, number: BuildNumber) -> StoreResult<Option<Build>> {
        self.build_by_guard(&build_guard_pk(number, job), None)
            .await
    }

    async fn latest_build(&self, job: &JobName) -> StoreResult<Option<Build>> {
        let Some(item) = self.get_item(job_pk(job.as_str()), JOB_SK).await? else {
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
        let partition = match job {
            Some(j) => (GSI2, job_pk(j.as_str())),
            None => (GSI1, BUILDS.to_owned()),
        };
        let order = IdOrder::Before(before_id);
        self.id_page(
            "build",
            (partition.0, &partition.1),
            order,
            None,
            limit,
            build_from_item,
        )
        .await
    }

    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>> {
        let condition = after_name.map(|a| (">", a.to_owned()));
        let rows = self
            .query_index(GSI1, JOBS, condition, true, Some(limit.saturating_add(1)))
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
        let keys = ids.iter().map(|id| key(build_pk(*id), BUILD_SK)).collect();
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

/// What [`DynamoStore::before_insert`] read.
#[derive(Default)]
struct BeforeInsert {
    guard: Option<Item>,
    /// The last build id issued (the counter's value); `None`: no build yet.
    last_id: Option<i64>,
    /// The job item's build number; `None`: no job item yet.
    job_number: Option<i64>,
}

/// The job item pointing at a build, and when to move it (never back to a lower number).
const JOB_UPDATE: &str = "SET #g1pk = :jobs, #g1sk = :name, job_name = :name, latest_build_id = :id, latest_build_number = :n";
const JOB_BEHIND: &str = "attribute_not_exists(#pk) OR latest_build_number < :n";

fn job_update_attrs(build: &Build) -> Attrs {
    Attrs::pk()
        .name("#g1pk", GSI1.partition_key)
        .name("#g1sk", GSI1.sort_key)
        .value(":jobs", s(JOBS))
        .value(":name", s(build.job_name.as_str()))
        .value(":id", n(build.id))
        .value(":n", n(build.build_number.get()))
}

/// The next build id after `last_id`, and the transaction write that takes it: the
/// counter moves from `last_id` to it, failing if another caller moved it first (the
/// counter is the same one the atomic `next_id` adds to).
fn counter_bump(
    table: &str,
    last_id: Option<i64>,
) -> StoreResult<(i64, aws_sdk_dynamodb::types::TransactWriteItem)> {
    let next = last_id.unwrap_or(0) + 1;
    let mut attrs = Attrs::default()
        .name("#value", "value")
        .value(":next", n(next));
    let condition = match last_id {
        Some(last) => {
            attrs = attrs.value(":last", n(last));
            "#value = :last"
        }
        None => {
            attrs = attrs.name("#pk", PK);
            "attribute_not_exists(#pk)"
        }
    };
    let counter = key(counter_pk(BUILD_SEQUENCE), COUNTER_SK);
    let update = tx_update(table, counter, "SET #value = :next", Some(condition), attrs)?;
    Ok((next, update))
}

pub(super) fn build_item(b: &Build) -> Item {
    let mut item = key(build_pk(b.id), BUILD_SK);
    let pad = padded(b.id);
    item.insert(GSI1.partition_key.to_owned(), s(BUILDS));
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
