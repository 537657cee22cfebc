//! Test items: what can be deployed and tested, for which job, with which parameters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Email, EnvironmentId, JobName, ServiceName};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestItem {
    pub id: i64,
    /// Service name, e.g. `cds`: the package file's name starts with it.
    #[schema(value_type = String, example = "cds")]
    pub name: ServiceName,
    #[schema(value_type = String, example = "CDN_CORE")]
    pub job_name: JobName,
    /// `null` means the default parameter set.
    pub parameter_set_id: Option<i64>,
    /// `null` means the default environment (the settings' test server); items stored
    /// before environments read as `null`.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub environment_id: Option<EnvironmentId>,
    pub description: String,
    pub enabled: bool,
    /// Extra recipients of the result mail.
    #[schema(value_type = Vec<String>)]
    pub notify_emails: Vec<Email>,
    /// Started by the build webhook for every new build of its job (default false).
    #[serde(default)]
    pub trigger_on_new_build: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of a test item, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestItemFields {
    pub name: ServiceName,
    pub job_name: JobName,
    pub parameter_set_id: Option<i64>,
    pub environment_id: Option<EnvironmentId>,
    pub description: String,
    pub enabled: bool,
    pub notify_emails: Vec<Email>,
    pub trigger_on_new_build: bool,
}
