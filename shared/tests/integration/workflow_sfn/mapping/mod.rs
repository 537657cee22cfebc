//! GetExecutionHistory → execution events + current state, on hand-built SDK events.
//! Here: the event builders, odd texts and types, and the JSON shape; task events and how
//! executions end have their modules.

use super::*;
use aws_sdk_sfn::types::builders::HistoryEventBuilder;
use aws_sdk_sfn::types::{
    EvaluationFailedEventDetails, ExecutionAbortedEventDetails, ExecutionStartedEventDetails,
    MapIterationEventDetails, StateEnteredEventDetails, StateExitedEventDetails,
    TaskFailedEventDetails, TaskScheduledEventDetails, TaskStartedEventDetails,
    TaskSucceededEventDetails,
};
use chrono::{DateTime, TimeZone, Utc};

mod endings;
mod task_events;

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
