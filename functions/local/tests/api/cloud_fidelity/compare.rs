//! What must agree between the two hosts, and how a difference is shown: the comparable run
//! record, the states entered, the ending, the errors.

use serde_json::{Map, Value, json};
use shared::domain::Run;
use shared::workflow::ExecutionView;

/// What must be equal between the hosts: the run record without the values that are
/// unique to a run (times, task id, revision count, queue order, poll bookkeeping).
pub(super) fn comparable(run: &Run) -> Value {
    let mut v = serde_json::to_value(run).unwrap();
    let o = v.as_object_mut().unwrap();
    for key in ["started_at", "finished_at", "queued_at", "queue_seq"] {
        let present = o.remove(key).is_some_and(|t| !t.is_null());
        o.insert(format!("{key}?"), json!(present));
    }
    o.remove("revision");
    let task_id = o
        .remove("task_id")
        .and_then(|t| t.as_str().map(str::to_owned));
    o.insert("task_id?".into(), json!(task_id.is_some()));
    if let Some(Value::Object(n)) = o.get_mut("notification") {
        let sent = n.remove("sent_at").is_some_and(|t| t.is_string());
        n.insert("sent_at?".into(), json!(sent));
    }
    for step in o["steps"].as_array_mut().unwrap() {
        let s = step.as_object_mut().unwrap();
        for key in ["started_at", "finished_at"] {
            let present = s.remove(key).is_some_and(|t| t.is_string());
            s.insert(format!("{key}?"), json!(present));
        }
        // When trigger sent its POST (the guard against posting twice): a time, not a value.
        if s["name"] == "TRIGGER"
            && let Some(Value::Object(d)) = s.get_mut("details")
            && let Some(sent) = d.remove("post_sent_at")
        {
            d.insert("post_sent_at?".into(), json!(sent.is_string()));
        }
        // Poll bookkeeping depends on timing (how many polls fit before completion).
        if s["name"] == "MONITOR"
            && let Some(Value::Object(d)) = s.get_mut("details")
        {
            d.retain(|k, _| {
                !matches!(
                    k.as_str(),
                    "polls" | "last_poll_at" | "deadline" | "monitor_started_at"
                )
            });
        }
    }
    // The test server's task id (unique per task) wherever it appears (report URL, TRIGGER),
    // also where an excerpt cut it ("f72b20bd-47e…").
    match task_id {
        Some(task) => {
            let mut text = v.to_string().replace(&task, "<task_id>");
            for end in (4..task.len()).rev().filter(|e| task.is_char_boundary(*e)) {
                text = text.replace(&format!("{}…", &task[..end]), "<task_id>…");
            }
            serde_json::from_str(&text).unwrap()
        }
        None => v,
    }
}

/// The states the execution entered, in order, with repeated poll loops collapsed to one.
pub(super) fn path(exec: &ExecutionView) -> Vec<String> {
    let entered: Vec<&str> = exec
        .events
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .filter_map(|e| e.state.as_deref())
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < entered.len() {
        let again = entered[i] == "WaitBeforePoll"
            && out.last().map(String::as_str) == Some("CheckPoll")
            && entered.get(i + 1) == Some(&"Poll")
            && entered.get(i + 2) == Some(&"CheckPoll");
        if again {
            i += 3;
            continue;
        }
        out.push(entered[i].to_owned());
        i += 1;
    }
    out
}

/// `(status, error of ExecutionFailed)`.
pub(super) fn ending(exec: &ExecutionView) -> (String, Option<String>) {
    let failed = exec
        .events
        .iter()
        .rev()
        .find(|e| e.event_type == "ExecutionFailed")
        .and_then(|e| e.error.clone());
    (exec.status.clone(), failed)
}

/// Every error the execution recorded, in order, as `(state, error name)` (a task retried
/// with the same error counts once).
pub(super) fn errors(exec: &ExecutionView) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    for e in &exec.events {
        if let Some(error) = &e.error {
            let item = (e.state.clone(), error.clone());
            if out.last() != Some(&item) {
                out.push(item);
            }
        }
    }
    out
}

/// How many times the execution entered `state`.
pub(super) fn entered(exec: &ExecutionView, state: &str) -> usize {
    exec.events
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered") && e.state.as_deref() == Some(state))
        .count()
}

pub(super) fn steps(run: &Run) -> Vec<(String, String, Option<String>)> {
    let v = serde_json::to_value(run).unwrap();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["details"]["error_name"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

pub(super) fn show(label: &str, run: &Run, exec: &ExecutionView, secs: f64) {
    println!(
        "--- {label}: run {} {} in {secs:.1} s; execution {} path {:?} ending {:?}",
        run.id,
        run.status.as_str(),
        exec.status,
        path(exec),
        ending(exec)
    );
    println!("    steps {:?}", steps(run));
    let mut types: Vec<&str> = exec.events.iter().map(|e| e.event_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    println!("    event types {types:?}");
}

/// Both hosts' records for one scenario must agree.
pub(super) fn assert_same(
    scenario: &str,
    cloud: &(Run, ExecutionView, f64),
    embedded: &(Run, ExecutionView, f64),
) {
    show(&format!("{scenario} / cloud"), &cloud.0, &cloud.1, cloud.2);
    show(
        &format!("{scenario} / embedded"),
        &embedded.0,
        &embedded.1,
        embedded.2,
    );
    let (c, e) = (comparable(&cloud.0), comparable(&embedded.0));
    if c != e {
        let (co, eo) = (c.as_object().unwrap(), e.as_object().unwrap());
        let mut diff = Map::new();
        for k in co.keys().chain(eo.keys()) {
            if co.get(k) != eo.get(k) {
                diff.insert(
                    k.clone(),
                    json!({"cloud": co.get(k), "embedded": eo.get(k)}),
                );
            }
        }
        panic!(
            "{scenario}: the run records differ:\n{}",
            serde_json::to_string_pretty(&diff).unwrap()
        );
    }
    assert_eq!(
        path(&cloud.1),
        path(&embedded.1),
        "{scenario}: states visited"
    );
    assert_eq!(
        ending(&cloud.1),
        ending(&embedded.1),
        "{scenario}: execution ending"
    );
    assert_eq!(
        errors(&cloud.1),
        errors(&embedded.1),
        "{scenario}: errors in the executions"
    );
}
