//! Test environments on DynamoDB (ids from the counter `environments`; multi-item writes
//! are transactions through `tx`).
//! - create: [Put name guard if `attribute_not_exists`, Put environment if `attribute_not_exists`].
//! - update: read it; [Update environment (the fields, not `ref_count`) if its name is
//!   still the one read, and on a rename Delete the old guard and Put the new one if
//!   `attribute_not_exists`]. A cancellation of the first write reads again.
//! - references: a test item's writes `ADD ref_count ±1` on its environment in the same
//!   transaction (`test_items`), the `+1` only if the environment exists.
//! - delete: read it (answer `InUse` / `NotFound`); [Delete environment if its name is
//!   unchanged and `ref_count` is 0, Delete name guard]; a cancellation reads again.
//! - environments by id: Query GSI1 `ENVS` ascending, `GSI1SK > padded(after)`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{Attrs, Item, corrupt, fmt_time, get_bool, get_i64, get_s, get_time, n, s};
use super::keys::{ENV_NAME_SK, ENV_SEQUENCE, ENV_SK, ENVS, env_name_pk, env_pk, key, padded};
use super::requests::IdOrder;
use super::table::GSI1;
use super::tx::{
    MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_delete, tx_move_guard, tx_put_new, tx_update,
};
use crate::domain::config_values::{HttpUrl, Origin};
use crate::domain::{Environment, EnvironmentFields, EnvironmentId};
use crate::ports::{
    EnvironmentDeletion, EnvironmentStore, IdCounters as _, Page, StoreError, StoreResult,
};

impl DynamoStore {
    /// The stored environment and how many test items refer to it.
    pub(super) async fn environment_with_refs(
        &self,
        id: EnvironmentId,
    ) -> StoreResult<Option<(Environment, i64)>> {
        let Some(item) = self.get_item(env_pk(id.get()), ENV_SK).await? else {
            return Ok(None);
        };
        let refs = match item.get("ref_count") {
            None => 0,
            Some(_) => get_i64(&item, "ref_count")?,
        };
        Ok(Some((environment_from_item(&item)?, refs)))
    }
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("an environment named {name:?} already exists"))
}

#[async_trait]
impl EnvironmentStore for DynamoStore {
    async fn create_environment(
        &self,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment> {
        let id = EnvironmentId::from_stored(self.next_id(ENV_SEQUENCE).await?);
        let env = Environment::from_fields(id, fields, now, now);
        let table = &self.table;
        let ops = vec![
            (
                Role::NewGuard,
                tx_put_new(table, name_guard(&env.name, id))?,
            ),
            (Role::Main, tx_put_new(table, environment_item(&env))?),
        ];
        for attempt in 0..MAX_ATTEMPTS {
            match self.transact("create environment", ops.clone()).await? {
                TxOutcome::Committed => return Ok(env),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    return Err(name_taken(&fields.name));
                }
                TxOutcome::ConditionFailed(_) => {
                    return Err(StoreError::Conflict(format!(
                        "environment id {id} is already taken"
                    )));
                }
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "environment {:?} could not be stored under concurrent changes; try again",
            fields.name
        )))
    }

    async fn get_environment(&self, id: EnvironmentId) -> StoreResult<Option<Environment>> {
        Ok(self.environment_with_refs(id).await?.map(|(env, _)| env))
    }

    async fn list_environments(
        &self,
        after_id: Option<EnvironmentId>,
        limit: usize,
    ) -> StoreResult<Page<Environment, EnvironmentId>> {
        let order = IdOrder::After(after_id.map(EnvironmentId::get));
        let page = self
            .id_page(
                "environment",
                (GSI1, ENVS),
                order,
                None,
                limit,
                environment_from_item,
            )
            .await?;
        Ok(Page {
            items: page.items,
            next: page.next.map(EnvironmentId::from_stored),
        })
    }

    async fn update_environment(
        &self,
        id: EnvironmentId,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Environment>> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(old) = self.get_environment(id).await? else {
                return Ok(None);
            };
            let next = Environment::from_fields(id, fields, old.created_at, now);
            let mut ops = vec![(Role::Main, self.update_op(&old, &next)?)];
            if old.name != next.name {
                ops.extend(tx_move_guard(
                    &self.table,
                    key(env_name_pk(&old.name), ENV_NAME_SK),
                    name_guard(&next.name, id),
                )?);
            }
            match self.transact("update environment", ops).await? {
                TxOutcome::Committed => return Ok(Some(next)),
                TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewGuard) => {
                    return Err(name_taken(&fields.name));
                }
                // Renamed or deleted meanwhile: the next read tells which.
                TxOutcome::ConditionFailed(_) => {}
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "environment {id} is being changed concurrently; try again"
        )))
    }

    async fn delete_environment(&self, id: EnvironmentId) -> StoreResult<EnvironmentDeletion> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some((env, refs)) = self.environment_with_refs(id).await? else {
                return Ok(EnvironmentDeletion::NotFound);
            };
            if refs > 0 {
                return Ok(EnvironmentDeletion::InUse);
            }
            let table = &self.table;
            let delete = tx_delete(
                table,
                key(env_pk(id.get()), ENV_SK),
                Some(
                    "attribute_exists(#pk) AND #name = :name \
                     AND (attribute_not_exists(#refs) OR #refs <= :zero)",
                ),
                Attrs::pk()
                    .name("#name", "name")
                    .name("#refs", "ref_count")
                    .value(":name", s(&env.name))
                    .value(":zero", n(0)),
            )?;
            let guard = tx_delete(
                table,
                key(env_name_pk(&env.name), ENV_NAME_SK),
                None,
                Attrs::default(),
            )?;
            let ops = vec![(Role::Main, delete), (Role::OldGuard, guard)];
            match self.transact("delete environment", ops).await? {
                TxOutcome::Committed => return Ok(EnvironmentDeletion::Deleted),
                // A reference or a rename came in meanwhile: read again.
                TxOutcome::ConditionFailed(_) => {}
                TxOutcome::Contended => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict(format!(
            "environment {id} is being changed concurrently; try again"
        )))
    }
}

impl DynamoStore {
    /// Writes `next`'s fields over `old` while `old`'s name (and so its guard) is unchanged.
    fn update_op(&self, old: &Environment, next: &Environment) -> StoreResult<TransactWriteItem> {
        tx_update(
            &self.table,
            key(env_pk(next.id.get()), ENV_SK),
            "SET #name = :name, #url = :url, #origins = :origins, #desc = :desc, \
             #enabled = :enabled, #updated_at = :updated_at",
            Some("attribute_exists(#pk) AND #name = :old_name"),
            Attrs::pk()
                .name("#name", "name")
                .name("#url", "external_test_server_url")
                .name("#origins", "report_origins")
                .name("#desc", "description")
                .name("#enabled", "enabled")
                .name("#updated_at", "updated_at")
                .value(":name", s(&next.name))
                .value(":url", s(next.external_test_server_url.as_str()))
                .value(":origins", origins_value(&next.report_origins))
                .value(":desc", s(&next.description))
                .value(":enabled", AttributeValue::Bool(next.enabled))
                .value(":updated_at", s(&fmt_time(next.updated_at)))
                .value(":old_name", s(&old.name)),
        )
    }
}

/// Adds `delta` to an environment's reference count; the environment must exist (an
/// update of a missing key would create a stray item).
pub(super) fn tx_add_environment_refs(
    table: &str,
    id: EnvironmentId,
    delta: i64,
) -> StoreResult<TransactWriteItem> {
    tx_update(
        table,
        key(env_pk(id.get()), ENV_SK),
        "ADD #refs :delta",
        Some("attribute_exists(#pk)"),
        Attrs::pk()
            .name("#refs", "ref_count")
            .value(":delta", n(delta)),
    )
}

pub(super) fn name_guard(name: &str, id: EnvironmentId) -> Item {
    let mut item = key(env_name_pk(name), ENV_NAME_SK);
    item.insert("environment_id".to_owned(), n(id.get()));
    item
}

fn origins_value(origins: &[Origin]) -> AttributeValue {
    AttributeValue::L(origins.iter().map(|o| s(o.as_str())).collect())
}

pub(super) fn environment_item(env: &Environment) -> Item {
    let mut item = key(env_pk(env.id.get()), ENV_SK);
    item.insert(GSI1.partition_key.to_owned(), s(ENVS));
    item.insert(GSI1.sort_key.to_owned(), s(&padded(env.id.get())));
    item.insert("id".to_owned(), n(env.id.get()));
    item.insert("name".to_owned(), s(&env.name));
    item.insert(
        "external_test_server_url".to_owned(),
        s(env.external_test_server_url.as_str()),
    );
    item.insert(
        "report_origins".to_owned(),
        origins_value(&env.report_origins),
    );
    item.insert("description".to_owned(), s(&env.description));
    item.insert("enabled".to_owned(), AttributeValue::Bool(env.enabled));
    item.insert("created_at".to_owned(), s(&fmt_time(env.created_at)));
    item.insert("updated_at".to_owned(), s(&fmt_time(env.updated_at)));
    item
}

fn environment_from_item(item: &Item) -> StoreResult<Environment> {
    let origins = match item.get("report_origins") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(raw) => Origin::parse("report_origins", raw)
                    .map_err(|e| corrupt(item, "report_origins", &e.to_string())),
                _ => Err(corrupt(item, "report_origins", "holds a non-string")),
            })
            .collect::<StoreResult<Vec<_>>>()?,
        Some(_) => return Err(corrupt(item, "report_origins", "is not a list")),
    };
    Ok(Environment {
        id: EnvironmentId::from_stored(get_i64(item, "id")?),
        name: get_s(item, "name")?.to_owned(),
        external_test_server_url: HttpUrl::parse(
            "external_test_server_url",
            get_s(item, "external_test_server_url")?,
        )
        .map_err(|e| corrupt(item, "external_test_server_url", &e.to_string()))?,
        report_origins: origins,
        description: get_s(item, "description")?.to_owned(),
        enabled: get_bool(item, "enabled")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}
