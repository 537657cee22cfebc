//! Every route the routers serve reaches its own function through the HTTP API of
//! `infra/template.yaml`, and the template routes nothing that no router serves.
//!
//! The routes come from each function crate's OpenAPI document and, so that an
//! undocumented route cannot slip by, from the `.route("...")` calls in its sources.
//! API Gateway's choice among the template's routes is modelled as it documents it for
//! HTTP APIs: a route without a greedy variable beats one with it, literal segments beat
//! `{variables}`, the longest `{proxy+}` prefix wins, and `/{proxy+}` catches the rest.

#[path = "../../../../../shared/tests/integration/cfn_template/mod.rs"]
mod cfn_template;

use std::collections::BTreeSet;
use std::path::Path;

use cfn_template::{Yaml, function_crate, load_template, resources_of_type, workspace_root};
use utoipa::openapi::OpenApi;

/// Routes only the embedded mode serves: in the cloud they fall to the catch-all, which
/// answers CRAT's JSON 404. `GET /outbox` lists `.eml` files of the local outbox folder,
/// which a Lambda does not have (it sends mail over SMTP or skips it); one file downloads or
/// previews from there.
const EMBEDDED_ONLY: &[&str] = &[
    "/api/v1/outbox",
    "/api/v1/outbox/{file}",
    "/api/v1/outbox/{file}/preview",
];
/// The function that answers every path no other route takes (JSON 404).
const CATCH_ALL: (&str, &str) = ("meta", "/{proxy+}");

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RouterRoute {
    crate_name: String,
    method: String,
    path: String,
}

#[derive(Debug, Clone)]
struct TemplateRoute {
    function_id: String,
    crate_name: String,
    method: String,
    path: String,
}

fn documented(crate_name: &str, doc: OpenApi, out: &mut BTreeSet<RouterRoute>) {
    for (path, item) in doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("PATCH", item.patch.is_some()),
            ("HEAD", item.head.is_some()),
            ("OPTIONS", item.options.is_some()),
        ];
        for (method, present) in methods {
            if present {
                out.insert(RouterRoute {
                    crate_name: crate_name.to_owned(),
                    method: method.to_owned(),
                    path: path.clone(),
                });
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(crate, path)` of every `.route("<path>", ...)` in the function crates' sources.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let functions = workspace_root().join("functions");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&functions).unwrap() {
        let dir = entry.unwrap().path();
        let crate_name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        if crate_name == "local" || !dir.join("src").is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices(".route(") {
                let rest = text[at + ".route(".len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"') else {
                    continue;
                };
                let path = &literal[..literal.find('"').unwrap()];
                found.insert((crate_name.clone(), path.to_owned()));
            }
        }
    }
    found
}

fn router_routes() -> BTreeSet<RouterRoute> {
    let mut routes = BTreeSet::new();
    documented("builds", builds::openapi(), &mut routes);
    documented("auth", auth::openapi(), &mut routes);
    documented("test-items", test_items::openapi(), &mut routes);
    documented("environments", environments::openapi(), &mut routes);
    documented("parameter-sets", parameter_sets::openapi(), &mut routes);
    documented("job-versions", job_versions::openapi(), &mut routes);
    documented("settings", settings::openapi(), &mut routes);
    documented("deploy-runs", deploy_runs::openapi(), &mut routes);
    documented("notify", notify::outbox_api::openapi(), &mut routes);
    // meta's own routes are not in the document it serves.
    for path in ["/healthz", "/api/v1/openapi.json"] {
        routes.insert(RouterRoute {
            crate_name: "meta".into(),
            method: "GET".into(),
            path: path.into(),
        });
    }
    // A route in the sources but not in the documents still has to be routed (any method).
    let known: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.crate_name.clone(), r.path.clone()))
        .collect();
    let scraped = routes_in_sources();
    assert!(
        scraped.len() >= 25,
        "the .route(\"...\") scan found too little: {scraped:?}"
    );
    for (crate_name, path) in scraped {
        if !known.contains(&(crate_name.clone(), path.clone())) {
            routes.insert(RouterRoute {
                crate_name,
                method: "GET".into(),
                path,
            });
        }
    }
    routes
}

fn template_routes(template: &Yaml) -> Vec<TemplateRoute> {
    let apis = resources_of_type(template, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "one HTTP API");
    let (api_id, api) = apis[0];
    // No StageName: the `$default` stage, so paths carry no stage prefix.
    let stage = api.get("Properties").and_then(|p| p.get("StageName"));
    assert!(
        stage.is_none() || stage == Some(&Yaml::Str("$default".into())),
        "the HTTP API must use the $default stage, got {stage:?}"
    );
    let mut routes = Vec::new();
    for (function_id, function) in resources_of_type(template, "AWS::Serverless::Function") {
        let Some(events) = function.at(&["Properties"]).get("Events") else {
            continue;
        };
        for (event_id, event) in events.entries() {
            if event.str_at(&["Type"]) != "HttpApi" {
                continue;
            }
            let props = event.at(&["Properties"]);
            assert_eq!(
                props.at(&["ApiId"]).ref_target(),
                Some(api_id),
                "{function_id}.{event_id}: ApiId"
            );
            assert_eq!(
                props
                    .get("PayloadFormatVersion")
                    .and_then(Yaml::as_str)
                    .unwrap_or("2.0"),
                "2.0",
                "{function_id}.{event_id}: lambda_http reads v2 events"
            );
            routes.push(TemplateRoute {
                function_id: function_id.to_owned(),
                crate_name: function_crate(function).to_owned(),
                method: props.str_at(&["Method"]).to_ascii_uppercase(),
                path: props.str_at(&["Path"]).to_owned(),
            });
        }
    }
    routes
}

/// A concrete request path for a router path: `{job_name}` as a percent-encoded folder
/// job (its `%2F` must not split the path), other variables as a plain segment.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{job_name}" => "team%2FCDN_CORE",
            s if s.starts_with('{') => "7",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How specific a template path is when it matches `request`: `None` when it does not.
/// Greater is more specific.
fn specificity(template_path: &str, request: &str) -> Option<(bool, usize, Vec<u8>)> {
    let pattern: Vec<&str> = template_path.split('/').collect();
    let segments: Vec<&str> = request.split('/').collect();
    if pattern.last() == Some(&"{proxy+}") {
        let prefix = &pattern[..pattern.len() - 1];
        let matches = segments.len() > prefix.len()
            && !segments[prefix.len()..].concat().is_empty()
            && prefix
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()));
        return matches.then(|| (false, prefix.len(), Vec::new()));
    }
    if pattern.len() != segments.len() {
        return None;
    }
    let mut rank = Vec::new();
    for (p, s) in pattern.iter().zip(&segments) {
        if p == s {
            rank.push(1);
        } else if p.starts_with('{') && !s.is_empty() {
            rank.push(0);
        } else {
            return None;
        }
    }
    Some((true, pattern.len(), rank))
}

/// The template route API Gateway picks for `method request`.
fn chosen<'a>(
    routes: &'a [TemplateRoute],
    method: &str,
    request: &str,
) -> Option<&'a TemplateRoute> {
    routes
        .iter()
        .filter(|r| r.method == "ANY" || r.method == method)
        .filter_map(|r| specificity(&r.path, request).map(|rank| ((rank, r.method != "ANY"), r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
}

#[test]
fn every_router_route_reaches_its_function() {
    let template = load_template();
    let routes = template_routes(&template);
    let router = router_routes();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut problems = Vec::new();
    for route in &router {
        let request = concrete(&route.path);
        let Some(hit) = chosen(&routes, &route.method, &request) else {
            problems.push(format!(
                "{} {} ({}): no route",
                route.method, route.path, route.crate_name
            ));
            continue;
        };
        used.insert((hit.function_id.clone(), hit.path.clone()));
        if EMBEDDED_ONLY.contains(&route.path.as_str()) {
            if (hit.crate_name.as_str(), hit.path.as_str()) != CATCH_ALL {
                problems.push(format!(
                    "{} {}: embedded only, must fall to the catch-all, goes to {} {}",
                    route.method, route.path, hit.function_id, hit.path
                ));
            }
        } else if hit.crate_name != route.crate_name {
            problems.push(format!(
                "{} {} belongs to {}, but the template sends it to {} ({} {})",
                route.method, route.path, route.crate_name, hit.function_id, hit.method, hit.path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "routing problems:\n{}",
        problems.join("\n")
    );

    // Every template route serves some router route, but the catch-all.
    let dead: Vec<String> = routes
        .iter()
        .filter(|r| (r.crate_name.as_str(), r.path.as_str()) != CATCH_ALL)
        .filter(|r| !used.contains(&(r.function_id.clone(), r.path.clone())))
        .map(|r| format!("{} {} ({})", r.method, r.path, r.function_id))
        .collect();
    assert!(
        dead.is_empty(),
        "template routes no router serves: {dead:?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| (r.crate_name.as_str(), r.path.as_str()) == CATCH_ALL && r.method == "ANY"),
        "ANY /{{proxy+}} → meta answers unknown paths with CRAT's JSON 404"
    );
}

#[test]
fn the_route_model_is_api_gateway_s() {
    let routes: Vec<TemplateRoute> = [
        ("Items", "/api/v1/test-items/{id}"),
        ("Runs", "/api/v1/test-items/{id}/deploy-test"),
        ("Jobs", "/api/v1/job-versions/{proxy+}"),
        ("AutoSync", "/api/v1/job-versions/auto-sync"),
        ("All", "/{proxy+}"),
    ]
    .iter()
    .map(|(id, path)| TemplateRoute {
        function_id: id.to_string(),
        crate_name: id.to_string(),
        method: "ANY".into(),
        path: path.to_string(),
    })
    .collect();
    let pick = |m: &str, p: &str| chosen(&routes, m, p).map(|r| r.function_id.as_str());
    assert_eq!(pick("GET", "/api/v1/test-items/7"), Some("Items"));
    assert_eq!(
        pick("POST", "/api/v1/test-items/7/deploy-test"),
        Some("Runs")
    );
    assert_eq!(pick("GET", "/api/v1/test-items/7/other"), Some("All"));
    assert_eq!(
        pick("POST", "/api/v1/job-versions/auto-sync"),
        Some("AutoSync")
    );
    // API Gateway matches (and hands Lambda) the DECODED path: a folder job's `%2F` arrives
    // as `/`, and `{proxy+}` takes it whole; the job-versions router splits off `/sync`.
    for path in [
        "/api/v1/job-versions/team/X/sync",
        "/api/v1/job-versions/a/b/c/sync",
        "/api/v1/job-versions/team/X",
        "/api/v1/job-versions/team%2FX/sync",
    ] {
        assert_eq!(pick("POST", path), Some("Jobs"), "{path}");
        assert_eq!(pick("GET", path), Some("Jobs"), "{path}");
    }
    assert_eq!(pick("GET", "/api/v1/job-versions"), Some("All"));
    // A greedy variable needs at least one character: `/` itself is not routed (CloudFront
    // serves the site there).
    assert_eq!(pick("GET", "/"), None);
}

/// The first `"key": "value"` string of a JSON text (the sample events are flat enough).
fn json_string<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\": \""))? + key.len() + 5;
    Some(&text[at..at + text[at..].find('"')?])
}

#[test]
fn sample_events_match_the_template() {
    let template = load_template();
    let routes = template_routes(&template);
    let functions_dir = workspace_root().join("functions");
    for (function_id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let crate_name = function_crate(function);
        let http = routes.iter().any(|r| r.function_id == function_id);
        let events_dir = functions_dir.join(crate_name).join("events");
        let mut files: Vec<_> = std::fs::read_dir(&events_dir)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (make invoke-{crate_name} needs it)",
                    events_dir.display()
                )
            })
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{crate_name}: no sample event");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let name = file.display();
            if !http {
                assert!(
                    json_string(&text, "rawPath").is_none(),
                    "{name}: not an HTTP function"
                );
                continue;
            }
            // An API Gateway v2 event as the deployed HTTP API sends it.
            assert!(
                text.contains("\"version\": \"2.0\""),
                "{name}: payload format 2.0"
            );
            let route_key = json_string(&text, "routeKey").unwrap();
            let raw_path = json_string(&text, "rawPath").unwrap();
            let method = json_string(&text, "method").unwrap();
            let hit = chosen(&routes, method, raw_path)
                .unwrap_or_else(|| panic!("{name}: {method} {raw_path} is not routed"));
            assert_eq!(hit.function_id, function_id, "{name}: {method} {raw_path}");
            assert_eq!(
                route_key,
                format!("{} {}", hit.method, hit.path),
                "{name}: routeKey"
            );
        }
    }
}
