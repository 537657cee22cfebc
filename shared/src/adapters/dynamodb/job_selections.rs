//! Job selections on DynamoDB.
//! - job selections: Get/Delete by job name; Put, if `build_id = :expected` for a
//!   conditional move; all of them is Query GSI1 `JOBSELS` (by name).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::codec::{Item, corrupt, fmt_time, get_bool, get_i64, get_s, get_time, job_name, n, s};
use super::keys::{JOB_SELECTION_SK, JOB_SELECTIONS, item_pk_of, job_selection_pk, key};
use super::requests::condition_held;
use super::table::GSI1;
use crate::adapters::readable;
use crate::domain::{BuildNumber, JobName, JobSelection};
use crate::ports::{JobSelectionStore, StoreError, StoreResult};

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
        match condition_held("PutItem (job selection)", put.send().await)? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(format!(
                "the selection of job {} no longer points at build {}",
                selection.job_name,
                only_if_build_id.unwrap_or_default()
            ))),
        }
    }

    async fn delete_job_selection(&self, job: &JobName) -> StoreResult<bool> {
        Ok(self
            .delete_item(job_selection_pk(job), JOB_SELECTION_SK)
            .await?
            .is_some())
    }
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
