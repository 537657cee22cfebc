//! Parameter sets on DynamoDB (ids from the counter `parameter_sets`; multi-item writes
//! are transactions through `tx`; the history is in `parameter_set_versions`).
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
//! - sets by id: Query GSI1 `PSETS` ascending, `GSI1SK > padded(after)`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{
    Attrs, Item, decode_json, encode_json, fmt_time, get_bool, get_i64, get_opt_s, get_s, get_time,
    n, s,
};
use super::keys::{
    PSET_DEFAULT, PSET_NAME_SK, PSET_SEQUENCE, PSET_SK, PSETS, key, padded, pset_name_pk, pset_pk,
};
use super::parameter_set_versions::pset_version_item;
use super::requests::IdOrder;
use super::table::GSI1;
use super::tx::{
    MAX_ATTEMPTS, Role, TxOutcome, backoff, tx_check, tx_delete, tx_move_guard, tx_put, tx_put_new,
    tx_update,
};
use crate::domain::{ParameterSet, ParameterSetVersion, Params};
use crate::ports::{
    IdCounters as _, Page, ParameterSetStore, SetDeletion, StoreError, StoreResult,
};

impl DynamoStore {
    /// The id the default-set pointer names, if any.
    async fn default_set_id(&self) -> StoreResult<Option<i64>> {
        match self.get_item(PSET_DEFAULT.to_owned(), PSET_DEFAULT).await? {
            Some(item) => get_i64(&item, "set_id").map(Some),
            None => Ok(None),
        }
    }

    /// The stored set and its reference count.
    pub(super) async fn parameter_set_with_refs(
        &self,
        id: i64,
    ) -> StoreResult<Option<(ParameterSet, i64)>> {
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
        let mut ops = vec![
            (
                Role::NewGuard,
                tx_put_new(table, pset_name_item(&set.name, set.id))?,
            ),
            (Role::Main, tx_put_new(table, new_pset_item(set)?)?),
            (
                Role::History,
                tx_put(table, pset_version_item(set)?, None, Attrs::default())?,
            ),
        ];
        if set.is_default {
            let mut pointer = key(PSET_DEFAULT.to_owned(), PSET_DEFAULT);
            pointer.insert("set_id".to_owned(), n(set.id));
            ops.push((Role::Pointer, tx_put_new(table, pointer)?));
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
            ops.extend(tx_move_guard(
                table,
                key(pset_name_pk(&stored.name), PSET_NAME_SK),
                pset_name_item(&next.name, next.id),
            )?);
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
            None => ops.push((Role::Pointer, tx_put_new(table, pointer)?)),
        }
        match self.transact("set default parameter set", ops).await? {
            TxOutcome::Committed => Ok(Some(true)),
            TxOutcome::ConditionFailed(roles) if roles.contains(&Role::NewSet) => Ok(Some(false)),
            TxOutcome::ConditionFailed(_) | TxOutcome::Contended => Ok(None),
        }
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
        let order = IdOrder::After(after_id);
        self.id_page(
            "parameter set",
            (GSI1, PSETS),
            order,
            None,
            limit,
            pset_from_item,
        )
        .await
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
        self.set_versions(id).await
    }
}

/// A new set's item (reference count 0).
pub(super) fn new_pset_item(set: &ParameterSet) -> StoreResult<Item> {
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

pub(super) fn pset_name_item(name: &str, id: i64) -> Item {
    let mut item = key(pset_name_pk(name), PSET_NAME_SK);
    item.insert("set_id".to_owned(), n(id));
    item
}
