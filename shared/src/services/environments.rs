//! Test environments: the admin's CRUD, the check of a test item's `environment_id`, and
//! the resolver the run flow uses to find a test item's test server.

use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::{
    Environment, EnvironmentFields, EnvironmentId, FieldError, Run, Settings, TestItem, TestServer,
};
use crate::ports::{EnvironmentDeletion, StoreError};

/// The body of POST and PUT (PUT replaces every field).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentInput {
    /// 1–100 characters after trimming, one line.
    #[schema(
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x1f\x7f-\x9f\s])?\s*$"
    )]
    pub name: String,
    /// The test server's base URL (http or https, no query), e.g. `http://127.0.0.1:9000`.
    #[schema(schema_with = url_schema)]
    pub external_test_server_url: String,
    /// Origins (`scheme://host[:port]`) whose report links are read; empty: only the
    /// test server's origin.
    #[serde(default)]
    #[schema(schema_with = origins_schema)]
    pub report_origins: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The hosts the schema offers: ones the URL parser takes as written (a dotted quad, or
/// names whose last label starts with a letter: a numeric last label would be read as an
/// IPv4 address), with an optional port. `HttpUrl` and `Origin` accept more; the schema
/// promises only what is surely accepted.
const HOST_PATTERN: &str = r"(?:(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?\.){0,4}[A-Za-z](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?)(?::[0-9]{1,4})?";

fn text_schema(pattern: String) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
        .build()
}

/// `external_test_server_url`: an http(s) URL with a host, an optional path, no query.
fn url_schema() -> utoipa::openapi::schema::Object {
    let mut schema = text_schema(format!(
        r"^\s*https?://{HOST_PATTERN}(?:/[A-Za-z0-9._~/-]*)?\s*$"
    ));
    schema.examples = vec![serde_json::json!("http://127.0.0.1:9000")];
    schema
}

/// `report_origins`: at most 20 origins, each `scheme://host[:port]`.
fn origins_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(text_schema(format!(r"^\s*https?://{HOST_PATTERN}/?\s*$")))
        .max_items(Some(crate::domain::config_values::MAX_ORIGINS))
        .build()
}

fn parse(input: &EnvironmentInput) -> Result<EnvironmentFields, FieldError> {
    EnvironmentFields::parse(
        &input.name,
        &input.external_test_server_url,
        &input.report_origins,
        &input.description,
        input.enabled,
    )
}

fn name_taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(message) => ServiceError::Conflict {
            code: "environment_name_taken",
            message: format!("name: {message}; choose another name"),
            details: None,
        },
        other => other.into(),
    }
}

pub async fn create(state: &Deps, input: EnvironmentInput) -> ServiceResult<Environment> {
    let fields = parse(&input)?;
    let env = state
        .store
        .create_environment(&fields, state.clock.now())
        .await
        .map_err(name_taken)?;
    tracing::info!(id = %env.id, name = %env.name, "environment created");
    Ok(env)
}

pub async fn get(state: &Deps, id: EnvironmentId) -> ServiceResult<Environment> {
    state
        .store
        .get_environment(id)
        .await?
        .ok_or_else(|| ServiceError::no_such("environment", id))
}

pub async fn update(
    state: &Deps,
    id: EnvironmentId,
    input: EnvironmentInput,
) -> ServiceResult<Environment> {
    let fields = parse(&input)?;
    let env = state
        .store
        .update_environment(id, &fields, state.clock.now())
        .await
        .map_err(name_taken)?
        .ok_or_else(|| ServiceError::no_such("environment", id))?;
    tracing::info!(%id, "environment updated");
    Ok(env)
}

/// How many of the items using an environment a refused delete names.
const NAMED_ITEMS: usize = 20;

pub async fn delete(state: &Deps, id: EnvironmentId) -> ServiceResult<()> {
    // Runs on it (active, or queued by an item that has moved away since) would start with
    // no test server: refused. Items that name it are the store's refusal below.
    let lane = crate::domain::lane_of_environment(Some(id));
    let active = state.store.get_run_lock(&lane).await?.map(|l| l.run_id);
    let queued = state.store.queued_runs(&lane).await?;
    if let Some(run_id) = active.or_else(|| queued.first().map(|r| r.id.get())) {
        return Err(ServiceError::Conflict {
            code: "environment_busy",
            message: format!(
                "environment {id} has runs (run {run_id} and {} queued); cancel them or let them finish first",
                queued.len()
            ),
            details: Some(serde_json::json!({ "run_id": run_id, "queued": queued.len() })),
        });
    }
    match state.store.delete_environment(id).await? {
        EnvironmentDeletion::Deleted => {
            tracing::info!(%id, "environment deleted");
            Ok(())
        }
        EnvironmentDeletion::NotFound => Err(ServiceError::no_such("environment", id)),
        EnvironmentDeletion::InUse => {
            let named = match state.store.get_environment(id).await? {
                Some(env) => format!("environment {} ({id})", env.name),
                None => format!("environment {id}"),
            };
            let users = items_using(state, id).await?;
            let names: Vec<String> = users
                .iter()
                .take(NAMED_ITEMS)
                .map(|i| format!("{} ({}, id {})", i.name, i.job_name, i.id))
                .collect();
            let more = users.len().saturating_sub(NAMED_ITEMS);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            Err(ServiceError::Conflict {
                code: "environment_in_use",
                message: format!(
                    "{named} is used by test items {}{tail}; move those items to another environment (or the default) first",
                    names.join(", ")
                ),
                details: Some(serde_json::json!({
                    "test_item_ids": users.iter().map(|i| i.id).collect::<Vec<_>>()
                })),
            })
        }
    }
}

/// Every test item on environment `id`, by id.
async fn items_using(state: &Deps, id: EnvironmentId) -> ServiceResult<Vec<TestItem>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.list_test_items(after, 200).await?;
        out.extend(
            page.items
                .into_iter()
                .filter(|i| i.environment_id == Some(id)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// A test item's `environment_id` as input: `None` stays the default; a malformed id is a
/// 400 naming the field; a well-formed one must name an environment (422 naming the field,
/// as for `parameter_set_id`: valid JSON that cannot be acted on).
pub async fn existing_id(state: &Deps, raw: Option<i64>) -> ServiceResult<Option<EnvironmentId>> {
    let Some(n) = raw else {
        return Ok(None);
    };
    let field = "environment_id";
    let id = EnvironmentId::parse(field, &n.to_string())?;
    if state.store.get_environment(id).await?.is_none() {
        return Err(ServiceError::Unprocessable {
            code: "environment_not_found",
            message: format!(
                "{field}: no environment with id {id}; create it first (admin: POST /api/v1/environments) or leave this null for the default environment"
            ),
        });
    }
    Ok(Some(id))
}

/// The test server a test item's runs go to: its environment's, or the default one (the
/// settings'). A missing or disabled environment cannot take runs (422).
pub async fn test_server_for_item(
    state: &Deps,
    item: &TestItem,
    settings: &Settings,
) -> ServiceResult<TestServer> {
    test_server_of(state, item.environment_id, settings).await
}

/// The test server of environment `id` (`None`: the default, from `settings`).
pub async fn test_server_of(
    state: &Deps,
    id: Option<EnvironmentId>,
    settings: &Settings,
) -> ServiceResult<TestServer> {
    let Some(id) = id else {
        return Ok(TestServer::default_of(settings));
    };
    let env = state
        .store
        .get_environment(id)
        .await?
        .ok_or_else(|| ServiceError::Unprocessable {
            code: "environment_not_found",
            message: format!(
                "environment {id} does not exist; an admin moves the test item to another environment"
            ),
        })?;
    if !env.enabled {
        return Err(ServiceError::Unprocessable {
            code: "environment_disabled",
            message: format!(
                "environment {} ({id}) is disabled; an admin enables it or moves the test item",
                env.name
            ),
        });
    }
    Ok(TestServer::of(&env))
}

/// `settings` (read by a step of `run`) on the run's test server: its environment's as
/// it is now, or the default; once triggered, the server that has the run's task. An
/// environment deleted meanwhile leaves the run its own server's origin only.
pub async fn on_run_test_server(
    state: &Deps,
    settings: Settings,
    run: &Run,
) -> Result<Settings, StoreError> {
    let mut server = match run.environment_id {
        None => TestServer::default_of(&settings),
        Some(id) => match state.store.get_environment(id).await? {
            Some(env) => TestServer::of(&env),
            None => TestServer {
                environment_id: Some(id),
                external_test_server_url: None,
                report_origins: Vec::new(),
            },
        },
    };
    if let Some(url) = &run.test_server_url {
        server.external_test_server_url = Some(url.clone());
    }
    Ok(settings.on_test_server(&server))
}

#[cfg(test)]
mod schema_tests {
    //! The OpenAPI patterns promise only what the parsers accept (schemathesis sends
    //! schema-valid bodies and expects them taken).
    use super::HOST_PATTERN;
    use crate::domain::config_values::{HttpUrl, Origin};
    use proptest::prelude::*;

    fn url_pattern() -> String {
        format!(r"\s*https?://{HOST_PATTERN}(?:/[A-Za-z0-9._~/-]*)?\s*")
    }

    fn origin_pattern() -> String {
        format!(r"\s*https?://{HOST_PATTERN}/?\s*")
    }

    #[test]
    fn the_documented_examples_match() {
        let url = regex_lite::Regex::new(&format!("^{}$", url_pattern())).unwrap();
        let origin = regex_lite::Regex::new(&format!("^{}$", origin_pattern())).unwrap();
        for ok in [
            "http://127.0.0.1:9000",
            "https://tests.example/api/",
            " http://a ",
        ] {
            assert!(url.is_match(ok), "{ok:?}");
            HttpUrl::parse("u", ok).unwrap();
        }
        for refused in ["http://a.1", "http://1.2.3.4.5", "ftp://a", "http://a?x=1"] {
            assert!(!url.is_match(refused), "{refused:?}");
        }
        assert!(origin.is_match("http://reports.example:8080/"));
        assert!(!origin.is_match("http://reports.example/x"));
    }

    proptest! {
        #[test]
        fn every_url_the_pattern_describes_parses(
            s in proptest::string::string_regex(&url_pattern()).unwrap()
        ) {
            prop_assert!(HttpUrl::parse("u", &s).is_ok(), "{:?}", s);
        }

        #[test]
        fn every_origin_the_pattern_describes_parses(
            s in proptest::string::string_regex(&origin_pattern()).unwrap()
        ) {
            prop_assert!(Origin::parse("o", &s).is_ok(), "{:?}", s);
        }
    }
}
