//! GetExecutionHistory → execution events + current state, on hand-built SDK events.
//! One area around one set of event builders: over 500 lines because each history is
//! spelled out event by event.

use super::*;
use aws_sdk_sfn::types::builders::HistoryEventBuilder;
use aws_sdk_sfn::types::{
    EvaluationFailedEventDetails, ExecutionAbortedEventDetails, ExecutionFailedEventDetails,
    ExecutionStartedEventDetails, ExecutionSucceededEventDetails, ExecutionTimedOutEventDetails,
    LambdaFunctionFailedEventDetails, LambdaFunctionScheduledEventDetails,
    LambdaFunctionSucceededEventDetails, MapIterationEventDetails, StateEnteredEventDetails,
    StateExitedEventDetails, TaskFailedEventDetails, TaskScheduledEventDetails,
    TaskStartedEventDetails, TaskSucceededEventDetails, TaskTimedOutEventDetails,
};
use chrono::{DateTime, TimeZone, Utc};

const T0: i64 = 1_795_630_200; // 2026-11-25T18:10:00Z

fn at(id: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(T0 + id, 250_000_000).unwrap()
}

/// Event `id`, `id` seconds (and 250 ms) after T0.
fn ev(id: i64, kind: HistoryEventType) -> HistoryEventBuilder {
    HistoryEvent::builder()
        .id(id)
        .previous_event_id(id - 1)
        .r#type(kind)
        .timestamp(SdkDateTime::from_secs_and_nanos(T0 + id, 250_000_000))
}

fn started(id: i64, input: &str) -> HistoryEvent {
    ev(id, HistoryEventType::ExecutionStarted)
        .execution_started_event_details(
            ExecutionStartedEventDetails::builder()
                .input(input)
                .role_arn(ROLE_ARN)
                .build(),
        )
        .build()
        .unwrap()
}

fn entered(id: i64, kind: HistoryEventType, name: &str, input: &str) -> HistoryEvent {
    ev(id, kind)
        .state_entered_event_details(
            StateEnteredEventDetails::builder()
                .name(name)
                .input(input)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn exited(id: i64, kind: HistoryEventType, name: &str, output: &str) -> HistoryEvent {
    ev(id, kind)
        .state_exited_event_details(
            StateExitedEventDetails::builder()
                .name(name)
                .output(output)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn task_scheduled(id: i64, parameters: &str) -> HistoryEvent {
    ev(id, HistoryEventType::TaskScheduled)
        .task_scheduled_event_details(
            TaskScheduledEventDetails::builder()
                .resource_type("lambda")
                .resource("invoke")
                .region("us-east-1")
                .parameters(parameters)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn task_started(id: i64) -> HistoryEvent {
    ev(id, HistoryEventType::TaskStarted)
        .task_started_event_details(
            TaskStartedEventDetails::builder()
                .resource_type("lambda")
                .resource("invoke")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn task_succeeded(id: i64, output: &str) -> HistoryEvent {
    ev(id, HistoryEventType::TaskSucceeded)
        .task_succeeded_event_details(
            TaskSucceededEventDetails::builder()
                .resource_type("lambda")
                .resource("invoke")
                .output(output)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn task_failed(id: i64, error: &str, cause: &str) -> HistoryEvent {
    ev(id, HistoryEventType::TaskFailed)
        .task_failed_event_details(
            TaskFailedEventDetails::builder()
                .resource_type("lambda")
                .resource("invoke")
                .error(error)
                .cause(cause)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn event(
    id: u64,
    event_type: &str,
    state: Option<&str>,
    input: Option<Value>,
    output: Option<Value>,
) -> ExecutionEvent {
    ExecutionEvent {
        id,
        event_type: event_type.to_owned(),
        state: state.map(str::to_owned),
        timestamp: at(i64::try_from(id).unwrap()),
        input,
        output,
        error: None,
        cause: None,
    }
}

fn failure(mut event: ExecutionEvent, error: &str, cause: &str) -> ExecutionEvent {
    event.error = Some(error.to_owned());
    event.cause = Some(cause.to_owned());
    event
}

/// Download ran (Task with a service integration), the execution now waits.
#[test]
fn running_task_path_maps_every_event_and_attributes_task_events_to_their_state() {
    let history = vec![
        started(1, r#"{"run_id":"r1"}"#),
        entered(
            2,
            HistoryEventType::TaskStateEntered,
            "Download",
            r#"{"run_id":"r1"}"#,
        ),
        task_scheduled(3, r#"{"FunctionName":"dl","Payload":{"run_id":"r1"}}"#),
        task_started(4),
        task_succeeded(5, r#"{"Payload":{"ok":true}}"#),
        exited(
            6,
            HistoryEventType::TaskStateExited,
            "Download",
            r#"{"run_id":"r1","download":{"ok":true}}"#,
        ),
        entered(
            7,
            HistoryEventType::WaitStateEntered,
            "WaitBeforePoll",
            r#"{"run_id":"r1"}"#,
        ),
    ];
    let MappedHistory {
        events,
        current_state,
    } = map_history(&history, true);
    assert_eq!(
        events,
        vec![
            event(
                1,
                "ExecutionStarted",
                None,
                Some(json!({"run_id": "r1"})),
                None
            ),
            event(
                2,
                "TaskStateEntered",
                Some("Download"),
                Some(json!({"run_id": "r1"})),
                None
            ),
            event(
                3,
                "TaskScheduled",
                Some("Download"),
                Some(json!({"FunctionName": "dl", "Payload": {"run_id": "r1"}})),
                None
            ),
            event(4, "TaskStarted", Some("Download"), None, None),
            event(
                5,
                "TaskSucceeded",
                Some("Download"),
                None,
                Some(json!({"Payload": {"ok": true}}))
            ),
            event(
                6,
                "TaskStateExited",
                Some("Download"),
                None,
                Some(json!({"run_id": "r1", "download": {"ok": true}}))
            ),
            event(
                7,
                "WaitStateEntered",
                Some("WaitBeforePoll"),
                Some(json!({"run_id": "r1"})),
                None
            ),
        ]
    );
    assert_eq!(current_state.as_deref(), Some("WaitBeforePoll"));
}

#[test]
fn timestamps_keep_sub_second_precision() {
    let history = [ev(1, HistoryEventType::ExecutionStarted)
        .timestamp(SdkDateTime::from_secs_and_nanos(T0, 123_456_789))
        .build()
        .unwrap()];
    let mapped = map_history(&history, true);
    assert_eq!(
        mapped.events[0].timestamp,
        Utc.timestamp_opt(T0, 123_456_789).unwrap()
    );
    assert_eq!(
        mapped.events[0].timestamp.to_rfc3339(),
        "2026-11-25T18:10:00.123456789+00:00"
    );
}

/// Direct Lambda ARN resources (as in deploy_test.asl.json) give LambdaFunction* events.
#[test]
fn lambda_function_events_carry_input_output_error_and_their_state() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::TaskStateEntered, "Download", "{}"),
        ev(3, HistoryEventType::LambdaFunctionScheduled)
            .lambda_function_scheduled_event_details(
                LambdaFunctionScheduledEventDetails::builder()
                    .resource("arn:aws:lambda:us-east-1:123456789012:function:dl")
                    .input(r#"{"run_id":"r1"}"#)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        ev(4, HistoryEventType::LambdaFunctionStarted)
            .build()
            .unwrap(),
        ev(5, HistoryEventType::LambdaFunctionFailed)
            .lambda_function_failed_event_details(
                LambdaFunctionFailedEventDetails::builder()
                    .error(ErrorName::Transient.as_str())
                    .cause(r#"{"errorMessage":"503"}"#)
                    .build(),
            )
            .build()
            .unwrap(),
        ev(6, HistoryEventType::LambdaFunctionScheduled)
            .lambda_function_scheduled_event_details(
                LambdaFunctionScheduledEventDetails::builder()
                    .resource("arn:aws:lambda:us-east-1:123456789012:function:dl")
                    .input(r#"{"run_id":"r1"}"#)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        ev(7, HistoryEventType::LambdaFunctionSucceeded)
            .lambda_function_succeeded_event_details(
                LambdaFunctionSucceededEventDetails::builder()
                    .output(r#"{"size":10}"#)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    let mapped = map_history(&history, true);
    assert_eq!(
        mapped.events[2..],
        [
            event(
                3,
                "LambdaFunctionScheduled",
                Some("Download"),
                Some(json!({"run_id": "r1"})),
                None
            ),
            event(4, "LambdaFunctionStarted", Some("Download"), None, None),
            failure(
                event(5, "LambdaFunctionFailed", Some("Download"), None, None),
                ErrorName::Transient.as_str(),
                r#"{"errorMessage":"503"}"#
            ),
            event(
                6,
                "LambdaFunctionScheduled",
                Some("Download"),
                Some(json!({"run_id": "r1"})),
                None
            ),
            event(
                7,
                "LambdaFunctionSucceeded",
                Some("Download"),
                None,
                Some(json!({"size": 10}))
            ),
        ]
    );
    assert_eq!(mapped.current_state.as_deref(), Some("Download"));
}

/// Download fails, Catch goes to Finalize, the run ends in the Fail state.
#[test]
fn failed_execution_keeps_task_and_execution_errors_and_ends_in_the_fail_state() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::TaskStateEntered, "Download", "{}"),
        task_scheduled(3, "{}"),
        task_failed(
            4,
            ErrorName::PackageNotFound.as_str(),
            "no package under /cds",
        ),
        exited(
            5,
            HistoryEventType::TaskStateExited,
            "Download",
            &json!({"failure": {"Error": ErrorName::PackageNotFound.as_str()}}).to_string(),
        ),
        entered(6, HistoryEventType::FailStateEntered, "RunFailed", "{}"),
        ev(7, HistoryEventType::ExecutionFailed)
            .execution_failed_event_details(
                ExecutionFailedEventDetails::builder()
                    .error(ErrorName::RunFailed.as_str())
                    .cause("Download: no package under /cds")
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    let mapped = map_history(&history, false);
    assert_eq!(
        mapped.events[3],
        failure(
            event(4, "TaskFailed", Some("Download"), None, None),
            ErrorName::PackageNotFound.as_str(),
            "no package under /cds"
        )
    );
    assert_eq!(
        mapped.events[4].output,
        Some(json!({"failure": {"Error": ErrorName::PackageNotFound.as_str()}}))
    );
    assert_eq!(
        mapped.events[6],
        failure(
            event(7, "ExecutionFailed", None, None, None),
            ErrorName::RunFailed.as_str(),
            "Download: no package under /cds"
        )
    );
    assert_eq!(mapped.current_state.as_deref(), Some("RunFailed"));
}

#[test]
fn succeeded_execution_output_is_parsed_and_current_state_is_the_last_entered() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::PassStateEntered, "P", "{}"),
        exited(3, HistoryEventType::PassStateExited, "P", r#"{"p":1}"#),
        entered(
            4,
            HistoryEventType::SucceedStateEntered,
            "Done",
            r#"{"p":1}"#,
        ),
        exited(
            5,
            HistoryEventType::SucceedStateExited,
            "Done",
            r#"{"p":1}"#,
        ),
        ev(6, HistoryEventType::ExecutionSucceeded)
            .execution_succeeded_event_details(
                ExecutionSucceededEventDetails::builder()
                    .output(r#"{"p":1}"#)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    let mapped = map_history(&history, false);
    assert_eq!(
        mapped.events[5],
        event(6, "ExecutionSucceeded", None, None, Some(json!({"p": 1})))
    );
    assert_eq!(
        states(&mapped.events),
        [None, Some("P"), Some("P"), Some("Done"), Some("Done"), None]
    );
    assert_eq!(mapped.current_state.as_deref(), Some("Done"));
}

#[test]
fn aborted_execution_keeps_the_stop_error_and_the_state_it_was_in() {
    let history = vec![
        started(1, "{}"),
        entered(
            2,
            HistoryEventType::WaitStateEntered,
            "WaitBeforePoll",
            "{}",
        ),
        ev(3, HistoryEventType::WaitStateAborted).build().unwrap(),
        ev(4, HistoryEventType::ExecutionAborted)
            .execution_aborted_event_details(
                ExecutionAbortedEventDetails::builder()
                    .error(ErrorName::Cancelled.as_str())
                    .cause("cancelled by admin")
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    let mapped = map_history(&history, false);
    assert_eq!(
        mapped.events[2..],
        [
            event(3, "WaitStateAborted", Some("WaitBeforePoll"), None, None),
            failure(
                event(4, "ExecutionAborted", None, None, None),
                ErrorName::Cancelled.as_str(),
                "cancelled by admin"
            ),
        ]
    );
    assert_eq!(mapped.current_state.as_deref(), Some("WaitBeforePoll"));
}

#[test]
fn timeouts_carry_their_error_and_cause() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::TaskStateEntered, "Poll", "{}"),
        ev(3, HistoryEventType::TaskTimedOut)
            .task_timed_out_event_details(
                TaskTimedOutEventDetails::builder()
                    .resource_type("lambda")
                    .resource("invoke")
                    .error("States.Timeout")
                    .cause("task ran longer than 60 s")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        ev(4, HistoryEventType::ExecutionTimedOut)
            .execution_timed_out_event_details(
                ExecutionTimedOutEventDetails::builder()
                    .error("States.Timeout")
                    .cause("execution ran longer than 50400 s")
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    let mapped = map_history(&history, false);
    assert_eq!(
        mapped.events[2..],
        [
            failure(
                event(3, "TaskTimedOut", Some("Poll"), None, None),
                "States.Timeout",
                "task ran longer than 60 s"
            ),
            failure(
                event(4, "ExecutionTimedOut", None, None, None),
                "States.Timeout",
                "execution ran longer than 50400 s"
            ),
        ]
    );
    assert_eq!(mapped.current_state.as_deref(), Some("Poll"));
}

#[test]
fn running_between_exit_and_next_entry_reports_the_last_entered_state() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::TaskStateEntered, "Download", "{}"),
        exited(3, HistoryEventType::TaskStateExited, "Download", "{}"),
    ];
    assert_eq!(
        map_history(&history, true).current_state.as_deref(),
        Some("Download")
    );
    assert_eq!(
        map_history(&history[..1], true).current_state,
        None,
        "only ExecutionStarted: no state yet"
    );
    assert_eq!(
        map_history(&[], true),
        MappedHistory {
            events: vec![],
            current_state: None
        }
    );
}

#[test]
fn running_nested_states_report_the_innermost_open_one() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::ParallelStateEntered, "Both", "{}"),
        ev(3, HistoryEventType::ParallelStateStarted)
            .build()
            .unwrap(),
        entered(4, HistoryEventType::PassStateEntered, "A", "{}"),
        exited(5, HistoryEventType::PassStateExited, "A", "{}"),
        entered(6, HistoryEventType::TaskStateEntered, "B", "{}"),
    ];
    let mapped = map_history(&history, true);
    assert_eq!(mapped.current_state.as_deref(), Some("B"));
    assert_eq!(mapped.events[2].state.as_deref(), Some("Both"));

    let after_b = [
        history.clone(),
        vec![exited(7, HistoryEventType::TaskStateExited, "B", "{}")],
    ]
    .concat();
    let mapped = map_history(&after_b, true);
    assert_eq!(
        mapped.current_state.as_deref(),
        Some("Both"),
        "A and B done: the Parallel state is still open"
    );
    // Finished: the last state entered, whatever is open.
    assert_eq!(
        map_history(&after_b, false).current_state.as_deref(),
        Some("B")
    );
}

#[test]
fn text_that_is_not_json_stays_text_and_empty_errors_are_absent() {
    let history = vec![
        started(1, "not json"),
        exited(2, HistoryEventType::PassStateExited, "P", "An output"),
        ev(3, HistoryEventType::ExecutionAborted)
            .execution_aborted_event_details(
                ExecutionAbortedEventDetails::builder()
                    .error("")
                    .cause("")
                    .build(),
            )
            .build()
            .unwrap(),
        ev(4, HistoryEventType::ExecutionStarted)
            .execution_started_event_details(ExecutionStartedEventDetails::builder().build())
            .build()
            .unwrap(),
    ];
    let events = map_history(&history, false).events;
    assert_eq!(events[0].input, Some(json!("not json")));
    assert_eq!(events[1].output, Some(json!("An output")));
    assert_eq!((&events[2].error, &events[2].cause), (&None, &None));
    assert_eq!(events[3].input, None, "no input given: none, not null");
}

#[test]
fn events_that_name_their_state_and_unknown_types_map_too() {
    let history = vec![
        started(1, "{}"),
        entered(2, HistoryEventType::MapStateEntered, "Each", "[]"),
        ev(3, HistoryEventType::MapIterationStarted)
            .map_iteration_started_event_details(
                MapIterationEventDetails::builder()
                    .name("Each")
                    .index(0)
                    .build(),
            )
            .build()
            .unwrap(),
        ev(4, HistoryEventType::EvaluationFailed)
            .evaluation_failed_event_details(
                EvaluationFailedEventDetails::builder()
                    .state("Choose")
                    .error("States.QueryEvaluationError")
                    .cause("bad path")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        ev(5, HistoryEventType::from("SomethingNew"))
            .build()
            .unwrap(),
    ];
    let events = map_history(&history, true).events;
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "MapStateEntered",
            "MapIterationStarted",
            "EvaluationFailed",
            "SomethingNew"
        ]
    );
    assert_eq!(events[1].input, Some(json!([])));
    assert_eq!(events[2].state.as_deref(), Some("Each"));
    assert_eq!(
        events[3],
        failure(
            event(4, "EvaluationFailed", Some("Choose"), None, None),
            "States.QueryEvaluationError",
            "bad path"
        )
    );
    assert_eq!(
        events[4].state.as_deref(),
        Some("Each"),
        "inside the open state"
    );
}

/// The JSON the API sends is the same as for the embedded executor's events.
#[test]
fn mapped_events_serialize_like_the_embedded_ones() {
    let history = vec![
        started(1, r#"{"run_id":"r1"}"#),
        entered(2, HistoryEventType::TaskStateEntered, "Download", "{}"),
    ];
    let events = map_history(&history, true).events;
    assert_eq!(
        serde_json::to_value(&events).unwrap(),
        json!([
            {"id": 1, "type": "ExecutionStarted", "state": null,
             "timestamp": "2026-11-25T18:10:01.250Z", "input": {"run_id": "r1"}},
            {"id": 2, "type": "TaskStateEntered", "state": "Download",
             "timestamp": "2026-11-25T18:10:02.250Z", "input": {}},
        ])
    );
}
