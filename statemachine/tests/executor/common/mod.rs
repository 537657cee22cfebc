//! Shared test fixtures: the deployed deploy-test definition, a scripted invoker, helpers.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use statemachine::{
    Definition, ExecutionRecord, ExecutionStore, Executor, ExecutorOptions, HistoryPage,
    MemoryExecutionStore, TaskFailure, TaskInvoker,
};

/// The definition Step Functions runs, as deployed: the flows are walked on the real
/// thing, not on a copy that can drift from it.
pub const DEPLOY_TEST: &str = include_str!("../../../deploy_test.asl.json");

/// CRAT's error names, from the enum itself (a dependency-free file: this crate must not
/// link `shared`), so a renamed or misspelt name fails to compile here too.
#[path = "../../../../shared/src/tasks/error_name.rs"]
pub mod error_name;

/// Each `${XFunctionArn}` bound to the resource name the scripted invoker answers to
/// (the template binds them to Lambda ARNs, the local server to in-process handlers).
pub fn substitutions() -> HashMap<String, String> {
    [
        ("DownloadFunctionArn", "download"),
        ("TriggerFunctionArn", "trigger"),
        ("PollFunctionArn", "poll"),
        ("FinalizeFunctionArn", "finalize"),
        ("NotifyFunctionArn", "notify"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn deploy_test() -> Arc<Definition> {
    Arc::new(Definition::parse(DEPLOY_TEST, &substitutions()).unwrap())
}

/// The execution input, as the workflow starter gives it.
pub fn input() -> Value {
    json!({"run_id": 1, "failure": null})
}

/// Trigger's answer: the test server's task and the wait between polls (scaled by the test).
pub fn triggered(task_id: &str, poll_interval_seconds: u64) -> Reply {
    ok(json!({"task_id": task_id, "poll_interval_seconds": poll_interval_seconds}))
}

/// Poll's answer: `completed`, `failed` and `deadline` end the loop, anything else polls again.
pub fn polled(outcome: &str) -> Reply {
    ok(json!({"outcome": outcome}))
}

/// What a scripted task does when invoked.
#[derive(Debug, Clone)]
pub enum Reply {
    Ok(Value),
    Fail(&'static str),
    /// Never returns (an invocation in flight).
    Hang,
}

pub fn ok(value: Value) -> Reply {
    Reply::Ok(value)
}

/// A TaskInvoker that answers from a queue per resource and records every call.
/// An empty queue answers `Test.Unscripted`.
#[derive(Default)]
pub struct ScriptedInvoker {
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    calls: Mutex<Vec<(String, Value)>>,
    called: tokio::sync::Notify,
}

impl ScriptedInvoker {
    pub fn new(script: &[(&str, Reply)]) -> Arc<Self> {
        let invoker = ScriptedInvoker::default();
        for (resource, reply) in script {
            invoker
                .script
                .lock()
                .unwrap()
                .entry(resource.to_string())
                .or_default()
                .push_back(reply.clone());
        }
        Arc::new(invoker)
    }

    /// The resources invoked, in order.
    pub fn resources(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The inputs `resource` was invoked with.
    pub fn inputs(&self, resource: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == resource)
            .map(|(_, input)| input.clone())
            .collect()
    }

    /// Waits until `resource` has been invoked `times` times.
    pub async fn wait_called(&self, resource: &str, times: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let notified = self.called.notified();
                if self.inputs(resource).len() >= times {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{resource} was not invoked {times} times; calls: {:?}",
                self.resources()
            )
        });
    }
}

#[async_trait]
impl TaskInvoker for ScriptedInvoker {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        // The Announce state invokes the notify function for its chat part: scripted and
        // recorded as `announce`, so "notify" counts the mail's invocations only.
        let resource = if resource == "notify" && input["part"] == "chat" {
            "announce"
        } else {
            resource
        };
        let reply = self
            .script
            .lock()
            .unwrap()
            .get_mut(resource)
            .and_then(VecDeque::pop_front);
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_string(), input));
        self.called.notify_waiters();
        match reply {
            Some(Reply::Ok(value)) => Ok(value),
            Some(Reply::Fail(error)) => Err(TaskFailure::new(
                error,
                format!("{resource} failed with {error}"),
            )),
            Some(Reply::Hang) => std::future::pending().await,
            None => Err(TaskFailure::new(
                "Test.Unscripted",
                format!("no reply scripted for {resource}"),
            )),
        }
    }
}

/// Waits and retries shrink 1000×: a 2 s retry interval takes 2 ms.
pub fn fast() -> ExecutorOptions {
    ExecutorOptions::scaled(0.001)
}

pub fn executor(
    invoker: Arc<ScriptedInvoker>,
    store: Arc<MemoryExecutionStore>,
    options: ExecutorOptions,
) -> Executor {
    Executor::new(deploy_test(), invoker, store, options)
}

pub async fn finished(executor: &Executor, id: &str) -> ExecutionRecord {
    executor
        .wait_finished(id, Duration::from_secs(5))
        .await
        .unwrap()
}

/// Waits until the stored record satisfies `condition`.
pub async fn stored_until(
    store: &MemoryExecutionStore,
    id: &str,
    condition: impl Fn(&ExecutionRecord) -> bool,
) -> ExecutionRecord {
    for _ in 0..5000 {
        if let Some(mut record) = store.load_execution(id).await.unwrap() {
            // The history is stored apart from the record.
            record.events = store
                .load_history(id, HistoryPage::first(usize::MAX))
                .await
                .unwrap();
            if condition(&record) {
                return record;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("execution {id} never reached the expected condition");
}

/// `(type, state)` pairs, for asserting where things happened.
pub fn events_with_states(record: &ExecutionRecord) -> Vec<(String, Option<String>)> {
    record
        .events
        .iter()
        .map(|e| (e.r#type.clone(), e.state.clone()))
        .collect()
}
