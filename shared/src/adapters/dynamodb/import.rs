//! Records written as they are, ids included (`crat import`), with the items each record
//! keeps beside it. Each put reads the stored record with the aggregate's own reader and
//! writes nothing when it is equal; otherwise one TransactWriteItems writes the record
//! with the aggregate's own item codec:
//! - build: [Put guard if `attribute_not_exists(PK) OR build_id = :id`, Put build, on a
//!   changed (job, number) Delete the old guard], then the job item moved to it unless it
//!   is past it (as a webhook does).
//! - parameter set: its version items first (BatchWriteItem; versions no longer there are
//!   deleted), then [Put name guard if free or its own, Put set keeping the stored
//!   `ref_count`, Put the default pointer if free or its own when the set is the default
//!   (Delete it, if its own, when no longer), Delete the old name guard on a rename].
//! - environment: [Put name guard if free or its own, Put environment keeping `ref_count`,
//!   Delete the old name guard on a rename].
//! - test item: new: [Put guard if free or its own, Put item if `attribute_not_exists`,
//!   `ADD ref_count :1` on its set and environment if they exist]; stored: the update's
//!   writes (`update_item_ops`: guard and references move).
//! - settings, run: PutItem (a run takes no lock, no queue place and no duplicate guard).
//! - counter: UpdateItem `SET value = :n` if `attribute_not_exists(value) OR value < :n`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::DynamoStore;
use super::builds::build_item;
use super::codec::{Attrs, encode_json, n, s};
use super::environments::{environment_item, name_guard, tx_add_environment_refs};
use super::keys::{
    BUILD_GUARD_SK, COUNTER_SK, ENV_NAME_SK, PSET_DEFAULT, PSET_NAME_SK, SETTINGS, build_guard_pk,
    counter_pk, env_name_pk, key, pset_name_pk, pset_pk, pset_version_sk,
};
use super::parameter_set_versions::pset_version_item;
use super::parameter_sets::{new_pset_item, pset_name_item};
use super::requests::{condition_held, unavailable};
use super::runs::run_item;
use super::test_items::{item_guard, test_item_item, tx_add_refs};
use super::tx::{MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_delete, tx_put, tx_put_new};
use crate::domain::{
    Build, Environment, ParameterSet, ParameterSetVersion, Run, Settings, TestItem,
};
use crate::ports::{
    BuildStore as _, ImportStore, Imported, RunStore as _, SettingsStore as _, StoreError,
    StoreResult, TestItemStore as _,
};

fn outcome(stored: bool) -> Imported {
    if stored {
        Imported::Replaced
    } else {
        Imported::Created
    }
}

/// A guard put that succeeds when the guard is free or already names `id` in `attribute`.
fn tx_put_own_guard(
    table: &str,
    guard: super::codec::Item,
    attribute: &str,
    id: i64,
) -> StoreResult<TransactWriteItem> {
    tx_put(
        table,
        guard,
        Some("attribute_not_exists(#pk) OR #owner = :own"),
        Attrs::pk().name("#owner", attribute).value(":own", n(id)),
    )
}

/// A parameter-set version as the history item codec takes it (a set at that version).
fn set_at_version(v: &ParameterSetVersion) -> ParameterSet {
    ParameterSet {
        id: v.parameter_set_id,
        name: v.name.clone(),
        description: v.description.clone(),
        params: v.params.clone(),
        is_default: false,
        version: v.version,
        created_at: v.updated_at,
        updated_at: v.updated_at,
        updated_by: v.updated_by.clone(),
    }
}

impl DynamoStore {
    /// Runs the writes of one import; a failed condition is `Conflict` with `clash`.
    async fn import_tx(
        &self,
        what: &str,
        ops: Vec<(Role, TransactWriteItem)>,
        clash: impl Fn(&[Role]) -> StoreError,
    ) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact(what, ops.clone()).await? {
                TxOutcome::Committed => return Ok(()),
                TxOutcome::ConditionFailed(roles) => return Err(clash(&roles)),
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "{what}: the table kept changing under the import; try again"
        )))
    }
}

#[async_trait]
impl ImportStore for DynamoStore {
    async fn import_build(&self, build: &Build) -> StoreResult<Imported> {
        let stored = self.get_build(build.id).await?;
        if stored.as_ref() == Some(build) {
            return Ok(Imported::Unchanged);
        }
        let table = &self.table;
        let mut guard = key(
            build_guard_pk(build.build_number, &build.job_name),
            BUILD_GUARD_SK,
        );
        guard.insert("build_id".to_owned(), n(build.id));
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put_own_guard(table, guard, "build_id", build.id)?,
            ),
            (
                Role::Main,
                tx_put(table, build_item(build), None, Attrs::default())?,
            ),
        ];
        if let Some(old) = &stored
            && (&old.job_name, old.build_number) != (&build.job_name, build.build_number)
        {
            let old_guard = key(
                build_guard_pk(old.build_number, &old.job_name),
                BUILD_GUARD_SK,
            );
            ops.push((
                Role::OldGuard,
                tx_delete(table, old_guard, None, Attrs::default())?,
            ));
        }
        self.import_tx("import build", ops, |_| {
            StoreError::Conflict(format!(
                "build {}: another build already has job {} number {}",
                build.id, build.job_name, build.build_number
            ))
        })
        .await?;
        self.update_job(build).await?;
        Ok(outcome(stored.is_some()))
    }

    async fn import_parameter_set(
        &self,
        set: &ParameterSet,
        versions: &[ParameterSetVersion],
    ) -> StoreResult<Imported> {
        let mut versions = versions.to_vec();
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        let stored = self.parameter_set_with_refs(set.id).await?;
        let stored_versions = self.set_versions(set.id).await?;
        if stored.as_ref().map(|(s, _)| s) == Some(set) && stored_versions == versions {
            return Ok(Imported::Unchanged);
        }
        // The history first: without its set item it is never shown.
        let items = versions
            .iter()
            .map(|v| pset_version_item(&set_at_version(v)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_put("import parameter set versions", items)
            .await?;
        let stale: Vec<_> = stored_versions
            .iter()
            .filter(|old| !versions.iter().any(|v| v.version == old.version))
            .map(|old| key(pset_pk(set.id), &pset_version_sk(old.version)))
            .collect();
        self.batch_delete(stale).await?;

        let table = &self.table;
        let mut item = new_pset_item(set)?;
        let refs = stored.as_ref().map_or(0, |(_, refs)| *refs);
        item.insert("ref_count".to_owned(), n(refs));
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put_own_guard(table, pset_name_item(&set.name, set.id), "set_id", set.id)?,
            ),
            (Role::Main, tx_put(table, item, None, Attrs::default())?),
        ];
        let mut pointer = key(PSET_DEFAULT.to_owned(), PSET_DEFAULT);
        if set.is_default {
            pointer.insert("set_id".to_owned(), n(set.id));
            ops.push((
                Role::Pointer,
                tx_put_own_guard(table, pointer, "set_id", set.id)?,
            ));
        } else if stored.as_ref().is_some_and(|(old, _)| old.is_default) {
            ops.push((
                Role::Pointer,
                tx_delete(
                    table,
                    pointer,
                    Some("attribute_not_exists(#pk) OR set_id = :own"),
                    Attrs::pk().value(":own", n(set.id)),
                )?,
            ));
        }
        if let Some((old, _)) = &stored
            && old.name != set.name
        {
            ops.push((
                Role::OldGuard,
                tx_delete(
                    table,
                    key(pset_name_pk(&old.name), PSET_NAME_SK),
                    None,
                    Attrs::default(),
                )?,
            ));
        }
        self.import_tx("import parameter set", ops, |roles| {
            if roles.contains(&Role::Pointer) {
                StoreError::Conflict(format!(
                    "parameter set {}: another set is the default in this store",
                    set.id
                ))
            } else {
                StoreError::Conflict(format!(
                    "parameter set {}: its name {:?} is taken by another set",
                    set.id, set.name
                ))
            }
        })
        .await?;
        Ok(outcome(stored.is_some()))
    }

    async fn import_environment(&self, environment: &Environment) -> StoreResult<Imported> {
        let env = environment;
        let stored = self.environment_with_refs(env.id).await?;
        if stored.as_ref().map(|(e, _)| e) == Some(env) {
            return Ok(Imported::Unchanged);
        }
        let table = &self.table;
        let mut item = environment_item(env);
        let refs = stored.as_ref().map_or(0, |(_, refs)| *refs);
        item.insert("ref_count".to_owned(), n(refs));
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put_own_guard(
                    table,
                    name_guard(&env.name, env.id),
                    "environment_id",
                    env.id.get(),
                )?,
            ),
            (Role::Main, tx_put(table, item, None, Attrs::default())?),
        ];
        if let Some((old, _)) = &stored
            && old.name != env.name
        {
            ops.push((
                Role::OldGuard,
                tx_delete(
                    table,
                    key(env_name_pk(&old.name), ENV_NAME_SK),
                    None,
                    Attrs::default(),
                )?,
            ));
        }
        self.import_tx("import environment", ops, |_| {
            StoreError::Conflict(format!(
                "environment {}: its name {:?} is taken by another environment",
                env.id, env.name
            ))
        })
        .await?;
        Ok(outcome(stored.is_some()))
    }

    async fn import_test_item(&self, item: &TestItem) -> StoreResult<Imported> {
        let stored = self.get_test_item(item.id).await?;
        if stored.as_ref() == Some(item) {
            return Ok(Imported::Unchanged);
        }
        let table = &self.table;
        let ops = match &stored {
            Some(old) => self.update_item_ops(old, item)?,
            None => {
                let mut ops = vec![
                    (
                        Role::NewGuard,
                        tx_put_own_guard(table, item_guard(item), "item_id", item.id)?,
                    ),
                    (Role::Main, tx_put_new(table, test_item_item(item))?),
                ];
                if let Some(set) = item.parameter_set_id {
                    ops.push((Role::NewSet, tx_add_refs(table, set, 1)?));
                }
                if let Some(env) = item.environment_id {
                    ops.push((
                        Role::NewEnvironment,
                        tx_add_environment_refs(table, env, 1)?,
                    ));
                }
                ops
            }
        };
        self.import_tx("import test item", ops, |roles| {
            let why = if roles.contains(&Role::NewSet) {
                format!(
                    "its parameter set {} does not exist",
                    item.parameter_set_id.unwrap_or_default()
                )
            } else if roles.contains(&Role::NewEnvironment) {
                format!(
                    "its environment {} does not exist",
                    item.environment_id.map_or(0, |e| e.get())
                )
            } else if roles.contains(&Role::NewGuard) {
                format!(
                    "another item is named {} for job {}",
                    item.name, item.job_name
                )
            } else {
                "it changed while being imported; try again".to_owned()
            };
            StoreError::Conflict(format!("test item {}: {why}", item.id))
        })
        .await?;
        Ok(outcome(stored.is_some()))
    }

    async fn import_settings(&self, settings: &Settings, version: i64) -> StoreResult<Imported> {
        // Version 0: never saved (no item).
        let (stored, stored_version) = self.get_settings().await?;
        let exists = stored_version != 0;
        if &stored == settings && stored_version == version {
            return Ok(Imported::Unchanged);
        }
        let mut item = key(SETTINGS.to_owned(), SETTINGS);
        item.insert(
            "settings_json".to_owned(),
            s(&encode_json("settings", settings)?),
        );
        item.insert("version".to_owned(), n(version));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (import settings)", e))?;
        Ok(outcome(exists))
    }

    async fn import_run(&self, run: &Run) -> StoreResult<Imported> {
        let stored = self.get_run(run.id.get()).await?;
        if stored.as_ref() == Some(run) {
            return Ok(Imported::Unchanged);
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run_item(run)?))
            .send()
            .await
            .map_err(|e| unavailable("PutItem (import run)", e))?;
        Ok(outcome(stored.is_some()))
    }

    async fn advance_counter(&self, sequence: &str, at_least: i64) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(counter_pk(sequence), COUNTER_SK)))
            .update_expression("SET #value = :n")
            .condition_expression("attribute_not_exists(#value) OR #value < :n")
            .expression_attribute_names("#value", "value")
            .expression_attribute_values(":n", n(at_least))
            .send()
            .await;
        // Already at or past it: nothing to do.
        condition_held("UpdateItem (counter)", result)?;
        Ok(())
    }
}
