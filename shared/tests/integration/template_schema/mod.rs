//! `infra/template.yaml` against the code it deploys (no AWS needed):
//! - the DynamoDB table is exactly `shared::adapters::dynamodb::table_schema()`;
//! - `DefinitionSubstitutions` names every `${Var}` of `statemachine/deploy_test.asl.json`
//!   and nothing else, each bound to the function of that task, and the state machine may
//!   invoke exactly those functions;
//! - every Lambda crate of the workspace is deployed, with a log group that has a retention;
//! - secrets only come from Secrets Manager dynamic references, and every function whose
//!   `main` reads the configuration gets the secrets `Config` requires under Lambda;
//! - Lambda timeouts fit the Task states' and API Gateway's timeouts.
//!
//! The HTTP routes are checked against the routers in `functions/local/tests/template_routes/mod.rs`.
//!
//! Here: the template helpers, the reader, the table, the schedules and where `Deps` is
//! built; the state machine, the functions and the secrets have their modules.

use crate::cfn_template;
use cfn_template::{Yaml, function_crate, load_template, resources_of_type, workspace_root};
use shared::adapters::dynamodb::table_schema;
use std::collections::BTreeMap;

mod functions;
mod secrets;
mod state_machine;

const FUNCTION: &str = "AWS::Serverless::Function";
const SECRETS: &[&str] = &[
    "JWT_SECRET",
    "ADMIN_PASSWD",
    "WEBHOOK_TOKEN",
    "EMAIL_SEND_PASSWORD",
];
/// `Config::from_env(Host::Lambda)` stops without these.
const REQUIRED_SECRETS: &[&str] = &["JWT_SECRET", "ADMIN_PASSWD"];
const MAIL_VARS: &[&str] = &[
    "EMAIL_SEND_SERVER",
    "EMAIL_SEND_SERVER_PORT",
    "EMAIL_SEND_SECURITY",
    "EMAIL_SEND_USERNAME",
    "EMAIL_SEND_PASSWORD",
    "EMAIL_FROM",
    "CRAT_PUBLIC_URL",
];
/// The functions that talk to Step Functions: deploy-runs starts, describes and stops
/// executions; the sweeper stops the executions of the runs it fails; the sweeper and
/// finalize start the next queued run of a lane they free; the builds function (the webhook)
/// starts the runs of items that test every new build.
const WORKFLOW_CRATES: &[&str] = &["deploy-runs", "sweeper", "finalize", "builds"];
const STATE_MACHINE_ARN: &str = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${StateMachineName}";
const EXECUTIONS_ARN: &str =
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${StateMachineName}:*";

fn s(v: &str) -> Yaml {
    Yaml::Str(v.to_owned())
}

fn map(entries: &[(&str, Yaml)]) -> Yaml {
    Yaml::Map(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// A list compared as a set (CloudFormation does not care about the order of these).
fn sorted(items: &[Yaml]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    out.sort();
    out
}

fn key_schema(partition: &str, sort: &str) -> Yaml {
    Yaml::Seq(vec![
        map(&[("AttributeName", s(partition)), ("KeyType", s("HASH"))]),
        map(&[("AttributeName", s(sort)), ("KeyType", s("RANGE"))]),
    ])
}

fn functions(template: &Yaml) -> Vec<(&str, &Yaml)> {
    resources_of_type(template, FUNCTION)
}

/// The function resource deploying `crate_name`.
fn function_of<'a>(template: &'a Yaml, crate_name: &str) -> (&'a str, &'a Yaml) {
    let found: Vec<_> = functions(template)
        .into_iter()
        .filter(|(_, f)| function_crate(f) == crate_name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one function must deploy target/lambda/{crate_name}/"
    );
    found[0]
}

fn env(function: &Yaml) -> BTreeMap<&str, &Yaml> {
    function
        .get("Properties")
        .and_then(|p| p.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .map(|vars| {
            vars.entries()
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .collect()
        })
        .unwrap_or_default()
}

fn global_env(template: &Yaml) -> BTreeMap<&str, &Yaml> {
    template
        .at(&["Globals", "Function", "Environment", "Variables"])
        .entries()
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

fn policies(function: &Yaml) -> &[Yaml] {
    function
        .get("Properties")
        .and_then(|p| p.get("Policies"))
        .map(Yaml::as_seq)
        .unwrap_or_default()
}

/// The property, or the Globals value when the function does not set it.
fn function_property<'a>(template: &'a Yaml, function: &'a Yaml, key: &str) -> &'a Yaml {
    function
        .get("Properties")
        .and_then(|p| p.get(key))
        .unwrap_or_else(|| template.at(&["Globals", "Function", key]))
}

fn timeout_seconds(template: &Yaml, function: &Yaml) -> u64 {
    function_property(template, function, "Timeout")
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("Timeout is a number")
}

fn lambda_crates() -> Vec<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("members = [...] in the root Cargo.toml")
        .0;
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter_map(|m| m.strip_prefix("functions/"))
        .filter(|name| *name != "local")
        .map(str::to_owned)
        .collect()
}

fn main_rs(crate_name: &str) -> String {
    let path = workspace_root()
        .join("functions")
        .join(crate_name)
        .join("src/main.rs");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every source file of a function crate, one after another.
fn crate_sources(crate_name: &str) -> String {
    let dir = workspace_root()
        .join("functions")
        .join(crate_name)
        .join("src");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "rs") {
            text += &std::fs::read_to_string(&path).unwrap();
        }
    }
    text
}

#[test]
fn the_reader_reads_the_subset() {
    cfn_template::self_check();
}

#[test]
fn the_table_is_table_schema() {
    let schema = table_schema();
    let template = load_template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table (single-table design)");
    let (table_id, table) = tables[0];
    let props = table.at(&["Properties"]);

    assert_eq!(props.str_at(&["BillingMode"]), schema.billing_mode);

    let mut key_names = vec![schema.partition_key, schema.sort_key];
    for gsi in schema.global_secondary_indexes {
        key_names.extend([gsi.partition_key, gsi.sort_key]);
    }
    let expected_attributes: Vec<Yaml> = key_names
        .iter()
        .map(|name| {
            map(&[
                ("AttributeName", s(name)),
                ("AttributeType", s(schema.key_attribute_type)),
            ])
        })
        .collect();
    assert_eq!(
        sorted(props.at(&["AttributeDefinitions"]).as_seq()),
        sorted(&expected_attributes),
        "AttributeDefinitions: every key attribute of the table and its indexes, nothing else"
    );

    assert_eq!(
        props.at(&["KeySchema"]),
        &key_schema(schema.partition_key, schema.sort_key)
    );

    let expected_indexes: Vec<Yaml> = schema
        .global_secondary_indexes
        .iter()
        .map(|gsi| {
            map(&[
                ("IndexName", s(gsi.name)),
                ("KeySchema", key_schema(gsi.partition_key, gsi.sort_key)),
                (
                    "Projection",
                    map(&[("ProjectionType", s(schema.projection))]),
                ),
            ])
        })
        .collect();
    assert_eq!(
        sorted(props.at(&["GlobalSecondaryIndexes"]).as_seq()),
        sorted(&expected_indexes),
        "GlobalSecondaryIndexes"
    );

    assert_eq!(
        props.at(&["TimeToLiveSpecification"]),
        &map(&[
            ("AttributeName", s(schema.ttl_attribute)),
            ("Enabled", s("true"))
        ])
    );
    assert_eq!(
        props.str_at(&[
            "PointInTimeRecoverySpecification",
            "PointInTimeRecoveryEnabled"
        ]),
        "true"
    );
    for absent in ["LocalSecondaryIndexes", "ProvisionedThroughput"] {
        assert!(
            props.get(absent).is_none(),
            "{absent} is not part of the schema"
        );
    }
    // The data outlives the stack.
    assert_eq!(table.str_at(&["DeletionPolicy"]), "Retain");
    assert_eq!(table.str_at(&["UpdateReplacePolicy"]), "Retain");

    // Every function is told this table and runs on DynamoDB.
    let globals = global_env(&template);
    assert_eq!(globals["CRAT_STORE"], &s("dynamodb"));
    assert_eq!(globals["DYNAMODB_TABLE"].ref_target(), Some(table_id));
    for (id, f) in functions(&template) {
        let own = env(f);
        assert!(
            !own.contains_key("DYNAMODB_TABLE") && !own.contains_key("CRAT_STORE"),
            "{id}: the table comes from Globals only"
        );
    }
}

#[test]
fn schedules_are_the_documented_ones() {
    let template = load_template();
    for (crate_name, expected) in [
        ("auto-sync", "rate(1 hour)"),
        ("sweeper", "rate(5 minutes)"),
    ] {
        let (id, f) = function_of(&template, crate_name);
        let events = f.at(&["Properties", "Events"]).entries();
        assert_eq!(events.len(), 1, "{id}");
        let event = &events[0].1;
        assert_eq!(event.str_at(&["Type"]), "Schedule", "{id}");
        assert_eq!(event.str_at(&["Properties", "Schedule"]), expected, "{id}");
    }
}

/// Issue 11: one dependency set per host, built in one place. Every Lambda main that
/// reads configuration gets its `Deps` from `shared::lambda::init_deps`; outside tests
/// (and `shared/src/deps.rs`, which defines it), `Deps` is constructed only there and in
/// the local server's `assemble`.
#[test]
fn each_host_builds_its_deps_in_one_place() {
    for crate_name in lambda_crates() {
        let main = main_rs(&crate_name);
        assert!(
            main.contains("shared::lambda::init_deps()") || !main.contains("Deps"),
            "{crate_name}: a Lambda main gets its Deps from shared::lambda::init_deps"
        );
    }
    let root = workspace_root();
    let mut sources = vec![root.join("shared/src")];
    sources.extend(
        std::fs::read_dir(root.join("functions"))
            .unwrap()
            .map(|e| e.unwrap().path().join("src")),
    );
    let mut builders = Vec::new();
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // `src/**/tests/` folders are unit-test modules (`#[cfg(test)]`).
                if !path.ends_with("tests") {
                    sources.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Its constructors, or a struct literal (the fields are public).
                let calls = text.matches("Deps::new(").count()
                    + text.matches("Deps::from_config(").count()
                    + text.matches("Deps::from_parts(").count()
                    + text.matches("Deps {").count()
                    - text.matches("struct Deps {").count()
                    - text.matches("impl Deps {").count();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                builders.extend(std::iter::repeat_n(rel, calls));
            }
        }
    }
    builders.sort();
    assert_eq!(
        builders,
        ["functions/local/src/lib.rs", "shared/src/lambda.rs"],
        "where Deps is constructed outside tests"
    );
}
