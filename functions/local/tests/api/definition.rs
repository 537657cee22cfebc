//! Lints of `statemachine/deploy_test.asl.json`: it parses with the embedded executor,
//! every Next exists and every state is reachable, every `${Var}` is bound to a local
//! task, every error name in Retry/Catch is one the tasks (or ASL) produce, every Task
//! has a timeout, and failures reach Finalize (and a mail failure only Outcome).

use std::collections::BTreeSet;

use local::workflow::{DEFINITION, LOCAL_TASKS, definition};
use serde_json::Value;
use shared::tasks::ErrorName;
use statemachine::Definition;

#[test]
fn definition_parses_and_lints_clean() {
    let def = definition().unwrap();
    assert_eq!(def.lint(), Vec::<String>::new());
}

#[test]
fn every_substitution_has_a_local_task_and_vice_versa() {
    let used = Definition::substitution_vars(DEFINITION);
    let bound: BTreeSet<String> = LOCAL_TASKS.iter().map(|t| t.variable.to_owned()).collect();
    assert_eq!(used, bound);
    let resources: BTreeSet<String> = LOCAL_TASKS.iter().map(|t| t.resource.to_owned()).collect();
    assert_eq!(definition().unwrap().task_resources(), resources);
    // One row per task: a repeated variable or resource would shadow another row.
    assert_eq!(
        (bound.len(), resources.len()),
        (LOCAL_TASKS.len(), LOCAL_TASKS.len())
    );
}

#[test]
fn every_error_name_is_known() {
    // Every name a Retry/Catch matches is one CRAT (the enum), ASL or Lambda produces.
    let known: BTreeSet<&str> = ErrorName::ALL
        .iter()
        .map(|n| n.as_str())
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
    // Every CRAT-prefixed string anywhere in the definition (Retry/Catch, a Fail's Error, a
    // Pass's Parameters...) is a variant of the enum: no name exists only in the ASL.
    let raw: Value = serde_json::from_str(DEFINITION).unwrap();
    let crat_names = prefixed_strings(&raw, ErrorName::PREFIX);
    assert!(
        crat_names.contains(ErrorName::Transient.as_str()),
        "the walk finds the names: {crat_names:?}"
    );
    for name in &crat_names {
        assert!(
            ErrorName::parse(name).is_some(),
            "the definition names {name}, which is not an ErrorName variant"
        );
    }
}

/// Every string value in `value` (at any depth) that starts with `prefix`.
fn prefixed_strings(value: &Value, prefix: &str) -> BTreeSet<String> {
    match value {
        Value::String(s) if s.starts_with(prefix) => BTreeSet::from([s.clone()]),
        Value::Array(items) => items
            .iter()
            .flat_map(|v| prefixed_strings(v, prefix))
            .collect(),
        Value::Object(fields) => fields
            .values()
            .flat_map(|v| prefixed_strings(v, prefix))
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[test]
fn the_lint_walk_finds_nested_names() {
    let nested =
        serde_json::json!({"a": [{"b": "Crat-like"}, {"c": ["x", "P.One"]}], "d": "P.Two"});
    assert_eq!(
        prefixed_strings(&nested, "P."),
        BTreeSet::from(["P.One".to_owned(), "P.Two".to_owned()])
    );
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
            // after it, Notify's and Announce's failures must not change the outcome.
            // Finalize itself falls back to the last-resort lock release, and that to a
            // Fail state: no path ends with the run's lock held by a failed Finalize.
            let target = match name.as_str() {
                "Finalize" => "ReleaseLock",
                "ReleaseLock" => "FinalizeFailed",
                "Notify" => "Announce",
                "Announce" => "Outcome",
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

#[test]
fn a_poll_cycle_adds_the_counted_history_events() {
    // Step Functions records Entered + Exited for Wait and Choice states, and for a
    // Lambda Task also LambdaFunctionScheduled, Started and Succeeded.
    let raw: Value = serde_json::from_str(DEFINITION).unwrap();
    let states = raw["States"].as_object().unwrap();
    let (mut name, mut events, mut path) = ("WaitBeforePoll".to_owned(), 0u64, Vec::new());
    loop {
        let state = &states[&name];
        path.push(name.clone());
        events += match state["Type"].as_str().unwrap() {
            "Task" => 5,
            "Wait" | "Choice" | "Pass" => 2,
            other => panic!("unexpected {other} in the poll loop"),
        };
        name = state["Next"]
            .as_str()
            .or(state["Default"].as_str())
            .unwrap()
            .to_owned();
        if name == "WaitBeforePoll" {
            break;
        }
        assert!(path.len() < 10, "no loop back to WaitBeforePoll: {path:?}");
    }
    assert_eq!(path, ["WaitBeforePoll", "Poll", "CheckPoll"]);
    assert_eq!(events, shared::domain::HISTORY_EVENTS_PER_POLL_CYCLE);
}

/// Answers every task at once; Finalize fails with `Crat.StoreBusy` the first
/// `finalize_failures` times (a store that is down for a while).
struct StoreDownAtFinalize {
    finalize_failures: usize,
    calls: std::sync::Mutex<Vec<(String, Value)>>,
}

#[async_trait::async_trait]
impl statemachine::TaskInvoker for StoreDownAtFinalize {
    async fn invoke(
        &self,
        resource: &str,
        input: Value,
    ) -> Result<Value, statemachine::TaskFailure> {
        let finalize_calls = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((resource.to_owned(), input));
            calls.iter().filter(|(r, _)| r == "local:finalize").count()
        };
        match resource {
            "local:trigger" => Ok(serde_json::json!({"poll_interval_seconds": 1})),
            "local:poll" => Ok(serde_json::json!({"outcome": "completed"})),
            "local:finalize" if finalize_calls <= self.finalize_failures => Err(
                statemachine::TaskFailure::new(ErrorName::StoreBusy, "store unavailable"),
            ),
            _ => Ok(serde_json::json!({})),
        }
    }
}

#[tokio::test]
async fn a_finalize_that_keeps_failing_falls_back_to_releasing_the_lock() {
    // GIVEN Finalize fails through all its retries (1 + 8 attempts)
    let invoker = std::sync::Arc::new(StoreDownAtFinalize {
        finalize_failures: 9,
        calls: Default::default(),
    });
    let executor = statemachine::Executor::new(
        std::sync::Arc::new(definition().unwrap()),
        invoker.clone(),
        std::sync::Arc::new(statemachine::MemoryExecutionStore::new()),
        statemachine::ExecutorOptions::scaled(0.0001),
    );
    executor
        .start("run-1", serde_json::json!({"run_id": 1, "failure": null}))
        .await
        .unwrap();
    let record = executor
        .wait_finished("run-1", std::time::Duration::from_secs(20))
        .await
        .unwrap();

    // THEN the last-resort state calls finalize once more with the error, the mail is
    // still sent, and the execution fails (the run did not complete cleanly)
    let calls = invoker.calls.lock().unwrap().clone();
    let finalize: Vec<&Value> = calls
        .iter()
        .filter(|(r, _)| r == "local:finalize")
        .map(|(_, i)| i)
        .collect();
    assert_eq!(finalize.len(), 10, "{calls:?}");
    assert_eq!(
        finalize[9]["finalize_error"]["Error"],
        ErrorName::StoreBusy.as_str()
    );
    assert_eq!(finalize[9]["run_id"], 1);
    // Notify mails, then Announce tells the chats (the same function, its chat part).
    let (last, input) = calls.last().unwrap();
    assert_eq!(last, "local:notify");
    assert_eq!(input["part"], "chat", "{calls:?}");
    assert_eq!(record.status, statemachine::ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(ErrorName::RunFailed.as_str()));
    let states: Vec<&str> = record
        .events
        .iter()
        .filter(|e| e.r#type == "TaskStateEntered")
        .filter_map(|e| e.state.as_deref())
        .collect();
    assert_eq!(
        states,
        [
            "Download",
            "Trigger",
            "Poll",
            "Finalize",
            "ReleaseLock",
            "Notify",
            "Announce"
        ]
    );
}
