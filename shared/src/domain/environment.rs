//! Test environments: a test server, and the origins its reports are read from, that a
//! test item's runs go to. An item without one uses the default environment: the
//! settings' `external_test_server_url` and `report_origins`, as before environments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::config_values::{HttpUrl, Origin, parse_origin_list, parse_text};
use super::field::FieldError;
use super::ids::EnvironmentId;
use super::settings::{Settings, report_origins_schema};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Environment {
    #[schema(value_type = i64)]
    pub id: EnvironmentId,
    /// Unique among environments.
    pub name: String,
    /// This environment's test server (POST /api/deploy_and_test, GET /api/tasks/{id}).
    #[schema(value_type = String, example = "http://127.0.0.1:9000")]
    pub external_test_server_url: HttpUrl,
    /// Origins whose report links are read; empty: only the test server's origin.
    #[schema(schema_with = report_origins_schema)]
    pub report_origins: Vec<Origin>,
    pub description: String,
    /// A disabled environment takes no new runs.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of an environment, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFields {
    pub name: String,
    pub external_test_server_url: HttpUrl,
    pub report_origins: Vec<Origin>,
    pub description: String,
    pub enabled: bool,
}

/// The longest environment name (characters).
pub const MAX_ENVIRONMENT_NAME: usize = 100;

impl EnvironmentFields {
    /// Checks every field as the settings check the same keys; errors name the field.
    pub fn parse(
        name: &str,
        external_test_server_url: &str,
        report_origins: &[String],
        description: &str,
        enabled: bool,
    ) -> Result<Self, FieldError> {
        let name = parse_text("name", name.trim(), 1, MAX_ENVIRONMENT_NAME)?;
        if name.contains(['\n', '\t']) {
            return Err(FieldError::new("name", "must be one line"));
        }
        Ok(Self {
            name,
            external_test_server_url: HttpUrl::parse(
                "external_test_server_url",
                external_test_server_url,
            )?,
            report_origins: parse_origin_list("report_origins", report_origins)?,
            description: parse_text("description", description, 0, 2000)?,
            enabled,
        })
    }
}

impl Environment {
    pub fn from_fields(
        id: EnvironmentId,
        fields: &EnvironmentFields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            name: fields.name.clone(),
            external_test_server_url: fields.external_test_server_url.clone(),
            report_origins: fields.report_origins.clone(),
            description: fields.description.clone(),
            enabled: fields.enabled,
            created_at,
            updated_at,
        }
    }
}

/// Where a run's test server is: its environment's, or the default one (`environment_id`
/// `None`: the settings' `external_test_server_url` and `report_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestServer {
    pub environment_id: Option<EnvironmentId>,
    /// `None` only for the default environment while the settings have no test server.
    pub external_test_server_url: Option<HttpUrl>,
    pub report_origins: Vec<Origin>,
}

impl TestServer {
    /// The default environment: what the settings describe.
    pub fn default_of(settings: &Settings) -> Self {
        Self {
            environment_id: None,
            external_test_server_url: settings.external_test_server_url.clone(),
            report_origins: settings.report_origins.clone(),
        }
    }

    pub fn of(environment: &Environment) -> Self {
        Self {
            environment_id: Some(environment.id),
            external_test_server_url: Some(environment.external_test_server_url.clone()),
            report_origins: environment.report_origins.clone(),
        }
    }
}

impl Settings {
    /// These settings with the test server and report origins of `server`: the trigger,
    /// poll and notify steps read both through the settings, so one substitution moves a
    /// run to its environment (the report-origin rules included).
    pub fn on_test_server(&self, server: &TestServer) -> Self {
        Self {
            external_test_server_url: server.external_test_server_url.clone(),
            report_origins: server.report_origins.clone(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(url: &str, origins: &[&str]) -> Result<EnvironmentFields, FieldError> {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        EnvironmentFields::parse(" staging ", url, &origins, "", true)
    }

    #[test]
    fn fields_are_checked_as_the_settings_check_them() {
        let ok = fields(
            "http://127.0.0.1:9000/",
            &["HTTP://Reports.Example:80/", "http://reports.example"],
        )
        .unwrap();
        assert_eq!(ok.name, "staging");
        assert_eq!(
            ok.external_test_server_url.as_str(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            ok.report_origins
                .iter()
                .map(Origin::as_str)
                .collect::<Vec<_>>(),
            ["http://reports.example"]
        );
        assert_eq!(
            fields("ftp://x", &[]).unwrap_err().field,
            "external_test_server_url"
        );
        assert_eq!(
            fields("", &[]).unwrap_err().field,
            "external_test_server_url"
        );
        assert_eq!(
            fields("http://127.0.0.1:9000", &["http://a.example", "x"])
                .unwrap_err()
                .field,
            "report_origins[1]"
        );
        let bad_name = EnvironmentFields::parse("a\nb", "http://h.example", &[], "", true);
        assert_eq!(bad_name.unwrap_err().field, "name");
        let empty = EnvironmentFields::parse("  ", "http://h.example", &[], "", true);
        assert_eq!(empty.unwrap_err().field, "name");
        let long = "x".repeat(MAX_ENVIRONMENT_NAME + 1);
        assert!(EnvironmentFields::parse(&long, "http://h.example", &[], "", true).is_err());
    }

    #[test]
    fn a_test_server_replaces_the_settings_server_and_origins_only() {
        let settings = Settings::default()
            .patched(&serde_json::json!({
                "external_test_server_url": "http://default.example",
                "report_origins": ["http://reports.default.example"],
                "project_name": "P"}))
            .unwrap();
        let default = TestServer::default_of(&settings);
        assert_eq!(default.environment_id, None);
        assert_eq!(settings.on_test_server(&default), settings);

        let env = Environment::from_fields(
            EnvironmentId::from_stored(2),
            &fields("http://b.example:9000", &[]).unwrap(),
            DateTime::UNIX_EPOCH,
            DateTime::UNIX_EPOCH,
        );
        let on_b = settings.on_test_server(&TestServer::of(&env));
        assert_eq!(
            on_b.external_test_server_url.as_ref().map(HttpUrl::as_str),
            Some("http://b.example:9000")
        );
        assert_eq!(on_b.project_name, "P");
        // With no origins listed, only B's own server origin is read (not the default's).
        assert_eq!(on_b.report_refusal("http://b.example:9000/r/1"), None);
        assert!(
            on_b.report_refusal("http://reports.default.example/r/1")
                .is_some()
        );
    }
}
