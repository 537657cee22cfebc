//! A running execution's Task and Lambda events: attributed to their state, with inputs,
//! outputs, errors and sub-second timestamps.

use super::*;
use aws_sdk_sfn::types::{
    LambdaFunctionFailedEventDetails, LambdaFunctionScheduledEventDetails,
    LambdaFunctionSucceededEventDetails,
};
use chrono::{TimeZone, Utc};

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
