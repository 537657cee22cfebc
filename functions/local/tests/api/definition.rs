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
            // Finalize itself falls back to the last-resort lock release, and that to a
            // Fail state: no path ends with the run's lock held by a failed Finalize.
            let target = match name.as_str() {
                "Finalize" => "ReleaseLock",
                "ReleaseLock" => "FinalizeFailed",
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
                statemachine::TaskFailure::new(TaskError::STORE_BUSY, "store unavailable"),
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
        TaskError::STORE_BUSY
    );
    assert_eq!(finalize[9]["run_id"], 1);
    assert_eq!(calls.last().unwrap().0, "local:notify");
    assert_eq!(record.status, statemachine::ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some(TaskError::RUN_FAILED));
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
            "Notify"
        ]
    );
}
