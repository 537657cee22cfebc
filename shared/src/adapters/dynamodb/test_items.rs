//! Test items on DynamoDB (ids from the counter `test_items`; multi-item writes are
//! transactions through `tx`).
//! - create a test item: [Put (name, job) guard if `attribute_not_exists`, Put item, and
//!   with a set, Update set `ADD ref_count :1` if it exists]. So a set with a reference
//!   always exists, and a set is only deleted with `ref_count` 0.
//! - update a test item: read it; [Put item if its name, job and set are still the ones
//!   read, move the guard when (name, job) changed, and when the set changed `ADD
//!   ref_count -1` on the old and `+1` (if it exists) on the new]. Delete likewise.
//! - environments: the same as sets, `ref_count` on the environment item
//!   (`environments`), so an environment in use is never deleted.
//! - items by id: Query GSI1 `ITEMS` ascending, `GSI1SK > padded(after)`.
//! - what a new build of a job starts: Query GSI2 `NEWBUILD#<job>` (a sparse partition:
//!   only enabled items with `trigger_on_new_build` are in it, so the usual answer is an
//!   empty Query, whatever the number of items).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{
    Attrs, Item, corrupt, fmt_time, get_bool, get_i64, get_opt_i64, get_s, get_time, job_name, n, s,
};
use super::environments::tx_add_environment_refs;
use super::keys::{
    ITEM_KEY_SK, ITEM_SEQUENCE, ITEM_SK, ITEMS, PSET_SK, item_key_pk, item_pk, item_pk_of, key,
    new_build_items_pk, padded, pset_pk,
};
use super::requests::IdOrder;
use super::table::{GSI1, GSI2};
use super::tx::{
    MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_delete, tx_move_guard, tx_put, tx_put_new, tx_update,
};
use crate::adapters::readable;
use crate::domain::{Email, EnvironmentId, JobName, ServiceName, TestItem, TestItemFields};
use crate::ports::{IdCounters as _, Page, StoreError, StoreResult, TestItemStore};

impl DynamoStore {
    /// The writes that replace `old` by `next`, moving its guard and references.
    pub(super) fn update_item_ops(
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
            ops.extend(tx_move_guard(
                table,
                key(item_key_pk(old), ITEM_KEY_SK),
                item_guard(next),
            )?);
        }
        if old.parameter_set_id != next.parameter_set_id {
            if let Some(set) = old.parameter_set_id {
                ops.push((Role::OldSet, tx_add_refs(table, set, -1)?));
            }
            if let Some(set) = next.parameter_set_id {
                ops.push((Role::NewSet, tx_add_refs(table, set, 1)?));
            }
        }
        if old.environment_id != next.environment_id {
            if let Some(env) = old.environment_id {
                ops.push((
                    Role::OldEnvironment,
                    tx_add_environment_refs(table, env, -1)?,
                ));
            }
            if let Some(env) = next.environment_id {
                ops.push((
                    Role::NewEnvironment,
                    tx_add_environment_refs(table, env, 1)?,
                ));
            }
        }
        Ok(ops)
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
        let mut ops = vec![
            (Role::NewGuard, tx_put_new(table, item_guard(&item))?),
            (Role::Main, tx_put_new(table, test_item_item(&item))?),
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
        let order = IdOrder::After(after_id);
        self.id_page(
            "test item",
            (GSI1, ITEMS),
            order,
            None,
            limit,
            test_item_from_item,
        )
        .await
    }

    async fn new_build_trigger_items(&self, job: &JobName) -> StoreResult<Vec<TestItem>> {
        let partition = new_build_items_pk(job);
        let rows = self
            .query_index_filtered(GSI2, &partition, None, true, None, None)
            .await?;
        readable("test item", rows, item_pk_of, |i| test_item_from_item(&i))
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
            if let Some(env) = old.environment_id {
                ops.push((
                    Role::OldEnvironment,
                    tx_add_environment_refs(table, env, -1)?,
                ));
            }
            match self.transact("delete test item", ops).await? {
                TxOutcome::Committed => return Ok(true),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::Main) => {}
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "test item {id} refers to a parameter set or environment that does not exist"
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

/// The condition "this test item still has the (name, job, set, environment) we read",
/// and its attributes.
fn unchanged_item_condition(old: &TestItem) -> (String, Attrs) {
    let mut attrs = Attrs::default()
        .name("#name", "name")
        .name("#job", "job_name")
        .name("#set", "parameter_set_id")
        .name("#env", "environment_id")
        .value(":old_name", s(old.name.as_str()))
        .value(":old_job", s(old.job_name.as_str()));
    let set = match old.parameter_set_id {
        Some(id) => {
            attrs = attrs.value(":old_set", n(id));
            "#set = :old_set"
        }
        None => "attribute_not_exists(#set)",
    };
    let env = match old.environment_id {
        Some(id) => {
            attrs = attrs.value(":old_env", n(id.get()));
            "#env = :old_env"
        }
        None => "attribute_not_exists(#env)",
    };
    (
        format!("#name = :old_name AND #job = :old_job AND {set} AND {env}"),
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
    if roles.contains(&Role::NewEnvironment) {
        let id = fields.environment_id.map_or(0, EnvironmentId::get);
        return Some(StoreError::Conflict(format!(
            "environment {id} does not exist"
        )));
    }
    if roles.contains(&Role::OldSet) || roles.contains(&Role::OldEnvironment) {
        return Some(StoreError::Corrupt(
            "a test item refers to a parameter set or environment that does not exist".to_owned(),
        ));
    }
    None
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
        environment_id: fields.environment_id,
        description: fields.description.clone(),
        enabled: fields.enabled,
        notify_emails: fields.notify_emails.clone(),
        trigger_on_new_build: fields.trigger_on_new_build,
        created_at,
        updated_at,
    }
}

pub(super) fn test_item_item(t: &TestItem) -> Item {
    let mut item = key(item_pk(t.id), ITEM_SK);
    item.insert(GSI1.partition_key.to_owned(), s(ITEMS));
    item.insert(GSI1.sort_key.to_owned(), s(&padded(t.id)));
    if t.enabled && t.trigger_on_new_build {
        item.insert(
            GSI2.partition_key.to_owned(),
            s(&new_build_items_pk(&t.job_name)),
        );
        item.insert(GSI2.sort_key.to_owned(), s(&padded(t.id)));
    }
    item.insert("id".to_owned(), n(t.id));
    item.insert("name".to_owned(), s(t.name.as_str()));
    item.insert("job_name".to_owned(), s(t.job_name.as_str()));
    if let Some(set) = t.parameter_set_id {
        item.insert("parameter_set_id".to_owned(), n(set));
    }
    if let Some(env) = t.environment_id {
        item.insert("environment_id".to_owned(), n(env.get()));
    }
    item.insert("description".to_owned(), s(&t.description));
    item.insert("enabled".to_owned(), AttributeValue::Bool(t.enabled));
    let emails = t.notify_emails.iter().map(|e| s(e.as_str())).collect();
    item.insert("notify_emails".to_owned(), AttributeValue::L(emails));
    item.insert(
        "trigger_on_new_build".to_owned(),
        AttributeValue::Bool(t.trigger_on_new_build),
    );
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
        environment_id: get_opt_i64(item, "environment_id")?.map(EnvironmentId::from_stored),
        description: get_s(item, "description")?.to_owned(),
        enabled: get_bool(item, "enabled")?,
        notify_emails: emails,
        // Absent on items stored before the field existed.
        trigger_on_new_build: item.contains_key("trigger_on_new_build")
            && get_bool(item, "trigger_on_new_build")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

pub(super) fn item_guard(t: &TestItem) -> Item {
    let mut item = key(item_key_pk(t), ITEM_KEY_SK);
    item.insert("item_id".to_owned(), n(t.id));
    item
}

/// Adds `delta` to a parameter set's reference count; the set must exist (an update of a
/// missing key would create a stray item).
pub(super) fn tx_add_refs(table: &str, set_id: i64, delta: i64) -> StoreResult<TransactWriteItem> {
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
