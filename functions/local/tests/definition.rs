#![allow(clippy::unwrap_used)]
//! Lints of `statemachine/deploy_test.asl.json`: it parses with the embedded executor,
//! every Next exists and every state is reachable, every `${Var}` is bound to a local
//! task, every error name in Retry/Catch is one the tasks (or ASL) produce, every Task
//! has a timeout, and failures reach Finalize (and a mail failure only Outcome).

use std::collections::BTreeSet;

use local::workflow::{DEFINITION, LOCAL_RESOURCES, definition};
use serde_json::Value;
use shared::tasks::TaskError;
use statemachine::Definition;

#[test]
fn definition_parses_and_lints_clean() {
    let def = definition().unwrap();
    assert_eq!(def.lint(), Vec::<String>::new());
}

#[test]
fn every_substitution_has_a_local_task_and_vice_versa() {
    let used = Definition::substitution_vars(DEFINITION);
    let bound: BTreeSet<String> = LOCAL_RESOURCES.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(used, bound);
    let resources: BTreeSet<String> = LOCAL_RESOURCES.iter().map(|(_, v)| v.to_string()).collect();
    assert_eq!(definition().unwrap().task_resources(), resources);
}

#[test]
fn every_error_name_is_known() {
    let known: BTreeSet<&str> = TaskError::ALL
        .iter()
        .copied()
        .chain(["States.ALL", "States.Timeout", "States.TaskFailed"])
        // Raised by the Lambda service in the cloud, retried on every Task.
        .chain(
            shared::domain::timing::LAMBDA_SERVICE_ERRORS
                .iter()
                .copied(),
        )
        .collect();
    for name in definition().unwrap().error_names() {
        assert!(
            known.contains(name.as_str()),
            "unknown error name {name} in Retry/Catch"
        );
    }
    // Every error a Pass/Fail state raises is a stable CRAT name too.
    let raw: Value = serde_json::from_str(DEFINITION).unwrap();
    for (state, body) in raw["States"].as_object().unwrap() {
        for key in ["Error"] {
            if let Some(name) = body
                .get(key)
                .and_then(Value::as_str)
                .or_else(|| body["Parameters"].get(key).and_then(Value::as_str))
            {
                assert!(
                    TaskError::ALL.contains(&name),
                    "{state} raises unknown {name}"
                );
            }
        }
    }
}

#[test]
fn every_task_and_the_machine_have_timeouts_and_failures_reach_finalize() {
    let raw: Value = serde_json::from_str(DEFINITION).unwrap();
    assert!(
        raw["TimeoutSeconds"].as_u64().is_some_and(|t| t > 3 * 3600),
        "machine timeout above max_monitor_seconds"
    );
    for (name, state) in raw["States"].as_object().unwrap() {
        if state["Type"] == "Task" {
            assert!(
                state["TimeoutSeconds"].as_u64().is_some(),
                "{name} has no TimeoutSeconds"
            );
            // Before Finalize, every failure must reach it (the lock is released there);
            // after it, Notify's failure must not change the outcome.
            let target = match name.as_str() {
                "Finalize" => continue,
                "Notify" => "Outcome",
                _ => "Finalize",
            };
            let catch_all = state["Catch"].as_array().into_iter().flatten().any(|c| {
                c["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "States.ALL")
                    && c["Next"] == target
            });
            assert!(catch_all, "{name} must Catch States.ALL into {target}");
        }
    }
}
