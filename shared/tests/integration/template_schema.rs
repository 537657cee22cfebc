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

use crate::cfn_template;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cfn_template::{
    Yaml, function_crate, load_template, resource, resources_of_type, workspace_root,
};
use shared::adapters::dynamodb::table_schema;

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
/// executions; the sweeper stops the executions of the runs it fails.
const WORKFLOW_CRATES: &[&str] = &["deploy-runs", "sweeper"];
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
fn definition_substitutions_are_exactly_the_asl_variables() {
    let root = workspace_root();
    let asl = std::fs::read_to_string(root.join("statemachine/deploy_test.asl.json")).unwrap();
    let template = load_template();
    let machines = resources_of_type(&template, "AWS::Serverless::StateMachine");
    assert_eq!(machines.len(), 1);
    let (_, machine) = machines[0];
    let props = machine.at(&["Properties"]);
    assert_eq!(props.str_at(&["Type"]), "STANDARD");
    let uri = props.str_at(&["DefinitionUri"]);
    assert_eq!(uri, "../statemachine/deploy_test.asl.json");
    assert!(
        root.join("infra").join(uri).is_file(),
        "DefinitionUri is relative to infra/"
    );

    let substitutions = props.at(&["DefinitionSubstitutions"]).entries();
    let declared: BTreeSet<String> = substitutions.iter().map(|(k, _)| k.clone()).collect();
    let used = statemachine::Definition::substitution_vars(&asl);
    assert_eq!(
        declared, used,
        "DefinitionSubstitutions must name every ${{Var}} of the ASL, and only those"
    );

    // Each `${<Task>FunctionArn}` is the Arn of the function deploying that task's crate,
    // and the state machine may invoke exactly those functions.
    let mut bound_functions = BTreeSet::new();
    let mut values = HashMap::new();
    for (var, value) in substitutions {
        let (tag, target) = value.as_tag().expect("a !GetAtt");
        assert_eq!(tag, "!GetAtt", "{var}");
        let target = target.as_str().unwrap();
        let function_id = target
            .strip_suffix(".Arn")
            .unwrap_or_else(|| panic!("{var}: {target} is not <Function>.Arn"));
        let function = resource(&template, function_id);
        assert_eq!(function.str_at(&["Type"]), FUNCTION, "{var}");
        let task = var
            .strip_suffix("FunctionArn")
            .unwrap_or_else(|| panic!("{var} is not <Task>FunctionArn"));
        assert_eq!(
            function_crate(function),
            task.to_ascii_lowercase(),
            "{var} must be the {task} task's function"
        );
        assert!(
            function.at(&["Properties"]).get("Events").is_none(),
            "{function_id}: task functions are invoked by the state machine only"
        );
        bound_functions.insert(function_id.to_owned());
        values.insert(
            var.clone(),
            format!("arn:aws:lambda:us-east-1:123456789012:function:{function_id}"),
        );
    }
    let invocable: BTreeSet<String> = policies(machine)
        .iter()
        .filter_map(|p| p.get("LambdaInvokePolicy"))
        .map(|p| p.at(&["FunctionName"]).ref_target().unwrap().to_owned())
        .collect();
    assert_eq!(
        invocable, bound_functions,
        "LambdaInvokePolicy per task function"
    );

    // The definition is valid once substituted (the embedded executor's own parser and lint).
    let definition = statemachine::Definition::parse(&asl, &values).unwrap();
    assert_eq!(definition.lint(), Vec::<String>::new());

    // A Lambda timeout must end before the Task state's, or the state times out first and
    // the task's own error is lost.
    let asl_json: serde_json::Value = serde_json::from_str(&asl).unwrap();
    for (state_name, state) in asl_json["States"].as_object().unwrap() {
        if state["Type"] != "Task" {
            continue;
        }
        let resource_var = state["Resource"]
            .as_str()
            .and_then(|r| r.strip_prefix("${"))
            .and_then(|r| r.strip_suffix('}'))
            .unwrap();
        let function_id = values[resource_var].rsplit(':').next().unwrap();
        let function = resource(&template, function_id);
        let state_timeout = state["TimeoutSeconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{state_name}: a Task needs TimeoutSeconds"));
        assert!(
            timeout_seconds(&template, function) < state_timeout,
            "{function_id}'s Timeout must be below {state_name}'s TimeoutSeconds ({state_timeout})"
        );
    }

    // Execution logs go to a log group with a retention.
    let destination = props.at(&["Logging", "Destinations"]).as_seq()[0]
        .at(&["CloudWatchLogsLogGroup", "LogGroupArn"]);
    let (tag, target) = destination.as_tag().unwrap();
    assert_eq!(tag, "!GetAtt");
    let group = target.as_str().unwrap().strip_suffix(".Arn").unwrap();
    assert_eq!(
        resource(&template, group).str_at(&["Type"]),
        "AWS::Logs::LogGroup"
    );
}

#[test]
fn every_lambda_crate_is_deployed_with_its_own_log_group() {
    let template = load_template();
    let crates = lambda_crates();
    assert!(
        crates.len() >= 15,
        "members read from Cargo.toml: {crates:?}"
    );
    let deployed: BTreeSet<&str> = functions(&template)
        .iter()
        .map(|(_, f)| function_crate(f))
        .collect();
    let expected: BTreeSet<&str> = crates.iter().map(String::as_str).collect();
    assert_eq!(
        deployed, expected,
        "one function per Lambda crate (workspace members under functions/, but local)"
    );

    assert_eq!(
        template.str_at(&["Globals", "Function", "Runtime"]),
        "provided.al2023"
    );
    assert_eq!(
        template.str_at(&["Globals", "Function", "Handler"]),
        "bootstrap"
    );
    let architectures = template
        .at(&["Globals", "Function", "Architectures"])
        .as_seq();
    assert_eq!(architectures.len(), 1);
    assert_eq!(architectures[0].ref_target(), Some("Architecture"));

    let mut groups_used = BTreeSet::new();
    for (id, f) in functions(&template) {
        let props = f.at(&["Properties"]);
        for inherited in ["Runtime", "Handler", "Architectures"] {
            assert!(
                props.get(inherited).is_none(),
                "{id}: {inherited} comes from Globals"
            );
        }
        let group = props
            .at(&["LoggingConfig", "LogGroup"])
            .ref_target()
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup must be a !Ref"));
        assert_eq!(
            resource(&template, group).str_at(&["Type"]),
            "AWS::Logs::LogGroup",
            "{id}"
        );
        assert!(
            groups_used.insert(group),
            "{id}: {group} is another function's log group"
        );
    }
    for (id, group) in resources_of_type(&template, "AWS::Logs::LogGroup") {
        assert_eq!(
            group.at(&["Properties", "RetentionInDays"]).ref_target(),
            Some("LogRetentionDays"),
            "{id}: every log group has the retention"
        );
    }
    assert_eq!(
        template.str_at(&["Parameters", "LogRetentionDays", "Default"]),
        "14"
    );
}

/// A secret's value: its dynamic reference, or `!If [cond, <that>, !Ref AWS::NoValue]`.
fn assert_secret_value(owner: &str, key: &str, value: &Yaml) {
    let expected = format!("{{{{resolve:secretsmanager:${{SecretName}}:SecretString:{key}}}}}");
    match value.as_tag() {
        Some(("!Sub", inner)) => {
            assert_eq!(inner.as_str(), Some(expected.as_str()), "{owner}: {key}")
        }
        Some(("!If", args)) => {
            let args = args.as_seq();
            assert_eq!(args.len(), 3, "{owner}: {key}");
            for branch in &args[1..] {
                if branch.ref_target() != Some("AWS::NoValue") {
                    assert_secret_value(owner, key, branch);
                }
            }
        }
        _ => panic!("{owner}: {key} must be a Secrets Manager dynamic reference, got {value:?}"),
    }
}

#[test]
fn secrets_come_only_from_secrets_manager() {
    let template = load_template();
    for (name, parameter) in template.at(&["Parameters"]).entries() {
        assert!(
            parameter.get("NoEcho").is_none(),
            "{name}: no secret parameters"
        );
        let lower = name.to_ascii_lowercase();
        assert!(
            !(lower.ends_with("password") || lower.ends_with("passwd") || lower.ends_with("token")),
            "{name}: secrets are not parameters"
        );
    }
    assert!(
        SECRETS
            .iter()
            .all(|k| !global_env(&template).contains_key(k)),
        "secrets are given per function, never in Globals"
    );

    for crate_name in lambda_crates() {
        let (id, f) = function_of(&template, &crate_name);
        let vars = env(f);
        for (key, value) in &vars {
            if SECRETS.contains(key) {
                assert_secret_value(id, key, value);
            }
        }
        let main = main_rs(&crate_name);
        let reads_config = main.contains("shared::lambda::init_deps()");
        let table_policy = policies(f).iter().any(|p| {
            ["DynamoDBCrudPolicy", "DynamoDBReadPolicy"]
                .iter()
                .any(|k| p.get(k).is_some())
        });
        if reads_config {
            for key in REQUIRED_SECRETS {
                assert!(
                    vars.contains_key(key),
                    "{id}: {key} is required under Lambda"
                );
            }
            assert!(table_policy, "{id}: its store is the table");
        } else {
            assert!(
                SECRETS.iter().all(|k| !vars.contains_key(k)) && !table_policy,
                "{id}: its main reads no configuration, so it gets no secrets and no table access"
            );
        }
        // The webhook token is the builds function's alone.
        assert_eq!(
            vars.contains_key("WEBHOOK_TOKEN"),
            crate_name == "builds",
            "{id}: WEBHOOK_TOKEN"
        );
        // Mail settings go where mail is sent: the functions that run the notify logic.
        let sends_mail = crate_sources(&crate_name).contains("shared::mail::handle(");
        for key in MAIL_VARS {
            assert_eq!(vars.contains_key(key), sends_mail, "{id}: {key}");
        }
    }
}

#[test]
fn only_the_workflow_functions_reach_the_state_machine() {
    let template = load_template();
    let machines = resources_of_type(&template, "AWS::Serverless::StateMachine");
    let (_, machine) = machines[0];
    // The functions build the ARN from the name (a !GetAtt would be a dependency cycle).
    assert_eq!(
        machine.at(&["Properties", "Name"]).ref_target(),
        Some("StateMachineName")
    );
    for crate_name in lambda_crates() {
        let (id, f) = function_of(&template, &crate_name);
        let workflow = WORKFLOW_CRATES.contains(&crate_name.as_str());
        let arn = env(f).get("STATE_MACHINE_ARN").copied();
        match arn {
            Some(value) => {
                assert!(workflow, "{id}: STATE_MACHINE_ARN is not for it");
                assert_eq!(
                    value.as_tag(),
                    Some(("!Sub", &s(STATE_MACHINE_ARN))),
                    "{id}"
                );
            }
            None => assert!(!workflow, "{id}: needs STATE_MACHINE_ARN"),
        }
        let mut granted: Vec<(String, String)> = Vec::new();
        for policy in policies(f) {
            let Some(statements) = policy.get("Statement") else {
                continue;
            };
            for statement in statements.as_seq() {
                let resource = statement.at(&["Resource"]);
                let resource = match resource.as_tag() {
                    Some(("!Sub", r)) => r.as_str().unwrap().to_owned(),
                    _ => format!("{resource:?}"),
                };
                let actions = statement.at(&["Action"]);
                let actions: Vec<&Yaml> = match actions {
                    Yaml::Seq(items) => items.iter().collect(),
                    single => vec![single],
                };
                for action in actions {
                    let action = action.as_str().unwrap();
                    if action.starts_with("states:") {
                        granted.push((action.to_owned(), resource.clone()));
                    }
                }
            }
        }
        granted.sort();
        let expected: Vec<(String, String)> = match crate_name.as_str() {
            "deploy-runs" => vec![
                ("states:DescribeExecution", EXECUTIONS_ARN),
                ("states:GetExecutionHistory", EXECUTIONS_ARN),
                ("states:StartExecution", STATE_MACHINE_ARN),
                ("states:StopExecution", EXECUTIONS_ARN),
            ],
            "sweeper" => vec![
                ("states:DescribeExecution", EXECUTIONS_ARN),
                ("states:GetExecutionHistory", EXECUTIONS_ARN),
                ("states:StopExecution", EXECUTIONS_ARN),
            ],
            _ => vec![],
        }
        .into_iter()
        .map(|(a, r)| (a.to_owned(), r.to_owned()))
        .collect();
        assert_eq!(granted, expected, "{id}: Step Functions permissions");
    }
}

/// The longest an ASL Task state can last by its own definition: every attempt (the first,
/// and each retrier's MaxAttempts) to TimeoutSeconds, plus each retry's wait.
fn asl_worst_case_seconds(state: &serde_json::Value) -> u64 {
    let timeout = state["TimeoutSeconds"].as_u64().unwrap();
    let mut attempts = 1;
    let mut waits = 0.0;
    for r in state["Retry"].as_array().into_iter().flatten() {
        let max = r["MaxAttempts"].as_u64().unwrap_or(3);
        let interval = r["IntervalSeconds"].as_f64().unwrap_or(1.0);
        let rate = r["BackoffRate"].as_f64().unwrap_or(2.0);
        assert!(
            r.get("MaxDelaySeconds").is_none(),
            "the rule models no MaxDelaySeconds"
        );
        attempts += max;
        waits += (0..max)
            .map(|i| interval * rate.powi(i as i32))
            .sum::<f64>();
    }
    attempts * timeout + waits.ceil() as u64
}

/// One rule (shared::domain::timing) sizes the run lock's lease, the sweeper and the bound on
/// max_monitor_seconds; it must describe the deployed ASL and fit its TimeoutSeconds.
#[test]
fn the_asl_s_timeouts_and_retries_are_the_timing_rule_s() {
    use shared::domain::timing;
    let asl: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("statemachine/deploy_test.asl.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        asl["TimeoutSeconds"].as_u64(),
        Some(timing::MACHINE_TIMEOUT_SECONDS),
        "the machine's TimeoutSeconds is timing::MACHINE_TIMEOUT_SECONDS"
    );
    let states = asl["States"].as_object().unwrap();
    let tasks: BTreeSet<&str> = states
        .iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .map(|(n, _)| n.as_str())
        .collect();
    let modelled: BTreeSet<&str> = timing::TASKS.iter().map(|(n, _)| *n).collect();
    assert_eq!(tasks, modelled, "timing::TASKS lists every Task state");
    for (name, limits) in timing::TASKS {
        let state = &states[*name];
        assert_eq!(
            state["TimeoutSeconds"].as_u64(),
            Some(u64::from(limits.timeout_seconds)),
            "{name}: TimeoutSeconds"
        );
        assert!(
            asl_worst_case_seconds(state) <= limits.worst_case_seconds(),
            "{name}: the ASL allows {} s, timing::{} only {} s",
            asl_worst_case_seconds(state),
            name.to_ascii_uppercase(),
            limits.worst_case_seconds()
        );
        // Step Functions' recommended retry of the Lambda service's errors, on every Task.
        let lambda_retry = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| {
                let errors: Vec<&str> = r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e.as_str())
                    .collect();
                timing::LAMBDA_SERVICE_ERRORS
                    .iter()
                    .all(|e| errors.contains(e))
            })
            .unwrap_or_else(|| panic!("{name}: no Retry of {:?}", timing::LAMBDA_SERVICE_ERRORS));
        assert!(
            lambda_retry["MaxAttempts"].as_u64().unwrap_or(3) >= 2,
            "{name}"
        );
    }
    assert!(
        u64::from(timing::MAX_MONITOR_SECONDS_LIMIT) + timing::OVERHEAD_SECONDS
            <= timing::MACHINE_TIMEOUT_SECONDS
    );
}

/// A function's Timeout must outlast the outbound calls inside it at the settings' limits
/// (else Lambda kills it mid-call and the task's own error is lost).
#[test]
fn task_functions_outlast_their_outbound_calls() {
    use shared::domain::timing;
    let template = load_template();
    let timeout_of = |crate_name: &str| {
        let (_, f) = function_of(&template, crate_name);
        timeout_seconds(&template, f)
    };
    let request = u64::from(timing::MAX_POLL_REQUEST_TIMEOUT_SECONDS);
    // trigger: one POST of up to poll_request_timeout_seconds, then saving the task id
    // with its retries' pauses, plus store writes.
    assert!(
        timeout_of("trigger") >= request + timing::TRIGGER_PERSIST_BUDGET_SECONDS + 20,
        "trigger: {}",
        timeout_of("trigger")
    );
    // poll: one GET of up to poll_request_timeout_seconds, plus store writes.
    assert!(
        timeout_of("poll") >= request + 20,
        "poll: {}",
        timeout_of("poll")
    );
    // notify: the summary reads' budget and one SMTP delivery's, plus store writes.
    let notify =
        u64::from(timing::NOTIFY_SUMMARY_BUDGET_SECONDS + timing::SMTP_SEND_BUDGET_SECONDS);
    assert!(
        timeout_of("notify") >= notify + 30,
        "notify: {}",
        timeout_of("notify")
    );
    for crate_name in ["download", "trigger", "poll", "finalize", "notify"] {
        assert!(
            timeout_of(crate_name) <= 900,
            "{crate_name}: Lambda's limit is 900 s"
        );
    }
}

#[test]
fn http_functions_answer_within_api_gateway_s_timeout() {
    let template = load_template();
    for (id, f) in functions(&template) {
        let http = f
            .at(&["Properties"])
            .get("Events")
            .map(|events| {
                events
                    .entries()
                    .iter()
                    .any(|(_, e)| e.get("Type").and_then(Yaml::as_str) == Some("HttpApi"))
            })
            .unwrap_or(false);
        if http {
            assert!(
                timeout_seconds(&template, f) <= 29,
                "{id}: an HTTP API integration gives up after 30 s"
            );
        }
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
