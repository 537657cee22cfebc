//! The Jenkins webhook and the builds API (SPEC §3 "Builds").

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use shared::auth::AuthUser;
use shared::config::Secret;
use shared::domain::{Build, BuildId, BuildNumber, FieldError, JobName, JobSummary, JobVersion};
use shared::error::ApiResult;
use shared::http::{ApiJson, IdPath, ListResponse, PageParams, query, with_common_layers};
use shared::ports::StoreError;
use shared::{ApiError, Deps};
use subtle::ConstantTimeEq;
use utoipa::OpenApi;

/// This group's routes for the Lambda host, with the shared layers.
pub fn router(state: Deps) -> Router {
    with_common_layers(routes(state))
}

/// The bare routes, for a host that merges several groups and adds the layers once.
pub fn routes(state: Deps) -> Router {
    Router::new()
        .route("/api/v1/builds", post(receive_build).get(list_builds))
        .route("/api/v1/builds/{id}", get(get_build))
        .route("/api/v1/jobs", get(list_jobs))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(receive_build, list_builds, get_build, list_jobs),
    components(schemas(Build, JobOverview, WebhookBuild, ListResponse<Build>, ListResponse<JobOverview>))
)]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The body Jenkins posts (documentation only: the handler validates field by field).
#[allow(non_snake_case, dead_code)]
#[derive(utoipa::ToSchema)]
struct WebhookBuild {
    /// Absent for timer-triggered builds.
    #[schema(
        example = "JenkinsUser",
        pattern = r"^\s*(?:[^\x00-\x1f\x7f-\x9f\s](?:[^\x00-\x1f\x7f-\x9f]{0,198}[^\x00-\x1f\x7f-\x9f\s])?)?\s*$"
    )]
    BUILD_USER: Option<String>,
    /// 1–200 characters, no control characters; folder jobs contain `/`.
    #[schema(
        example = "CDN_CORE",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    JOB_NAME: String,
    /// Relative to the package server: no leading `/`, scheme, host, `.`/`..` segments
    /// (also once trimmed: `. `), backslashes or control characters (spaces around are
    /// trimmed). The pattern spells that out without lookaheads, which schemathesis
    /// generates from slowly, and is a little stricter than the server where that keeps it
    /// short: the first segment has no `:`, no later one ends with `:` (so no `://`), and a
    /// segment's first non-space characters are not `.`/`..` followed by a space.
    #[schema(
        example = "CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7",
        max_length = 1024,
        pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\s/:.\\\x00-\x1f\x7f-\x9f]|\.[^\s/:.\\\x00-\x1f\x7f-\x9f]|\.\.[^\s/:\\\x00-\x1f\x7f-\x9f])[^/:\\\x00-\x1f\x7f-\x9f]*(?:/[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^\s/:.\\\x00-\x1f\x7f-\x9f]|[^\s/.\\\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*[^/:\\\x00-\x1f\x7f-\x9f]|\.(?:[^\s/:.\\\x00-\x1f\x7f-\x9f]|[^\s/.\\\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*[^/:\\\x00-\x1f\x7f-\x9f])|\.\.(?:[^\s/:\\\x00-\x1f\x7f-\x9f]|[^\s/\\\x00-\x1f\x7f-\x9f][^/\\\x00-\x1f\x7f-\x9f]*[^/:\\\x00-\x1f\x7f-\x9f]))?)*[/\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    PACKAGE_PATH: String,
    /// A positive integer, as a string or a number.
    #[schema(schema_with = build_number_schema)]
    BUILD_NUMBER: String,
}

/// `BUILD_NUMBER`: a positive integer, or a string of its digits (spaces around allowed).
fn build_number_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*0*[1-9][0-9]{0,17}\s*$"))
                .examples(["101"]),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        )
        .into()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// When `WEBHOOK_TOKEN` is set, the caller must send it in `X-CRAT-Token` or `?token=`.
fn check_webhook_token(expected: Option<&Secret>, headers: &HeaderMap, uri: &Uri) -> ApiResult<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = match headers.get("x-crat-token") {
        Some(v) => v.to_str().ok().map(str::to_owned),
        None => query::<TokenQuery>(uri).ok().and_then(|q| q.token),
    };
    let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.expose().as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "this webhook needs the token: send header X-CRAT-Token (or ?token=) with the value of WEBHOOK_TOKEN",
        ))
    }
}

/// Jenkins reports a build. Idempotent on (JOB_NAME, BUILD_NUMBER).
#[utoipa::path(post, path = "/api/v1/builds", tag = "builds", request_body = WebhookBuild,
    params(("token" = Option<String>, Query, description = "WEBHOOK_TOKEN, when not sent as X-CRAT-Token")),
    responses(
        (status = 201, description = "stored", body = Build),
        (status = 200, description = "already stored: the same build", body = Build),
        (status = 400, description = "a field is invalid (named in the error)", body = shared::error::ErrorBody),
        (status = 401, description = "WEBHOOK_TOKEN is set and was not sent", body = shared::error::ErrorBody),
        (status = 413, body = shared::error::ErrorBody), (status = 415, body = shared::error::ErrorBody)))]
async fn receive_build(
    State(state): State<Deps>,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Build>)> {
    check_webhook_token(state.config.webhook_token.as_ref(), &headers, &uri)?;
    let (build, created) = shared::services::builds::record_build(&state, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(build)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BuildFilter {
    /// Only builds of this job (empty: every job).
    #[param(
        max_length = 200,
        pattern = r"^$|^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    job_name: Option<String>,
    /// Only this build number of `job_name` (a search: at most one build; needs `job_name`).
    #[param(pattern = r"^$|^\s*0*[1-9][0-9]{0,17}\s*$")]
    build_number: Option<String>,
}

/// Builds, newest first; with `build_number`, that build of the job (or none).
#[utoipa::path(get, path = "/api/v1/builds", tag = "builds", params(BuildFilter, PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = ListResponse<Build>), (status = 400, body = shared::error::ErrorBody), (status = 401, body = shared::error::ErrorBody)))]
async fn list_builds(
    State(state): State<Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<Build>>> {
    let filter: BuildFilter = query(&uri)?;
    let page: PageParams = query(&uri)?;
    let job = filter
        .job_name
        .filter(|j| !j.is_empty())
        .map(|j| JobName::parse("job_name", &j))
        .transpose()?;
    let cursor = page.id_cursor()?;
    let limit = page.limit()?;
    if let Some(raw) = filter.build_number.filter(|n| !n.is_empty()) {
        let number = BuildNumber::parse("build_number", &Value::String(raw))?;
        let job = job.ok_or_else(|| {
            FieldError::new(
                "build_number",
                "needs job_name too: build numbers are counted per job",
            )
        })?;
        let found = match state.store.find_build(&job, number).await {
            Ok(found) => found,
            // A record that no longer reads is no result, not a failed search.
            Err(StoreError::Corrupt(why)) => {
                tracing::warn!(job = %job, build_number = %number, error = %why, "stored build unreadable; left out");
                None
            }
            Err(e) => return Err(e.into()),
        };
        return Ok(Json(ListResponse {
            items: found.into_iter().collect(),
            next_cursor: None,
        }));
    }
    let builds = state.store.list_builds(job.as_ref(), cursor, limit).await?;
    Ok(Json(ListResponse::from_page(builds)))
}

/// One build.
#[utoipa::path(get, path = "/api/v1/builds/{id}", tag = "builds", params(("id" = i64, Path, minimum = 1)),
    security(("bearer" = [])),
    responses((status = 200, body = Build), (status = 404, body = shared::error::ErrorBody)))]
async fn get_build(
    State(state): State<Deps>,
    _user: AuthUser,
    IdPath(id): IdPath<BuildId>,
) -> ApiResult<Json<Build>> {
    let build = state
        .store
        .get_build(id.get())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no build with id {id}")))?;
    Ok(Json(build))
}

/// A job, its newest build and its current selection.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobOverview {
    #[schema(value_type = String)]
    pub job_name: JobName,
    pub latest_build: Build,
    /// `null` when no build of the job is selected.
    pub selection: Option<JobVersion>,
}

/// Every job with its latest build and its selection, by name.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "builds", params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = ListResponse<JobOverview>)))]
async fn list_jobs(
    State(state): State<Deps>,
    _user: AuthUser,
    uri: Uri,
) -> ApiResult<Json<ListResponse<JobOverview>>> {
    let page: PageParams = query(&uri)?;
    let jobs = state
        .store
        .list_jobs(page.cursor()?.as_deref(), page.limit()?)
        .await?;
    let mut items = Vec::with_capacity(jobs.items.len());
    for JobSummary {
        job_name,
        latest_build,
    } in jobs.items
    {
        let selection = match state.store.get_job_selection(&job_name).await? {
            None => None,
            Some(s) if s.build_id == latest_build.id => {
                Some(JobVersion::new(s, Some(latest_build.clone())))
            }
            Some(s) => {
                let build = state.store.get_build(s.build_id).await?;
                Some(JobVersion::new(s, build))
            }
        };
        items.push(JobOverview {
            job_name,
            latest_build,
            selection,
        });
    }
    Ok(Json(ListResponse::from_page(shared::ports::Page {
        items,
        next: jobs.next,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;
    use shared::domain::PackagePath;

    /// PACKAGE_PATH's pattern as the OpenAPI document states it.
    fn pattern() -> String {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        doc["components"]["schemas"]["WebhookBuild"]["properties"]["PACKAGE_PATH"]["pattern"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_package_path_pattern_takes_only_what_the_parser_takes() {
        let re = regex_lite::Regex::new(&pattern()).unwrap();
        for ok in [
            "CDN/pass/1/el7",
            " CDN/.hidden/..x/.../a b /el7/ \n",
            "CDN//x",
            "CDN/ /x",
            "a/b:c/d",
        ] {
            assert!(re.is_match(ok), "{ok:?}");
            PackagePath::parse("PACKAGE_PATH", ok).unwrap();
        }
        for refused in [
            "CDN/. ",
            "CDN/.. ",
            "CDN/ ..",
            "CDN/ ./x",
            "CDN/../x",
            ". /x",
            ".",
            "/CDN",
            "a:/b",
            "a/b://c",
            "a\\b",
            "a/\u{1c}b",
            "\u{1c}a",
        ] {
            assert!(!re.is_match(refused), "{refused:?}");
            assert!(
                PackagePath::parse("PACKAGE_PATH", refused).is_err(),
                "{refused:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn every_package_path_the_pattern_describes_parses(
            s in proptest::string::string_regex(
                pattern().trim_start_matches('^').trim_end_matches('$')
            ).unwrap()
        ) {
            prop_assume!(s.chars().count() <= 1024);
            prop_assert!(PackagePath::parse("PACKAGE_PATH", &s).is_ok(), "{:?}", s);
        }
    }
}
