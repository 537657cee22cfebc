use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::parameter_set::{parse_description, parse_set_name};
use crate::domain::{ParameterSet, ParameterSetId, Params};
use crate::ports::SetDeletion;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateParameterSet {
    #[schema(
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x1f\x7f-\x9f\s])?\s*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: String,
    /// A JSON object ≤ 16 KiB; `service_name`, `install_dir`, `upgrade_type` are type-checked.
    #[serde(default)]
    #[schema(schema_with = params_schema)]
    pub params: Option<Value>,
}

/// Every field optional; content changes bump the version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParameterSet {
    #[schema(
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x1f\x7f-\x9f\s])?\s*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    #[schema(schema_with = params_schema)]
    pub params: Option<Value>,
    /// `true` makes this the default set (the previous default stops being it).
    pub is_default: Option<bool>,
}

/// `params` as [`crate::domain::Params::parse`] checks it: an object (or `null`: none) whose
/// keys are non-empty text without control characters, with the known keys typed. At most
/// 16 KiB of JSON, which a schema cannot say.
fn params_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Object,
            Type::Null,
        ]))
        .property_names(Some(
            string().pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]+$")),
        ))
        .property("service_name", string().pattern(Some(r"\S")))
        .property(
            "install_dir",
            string().pattern(Some(r"^(?:/(?:|\.|[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|\.[^/.\x00-\x1f\x7f-\x9f][^/\x00-\x1f\x7f-\x9f]*|\.\.[^/\x00-\x1f\x7f-\x9f]+))+$")),
        )
        .property(
            "upgrade_type",
            string().enum_values(Some(["full", "update"])),
        )
        .description(Some(
            "a JSON object ≤ 16 KiB; service_name, install_dir (absolute), upgrade_type are type-checked; other keys pass through",
        ))
        .into()
}

fn not_found(id: ParameterSetId) -> ServiceError {
    ServiceError::no_such("parameter set", id)
}

fn name_taken(e: crate::ports::StoreError) -> ServiceError {
    match e {
        crate::ports::StoreError::Conflict(message) => ServiceError::Conflict {
            code: "conflict",
            message,
            details: None,
        },
        other => other.into(),
    }
}

#[tracing::instrument(skip_all, fields(by = %by))]
pub async fn create(
    state: &Deps,
    by: &str,
    input: CreateParameterSet,
) -> ServiceResult<ParameterSet> {
    let name = parse_set_name(&input.name)?;
    let description = parse_description(&input.description)?;
    let params = Params::parse(
        "params",
        &input
            .params
            .unwrap_or_else(|| Value::Object(Default::default())),
    )?;
    let set = state
        .store
        .create_parameter_set(&name, &description, &params, by, state.clock.now())
        .await
        .map_err(name_taken)?;
    tracing::info!(id = set.id, name = %set.name, is_default = set.is_default, "parameter set created");
    Ok(set)
}

#[tracing::instrument(skip_all, fields(by = %by, id))]
pub async fn update(
    state: &Deps,
    by: &str,
    id: ParameterSetId,
    input: UpdateParameterSet,
) -> ServiceResult<ParameterSet> {
    let current = state
        .store
        .get_parameter_set(id.get())
        .await?
        .ok_or_else(|| not_found(id))?;
    if input.is_default == Some(false) && current.is_default {
        return Err(ServiceError::Conflict {
            code: "default_required",
            message: "one set is always the default; make another set the default instead".into(),
            details: None,
        });
    }
    let mut next = current.clone();
    if let Some(name) = &input.name {
        next.name = parse_set_name(name)?;
    }
    if let Some(description) = &input.description {
        next.description = parse_description(description)?;
    }
    if let Some(params) = &input.params {
        next.params = Params::parse("params", params)?;
    }
    let content_changed =
        input.name.is_some() || input.description.is_some() || input.params.is_some();
    let mut stored = current;
    if content_changed {
        next.version += 1;
        next.updated_at = state.clock.now();
        next.updated_by = Some(by.to_owned());
        stored = state
            .store
            .update_parameter_set(&next)
            .await
            .map_err(name_taken)?
            .ok_or_else(|| not_found(id))?;
        tracing::info!(version = stored.version, "parameter set updated");
    }
    if input.is_default == Some(true) && !stored.is_default {
        if !state.store.set_default_parameter_set(id.get()).await? {
            return Err(not_found(id));
        }
        stored.is_default = true;
        tracing::info!("parameter set is now the default");
    }
    Ok(stored)
}

pub async fn delete(state: &Deps, id: ParameterSetId) -> ServiceResult<()> {
    match state.store.delete_parameter_set(id.get()).await? {
        SetDeletion::Deleted => {
            tracing::info!(%id, "parameter set deleted");
            Ok(())
        }
        SetDeletion::NotFound => Err(not_found(id)),
        SetDeletion::IsDefault => Err(ServiceError::Conflict {
            code: "parameter_set_is_default",
            message:
                "the default parameter set cannot be deleted; make another set the default first"
                    .into(),
            details: None,
        }),
        SetDeletion::InUse => Err(ServiceError::Conflict {
            code: "parameter_set_in_use",
            message: "a test item uses this parameter set; change or delete those test items first"
                .into(),
            details: None,
        }),
    }
}
