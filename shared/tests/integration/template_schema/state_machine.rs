//! The state machine: its substitutions, who may reach it, and its timeouts against the
//! timing rule.

use super::*;
use crate::cfn_template;
use cfn_template::{
    Yaml, function_crate, load_template, resource, resources_of_type, workspace_root,
};
use std::collections::{BTreeSet, HashMap};

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
            // Both end runs, and so start the next queued run of the lane.
            "sweeper" => vec![
                ("states:DescribeExecution", EXECUTIONS_ARN),
                ("states:GetExecutionHistory", EXECUTIONS_ARN),
                ("states:StartExecution", STATE_MACHINE_ARN),
                ("states:StopExecution", EXECUTIONS_ARN),
            ],
            // Finalize ends runs; the webhook starts the runs of items that test every new build.
            "finalize" | "builds" => vec![("states:StartExecution", STATE_MACHINE_ARN)],
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
