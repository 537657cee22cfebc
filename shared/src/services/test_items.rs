use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::config_values::{parse_email_list, parse_text};
use crate::domain::{EmailText, JobName, ServiceName, TestItem, TestItemFields, TestItemId};

/// The body of POST and PUT (PUT replaces every field).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestItemInput {
    /// Service name, e.g. `cds`: the package file's name starts with it.
    #[schema(pattern = r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{0,63}\s*$")]
    pub name: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub job_name: String,
    /// `null` or absent: the default parameter set.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub parameter_set_id: Option<i64>,
    /// `null` or absent: the default environment (the settings' test server).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub environment_id: Option<i64>,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    #[schema(value_type = Vec<EmailText>, max_items = 50)]
    pub notify_emails: Vec<String>,
    /// `true`: a new build of the job (a webhook's 201) triggers this item for that build.
    #[serde(default)]
    pub trigger_on_new_build: bool,
}

fn enabled_by_default() -> bool {
    true
}

async fn parse(state: &Deps, input: TestItemInput) -> ServiceResult<TestItemFields> {
    let fields = TestItemFields {
        name: ServiceName::parse("name", &input.name)?,
        job_name: JobName::parse("job_name", &input.job_name)?,
        parameter_set_id: input.parameter_set_id,
        environment_id: super::environments::existing_id(state, input.environment_id).await?,
        description: parse_text("description", &input.description, 0, 2000)?,
        enabled: input.enabled,
        notify_emails: parse_email_list("notify_emails", &input.notify_emails)?,
        trigger_on_new_build: input.trigger_on_new_build,
    };
    if let Some(id) = fields.parameter_set_id
        && state.store.get_parameter_set(id).await?.is_none()
    {
        return Err(ServiceError::Unprocessable {
            code: "parameter_set_not_found",
            message: format!(
                "parameter_set_id: no parameter set with id {id}; create it first or leave this null for the default"
            ),
        });
    }
    Ok(fields)
}

pub async fn create(state: &Deps, input: TestItemInput) -> ServiceResult<TestItem> {
    let fields = parse(state, input).await?;
    let item = state
        .store
        .create_test_item(&fields, state.clock.now())
        .await?;
    tracing::info!(id = item.id, name = %item.name, job = %item.job_name, "test item created");
    Ok(item)
}

pub async fn update(state: &Deps, id: TestItemId, input: TestItemInput) -> ServiceResult<TestItem> {
    let fields = parse(state, input).await?;
    let item = state
        .store
        .update_test_item(id.get(), &fields, state.clock.now())
        .await?
        .ok_or_else(|| ServiceError::no_such("test item", id))?;
    tracing::info!(%id, "test item updated");
    Ok(item)
}
