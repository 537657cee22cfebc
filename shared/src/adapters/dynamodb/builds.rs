//! Builds and jobs on DynamoDB.
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
//! - latest build of a job: GetItem the job item, then its `latest_build_id`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Item, corrupt, fmt_time, get_i64, get_opt_s, get_s, get_time, job_name, n, s};
use super::keys::{
    BUILD_GUARD_SK, BUILD_SEQUENCE, BUILD_SK, BUILDS, JOB_SK, JOBS, build_guard_pk, build_pk,
    item_pk_of, job_pk, key, padded,
};
use super::requests::{IdOrder, condition_held, unavailable};
use super::table::{GSI1, GSI2, PK};
use super::tx::{MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_put_new};
use crate::adapters::readable;
use crate::domain::{Build, BuildNumber, JobName, JobSummary, NewBuild, PackagePath};
use crate::ports::{BuildStore, IdCounters as _, Page, StoreError, StoreResult};

impl DynamoStore {
    /// The build the uniqueness guard of (job, number) points at, if the guard exists.
    async fn build_by_guard(&self, guard_pk: &str) -> StoreResult<Option<Build>> {
        let Some(guard) = self.get_item(guard_pk.to_owned(), BUILD_GUARD_SK).await? else {
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
    async fn update_job(&self, build: &Build) -> StoreResult<()> {
        let job = build.job_name.as_str();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job), JOB_SK)))
            .update_expression(
                "SET #g1pk = :jobs, #g1sk = :name, job_name = :name, \
                 latest_build_id = :id, latest_build_number = :n",
            )
            .condition_expression("attribute_not_exists(#pk) OR latest_build_number < :n")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#g1pk", GSI1.partition_key)
            .expression_attribute_names("#g1sk", GSI1.sort_key)
            .expression_attribute_values(":jobs", s(JOBS))
            .expression_attribute_values(":name", s(job))
            .expression_attribute_values(":id", n(build.id))
            .expression_attribute_values(":n", n(build.build_number.get()))
            .send()
            .await;
        // Already at a higher build: nothing to do.
        condition_held("UpdateItem (job)", result)?;
        Ok(())
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
                let Some(guard) = self.get_item(guard_pk.to_owned(), BUILD_GUARD_SK).await? else {
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
        let mut id = None;
        for attempt in 0..MAX_ATTEMPTS {
            if let Some(existing) = self.existing_or_repaired_build(&guard_pk, new, now).await? {
                return Ok((existing, false));
            }
            let build_id = match id {
                Some(i) => i,
                None => self.next_id(BUILD_SEQUENCE).await?,
            };
            id = Some(build_id);
            let build = Build::new(build_id, new, now);
            let mut guard = key(guard_pk.clone(), BUILD_GUARD_SK);
            guard.insert("build_id".to_owned(), n(build_id));
            let ops = vec![
                (Role::NewGuard, tx_put_new(&self.table, guard)?),
                (Role::Main, tx_put_new(&self.table, build_item(&build))?),
            ];
            match self.transact("build", ops).await? {
                TxOutcome::Committed => {
                    self.update_job(&build).await?;
                    return Ok((build, true));
                }
                // Another caller stored this (job, number) first: use theirs.
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    if let Some(existing) =
                        self.existing_or_repaired_build(&guard_pk, new, now).await?
                    {
                        return Ok((existing, false));
                    }
                }
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

fn build_item(b: &Build) -> Item {
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
