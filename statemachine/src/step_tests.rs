//! The pure step, driven by hand: no runner, no clock, no sleeping.

use std::collections::HashMap;

use chrono::TimeZone;
use serde_json::json;

use super::*;

fn definition(json: Value) -> Definition {
    Definition::parse(&json.to_string(), &HashMap::new()).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

fn env() -> StepEnv<'static> {
    StepEnv {
        now: now(),
        wait_scale: 1.0,
        retry_scale: 1.0,
        state_machine_id: "sm",
    }
}

/// Applies one step and returns the record and the new event types.
fn advance(definition: &Definition, record: &mut ExecutionRecord, effect: Effect) -> Vec<String> {
    let before = record.events.len();
    let step = step(definition, record, effect, &env());
    apply(record, step, now());
    record.events[before..]
        .iter()
        .map(|e| e.r#type.clone())
        .collect()
}

fn fail(error: &str) -> Effect {
    Effect::TaskDone(Err(TaskFailure::new(error, "boom")))
}

fn pending(record: &ExecutionRecord) -> &Pending {
    &record.cursor.as_ref().unwrap().pending
}

fn retry_definition(retry: Value, catch: Value) -> Definition {
    definition(json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "work", "Retry": retry, "Catch": catch, "End": true},
            "Caught": {"Type": "Pass", "End": true}
        }
    }))
}

#[test]
fn start_records_execution_started_and_enters_start_at() {
    let def = retry_definition(json!([]), json!([]));
    let record = start(&def, "e1", json!({"a": 1}), now());
    assert_eq!(
        record.event_types(),
        ["ExecutionStarted", "TaskStateEntered"]
    );
    assert_eq!(record.events[1].input, Some(json!({"a": 1})));
    assert_eq!(record.current_state.as_deref(), Some("Work"));
    assert_eq!(pending(&record), &Pending::Run);
}

#[test]
fn retry_delays_grow_by_backoff_and_stop_at_max_delay() {
    let def = retry_definition(
        json!([{"ErrorEquals": ["App.Transient"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 4, "MaxDelaySeconds": 10}]),
        json!([]),
    );
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    let mut delays = Vec::new();
    for _ in 0..4 {
        assert_eq!(
            advance(&def, &mut record, fail("App.Transient")),
            ["TaskFailed"]
        );
        let Pending::RetryAt { until } = pending(&record) else {
            panic!("{:?}", pending(&record))
        };
        delays.push((*until - now()).num_seconds());
        assert_eq!(
            advance(&def, &mut record, Effect::Proceed),
            ["TaskScheduled"]
        );
    }
    assert_eq!(delays, [2, 6, 10, 10]);
    assert_eq!(
        advance(&def, &mut record, fail("App.Transient")),
        ["TaskFailed", "ExecutionFailed"]
    );
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("App.Transient"));
}

#[test]
fn retry_scale_shrinks_the_delay() {
    let def = retry_definition(
        json!([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 4}]),
        json!([]),
    );
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    let env = StepEnv {
        retry_scale: 0.001,
        ..env()
    };
    let step = step(&def, &record, fail("X"), &env);
    apply(&mut record, step, now());
    let Pending::RetryAt { until } = pending(&record) else {
        panic!()
    };
    assert_eq!((*until - now()).num_milliseconds(), 4);
}

#[test]
fn max_attempts_zero_goes_straight_to_catch_with_error_output() {
    let def = retry_definition(
        json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught", "ResultPath": "$.error"}]),
    );
    let mut record = start(&def, "e1", json!({"keep": true}), now());
    advance(&def, &mut record, Effect::Proceed);
    let types = advance(&def, &mut record, fail("App.Broken"));
    assert_eq!(types, ["TaskFailed", "TaskStateExited", "PassStateEntered"]);
    let expected = json!({"keep": true, "error": {"Error": "App.Broken", "Cause": "boom"}});
    assert_eq!(record.events.last().unwrap().input, Some(expected.clone()));
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output, Some(expected));
}

#[test]
fn task_failed_matches_everything_but_timeout() {
    let def = retry_definition(
        json!([]),
        json!([{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]),
    );
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    let types = advance(&def, &mut record, fail(TIMEOUT));
    assert_eq!(types, ["TaskTimedOut", "ExecutionFailed"]);
    assert_eq!(record.error.as_deref(), Some(TIMEOUT));

    let mut record = start(&def, "e2", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(
        advance(&def, &mut record, fail("Anything"))[0],
        "TaskFailed"
    );
    assert_eq!(record.current_state.as_deref(), Some("Caught"));
}

#[test]
fn the_first_matching_retrier_decides_even_when_exhausted() {
    let def = retry_definition(
        json!([
            {"ErrorEquals": ["A"], "MaxAttempts": 1},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]),
        json!([]),
    );
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    advance(&def, &mut record, fail("A"));
    assert!(matches!(pending(&record), Pending::RetryAt { .. }));
    assert_eq!(record.cursor.as_ref().unwrap().retries, [1, 0]);
    advance(&def, &mut record, Effect::Proceed);
    advance(&def, &mut record, fail("A"));
    assert_eq!(record.status, ExecutionStatus::Failed);
}

#[test]
fn parameters_see_the_context_object_and_retry_count() {
    let def = definition(json!({
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task", "Resource": "work", "End": true,
            "Parameters": {"id.$": "$$.Execution.Id", "state.$": "$$.State.Name", "retry.$": "$$.State.RetryCount",
                           "sm.$": "$$.StateMachine.Id", "input.$": "$$.Execution.Input.x"},
            "Retry": [{"ErrorEquals": ["States.ALL"]}]
        }}
    }));
    let mut record = start(&def, "e1", json!({"x": 5}), now());
    advance(&def, &mut record, Effect::Proceed);
    let scheduled = record.events.last().unwrap().input.clone().unwrap();
    assert_eq!(
        scheduled,
        json!({"id": "e1", "state": "Work", "retry": 0, "sm": "sm", "input": 5})
    );
    advance(&def, &mut record, fail("X"));
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(
        record.events.last().unwrap().input.as_ref().unwrap()["retry"],
        json!(1)
    );
}

#[test]
fn task_result_goes_through_result_selector_result_path_and_output_path() {
    let def = definition(json!({
        "StartAt": "Work",
        "States": {"Work": {
            "Type": "Task", "Resource": "work", "End": true, "InputPath": "$.in",
            "ResultSelector": {"code.$": "$.status"}, "ResultPath": "$.result", "OutputPath": "$.result"
        }}
    }));
    let mut record = start(&def, "e1", json!({"in": {"a": 1}}), now());
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(record.events.last().unwrap().input, Some(json!({"a": 1})));
    let types = advance(
        &def,
        &mut record,
        Effect::TaskDone(Ok(json!({"status": 200, "noise": true}))),
    );
    assert_eq!(
        types,
        ["TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    );
    assert_eq!(record.output, Some(json!({"code": 200})));
}

#[test]
fn a_missing_path_fails_with_runtime_error_that_catch_does_not_see() {
    let def = definition(json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "work", "Next": "Caught", "ResultSelector": {"x.$": "$.missing"},
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
            "Caught": {"Type": "Succeed"}
        }
    }));
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::Proceed);
    let types = advance(&def, &mut record, Effect::TaskDone(Ok(json!({}))));
    assert_eq!(types, ["TaskSucceeded", "ExecutionFailed"]);
    assert_eq!(record.error.as_deref(), Some(RUNTIME));
    assert!(record.cause.as_deref().unwrap().contains("$.missing"));
}

#[test]
fn choice_without_match_or_default_fails() {
    let def = definition(json!({
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.s", "StringEquals": "x", "Next": "Done"}]},
            "Done": {"Type": "Succeed"}
        }
    }));
    let mut record = start(&def, "e1", json!({"s": "y"}), now());
    assert_eq!(
        advance(&def, &mut record, Effect::Proceed),
        ["ExecutionFailed"]
    );
    assert_eq!(record.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[test]
fn pass_result_and_parameters() {
    let def = definition(json!({
        "StartAt": "P1",
        "States": {
            "P1": {"Type": "Pass", "Result": {"fixed": 1}, "ResultPath": "$.p1", "Next": "P2"},
            "P2": {"Type": "Pass", "Parameters": {"got.$": "$.p1.fixed"}, "ResultPath": null, "Next": "P3"},
            "P3": {"Type": "Pass", "Parameters": {"got.$": "$.p1.fixed"}, "End": true}
        }
    }));
    let mut record = start(&def, "e1", json!({"a": 0}), now());
    assert_eq!(
        advance(&def, &mut record, Effect::Proceed),
        ["PassStateExited", "PassStateEntered"]
    );
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(
        record.events.last().unwrap().input,
        Some(json!({"a": 0, "p1": {"fixed": 1}}))
    );
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(record.output, Some(json!({"got": 1})));
}

#[test]
fn wait_until_comes_from_seconds_or_timestamps_and_is_scaled() {
    let def = definition(json!({
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "TimestampPath": "$.at", "OutputPath": "$.keep", "End": true}}
    }));
    let mut record = start(
        &def,
        "e1",
        json!({"at": "2024-05-01T12:00:30Z", "keep": 1}),
        now(),
    );
    assert!(advance(&def, &mut record, Effect::Proceed).is_empty());
    assert_eq!(
        pending(&record),
        &Pending::WaitUntil {
            until: now() + TimeDelta::seconds(30)
        }
    );
    assert_eq!(
        advance(&def, &mut record, Effect::Proceed),
        ["WaitStateExited", "ExecutionSucceeded"]
    );
    assert_eq!(record.output, Some(json!(1)));

    let def = definition(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": true}}}),
    );
    let mut record = start(&def, "e2", json!({}), now());
    let step = step(
        &def,
        &record,
        Effect::Proceed,
        &StepEnv {
            wait_scale: 0.01,
            ..env()
        },
    );
    apply(&mut record, step, now());
    assert_eq!(
        pending(&record),
        &Pending::WaitUntil {
            until: now() + TimeDelta::milliseconds(100)
        }
    );
}

#[test]
fn bad_seconds_path_value_is_a_runtime_error() {
    let def = definition(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
    );
    let mut record = start(&def, "e1", json!({"s": "ten"}), now());
    advance(&def, &mut record, Effect::Proceed);
    assert_eq!(record.error.as_deref(), Some(RUNTIME));
}

#[test]
fn fail_state_reads_error_and_cause_from_paths() {
    let def = definition(json!({
        "StartAt": "F",
        "States": {"F": {"Type": "Fail", "ErrorPath": "$.e.Error", "CausePath": "$.e.Cause"}}
    }));
    let mut record = start(
        &def,
        "e1",
        json!({"e": {"Error": "App.X", "Cause": "why"}}),
        now(),
    );
    assert_eq!(
        advance(&def, &mut record, Effect::Proceed),
        ["ExecutionFailed"]
    );
    assert_eq!(
        (record.error.as_deref(), record.cause.as_deref()),
        (Some("App.X"), Some("why"))
    );
    assert_eq!(record.current_state.as_deref(), Some("F"));
    assert!(record.cursor.is_none());
}

#[test]
fn time_out_and_abort_end_the_execution() {
    let def = retry_definition(json!([]), json!([]));
    let mut record = start(&def, "e1", json!({}), now());
    apply(&mut record, time_out(&def), now());
    assert_eq!(record.status, ExecutionStatus::TimedOut);
    assert_eq!(record.event_types().last(), Some(&"ExecutionTimedOut"));

    let mut record = start(&def, "e2", json!({}), now());
    apply(&mut record, abort(Some("User.Stop".into()), None), now());
    assert_eq!(record.status, ExecutionStatus::Aborted);
    assert_eq!(record.error.as_deref(), Some("User.Stop"));
    assert_eq!(
        record.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn an_effect_that_does_not_fit_the_cursor_fails_loudly() {
    let def = retry_definition(json!([]), json!([]));
    let mut record = start(&def, "e1", json!({}), now());
    advance(&def, &mut record, Effect::TaskDone(Ok(json!({}))));
    assert_eq!(record.error.as_deref(), Some(RUNTIME));
}
