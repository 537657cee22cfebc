//! The OpenAPI document of the whole API, assembled from each function crate's own
//! `openapi()`, so an endpoint joins it by being annotated where it is written. It is built
//! here, where every router is reachable, and checked in as `functions/meta/openapi.json`,
//! which `meta` serves without linking the other function crates. `make openapi` rewrites
//! the file; a test in `tests/openapi.rs` fails when it is not what this module builds.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, InfoBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// Where the checked-in document lives, from the workspace root.
pub const CHECKED_IN_PATH: &str = "functions/meta/openapi.json";

/// The document as checked in: pretty JSON (readable diffs) ending in a newline.
pub fn document_json() -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&document()).map(|json| json + "\n")
}

/// The whole API: every group merged, with the bearer scheme declared.
pub fn document() -> OpenApi {
    let mut doc = builds::openapi();
    doc.merge(auth::openapi());
    doc.merge(test_items::openapi());
    doc.merge(environments::openapi());
    doc.merge(parameter_sets::openapi());
    doc.merge(job_versions::openapi());
    doc.merge(settings::openapi());
    doc.merge(deploy_runs::openapi());
    doc.merge(notify::outbox_api::openapi());
    doc.info = InfoBuilder::new()
        .title("CRAT API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some("CDN Regression Automation Trigger: Jenkins webhook, builds, auth, test items, environments, parameter sets, job versions, settings, deploy-test runs. Errors are {\"error\": {\"code\", \"message\"}}."))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    let error_schema = <shared::error::ErrorBody as utoipa::PartialSchema>::schema();
    components.schemas.insert("ErrorBody".into(), error_schema);
    components.schemas.insert(
        "ErrorDetail".into(),
        <shared::error::ErrorDetail as utoipa::PartialSchema>::schema(),
    );
    add_shared_responses(&mut doc);
    doc
}

/// The responses every route of a kind can give, so no handler has to repeat them: 400
/// when it takes parameters or a body (a value of the wrong shape, a path segment that is
/// not UTF-8), 401 when it needs a token, 403 when it needs an admin token (security role
/// `admin`), 404 when it names a resource in the path, 413 and 415 when it takes a JSON
/// body. A handler's own description of a status wins; 409, 422 and 429 are the handlers'.
fn add_shared_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let params = op.parameters.as_deref().unwrap_or_default();
            let has_path = params
                .iter()
                .any(|p| matches!(p.parameter_in, ParameterIn::Path));
            let has_body = op.request_body.is_some();
            let roles: Vec<String> = op
                .security
                .iter()
                .flatten()
                .filter_map(|req| serde_json::to_value(req).ok())
                .filter_map(|v| v.get("bearer").cloned())
                .flat_map(|roles| {
                    roles
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .chain(std::iter::once(String::new()))
                })
                .collect();
            let mut shared = Vec::new();
            if !params.is_empty() || has_body {
                shared.push((
                    "400",
                    "invalid input: the error names the field and how to fix it",
                ));
            }
            if !roles.is_empty() {
                shared.push(("401", "no token, or an invalid, expired or revoked one"));
            }
            if roles.iter().any(|r| r == "admin") {
                shared.push(("403", "needs an admin session"));
            }
            if has_path {
                shared.push(("404", "no such resource"));
            }
            if has_body {
                shared.push(("413", "body larger than 64 KiB"));
                shared.push(("415", "Content-Type is not application/json"));
            }
            for (status, description) in shared {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody")))),
            )
            .build(),
    )
}
