//! Parameter-set history on DynamoDB: one item per version in the set's partition
//! (`VERSION#<version, 10 digits>`), written by the same transactions as the set, so the
//! current version has one too.

use super::DynamoStore;
use super::codec::{
    Item, decode_json, encode_json, fmt_time, get_i64, get_opt_s, get_s, get_time, n, s,
};
use super::keys::{PSET_SK, VERSION_PREFIX, item_pk_of, key, pset_pk, pset_version_sk};
use super::table::{PK, SK};
use crate::adapters::readable;
use crate::domain::{ParameterSet, ParameterSetVersion};
use crate::ports::StoreResult;

impl DynamoStore {
    /// Every version of set `id`, newest first; none when the set itself is gone.
    pub(super) async fn set_versions(&self, id: i64) -> StoreResult<Vec<ParameterSetVersion>> {
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

    /// Removes a deleted set's history; a failure leaves unreachable items only.
    pub(super) async fn delete_set_history(&self, id: i64) {
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
}

/// The history record of the set's current version.
pub(super) fn pset_version_item(set: &ParameterSet) -> StoreResult<Item> {
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
