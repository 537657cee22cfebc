//! The Step Functions workflow adapter.
//!
//! - `mapping`, `arns`: the pure parts (history → execution events + current state,
//!   state machine ARN → execution ARN) on hand-built SDK values. Always run.
//! - `on_moto`: StartExecution / DescribeExecution / GetExecutionHistory / StopExecution
//!   against moto (`CRAT_TEST_DYNAMODB_ENDPOINT`, set by `make test`: moto serves every
//!   service on one port). By default moto does not run executions: they stay RUNNING
//!   with a canned history.
//! - `on_moto_interpreter`: a moto of its own (started by the test on a free port, so the
//!   shared one keeps its default) with `execute_state_machine` on, which really runs a
//!   Pass/Wait/Succeed definition.
//!
//! Without `CRAT_TEST_DYNAMODB_ENDPOINT` the moto tests skip, unless
//! `CRAT_REQUIRE_DYNAMODB=1` (set by `make test`), which turns that into a failure.

use aws_sdk_sfn::primitives::DateTime as SdkDateTime;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::{Value, json};
use shared::tasks::ErrorName;
use shared::workflow::sfn::{MappedHistory, execution_arn, map_history};
use shared::workflow::{ExecutionEvent, StepFunctionsWorkflow, WorkflowError, WorkflowStarter};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/crat";

fn moto_endpoint() -> Option<String> {
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
            "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
        );
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return None;
    };
    Some(endpoint)
}

async fn sfn_client(endpoint: &str, region: &'static str) -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_sfn::Client::new(&config)
}

/// A state machine with a unique name; returns its ARN.
async fn create_state_machine(client: &aws_sdk_sfn::Client, definition: &str) -> String {
    client
        .create_state_machine()
        .name(format!("crat-test-{}", uuid::Uuid::new_v4()))
        .definition(definition)
        .role_arn(ROLE_ARN)
        .send()
        .await
        .expect("CreateStateMachine on moto")
        .state_machine_arn()
        .to_owned()
}

/// `statemachine/deploy_test.asl.json` with every `${Var}` replaced by a fake Lambda ARN.
fn deploy_test_definition() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/deploy_test.asl.json"
    );
    let mut text = std::fs::read_to_string(path).unwrap();
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').unwrap();
        let var = text[start + 2..end].to_owned();
        text.replace_range(
            start..=end,
            &format!("arn:aws:lambda:us-east-1:123456789012:function:crat-{var}"),
        );
    }
    serde_json::from_str::<Value>(&text).expect("substituted definition is JSON");
    text
}

fn types(events: &[ExecutionEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn states(events: &[ExecutionEvent]) -> Vec<Option<&str>> {
    events.iter().map(|e| e.state.as_deref()).collect()
}

mod arns {
    use super::*;

    #[test]
    fn execution_arn_replaces_the_state_machine_segment_and_appends_the_id() {
        for (state_machine, expected) in [
            (
                "arn:aws:states:us-east-1:123456789012:stateMachine:crat-deploy-test",
                "arn:aws:states:us-east-1:123456789012:execution:crat-deploy-test:run-42",
            ),
            (
                "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m",
                "arn:aws-cn:states:cn-north-1:123456789012:execution:m:run-42",
            ),
            (
                "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m",
                "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:m:run-42",
            ),
            // A version or alias ARN: executions are still named after the state machine.
            (
                "arn:aws:states:eu-west-1:123456789012:stateMachine:m:3",
                "arn:aws:states:eu-west-1:123456789012:execution:m:run-42",
            ),
            (
                "arn:aws:states:eu-west-1:123456789012:stateMachine:m:live",
                "arn:aws:states:eu-west-1:123456789012:execution:m:run-42",
            ),
        ] {
            assert_eq!(
                execution_arn(state_machine, "run-42").as_deref(),
                Ok(expected),
                "{state_machine}"
            );
        }
    }

    #[test]
    fn anything_but_a_state_machine_arn_is_refused() {
        for bad in [
            "",
            "crat-deploy-test",
            "arn:aws:states:us-east-1:123456789012:stateMachine:",
            "arn:aws:states:us-east-1:123456789012:stateMachine",
            "arn:aws:states:us-east-1:123456789012:execution:m:run-1",
            "arn:aws:states:us-east-1:123456789012:activity:m",
            "arn:aws:lambda:us-east-1:123456789012:stateMachine:m",
            "arn:aws:states::123456789012:stateMachine:m",
            "arn:aws:states:us-east-1:123456789012:stateMachine:m:1:extra",
            "arn:aws:states:us-east-1:123456789012:stateMachine:m:",
        ] {
            let err = execution_arn(bad, "run-1").unwrap_err();
            assert!(err.contains("not a state machine ARN"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn a_bad_state_machine_arn_is_a_configuration_error_naming_the_variable() {
        let client = sfn_client("http://127.0.0.1:9", "us-east-1").await;
        let Err(err) = StepFunctionsWorkflow::new(client, "crat-deploy-test") else {
            panic!("accepted a state machine name as an ARN");
        };
        assert_eq!(err.var, "STATE_MACHINE_ARN");
        assert!(
            err.to_string()
                .starts_with("configuration: STATE_MACHINE_ARN:"),
            "{err}"
        );
    }
}

mod mapping {
    use super::*;
    use aws_sdk_sfn::types::builders::HistoryEventBuilder;
    use aws_sdk_sfn::types::{
        EvaluationFailedEventDetails, ExecutionAbortedEventDetails, ExecutionFailedEventDetails,
        ExecutionStartedEventDetails, ExecutionSucceededEventDetails,
        ExecutionTimedOutEventDetails, LambdaFunctionFailedEventDetails,
        LambdaFunctionScheduledEventDetails, LambdaFunctionSucceededEventDetails,
        MapIterationEventDetails, StateEnteredEventDetails, StateExitedEventDetails,
        TaskFailedEventDetails, TaskScheduledEventDetails, TaskStartedEventDetails,
        TaskSucceededEventDetails, TaskTimedOutEventDetails,
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
}

mod on_moto {
    use super::*;

    async fn workflow() -> Option<StepFunctionsWorkflow> {
        let endpoint = moto_endpoint()?;
        let client = sfn_client(&endpoint, "us-east-1").await;
        let arn = create_state_machine(&client, &deploy_test_definition()).await;
        Some(StepFunctionsWorkflow::new(client, arn).unwrap())
    }

    fn run_id() -> String {
        format!("run-{}", uuid::Uuid::new_v4())
    }

    #[tokio::test]
    async fn history_pages_follow_next_token_and_the_order() {
        let Some(wf) = workflow().await else { return };
        let id = run_id();
        wf.start(&id, json!({"run_id": id})).await.unwrap();
        let whole = wf.describe(&id).await.unwrap().unwrap();
        for newest_first in [false, true] {
            let mut request = shared::workflow::HistoryRequest {
                limit: 1,
                cursor: None,
                newest_first,
            };
            let mut ids = Vec::new();
            loop {
                let page = wf.describe_page(&id, &request).await.unwrap().unwrap();
                // (moto's canned history ignores maxResults: one page holds it all)
                assert_eq!(page.status, whole.status);
                ids.extend(page.events.iter().map(|e| e.id));
                match page.next_cursor {
                    Some(token) => request.cursor = Some(token),
                    None => break,
                }
                assert!(ids.len() <= whole.events.len(), "{ids:?}");
            }
            if newest_first {
                ids.reverse();
            }
            let expected: Vec<u64> = whole.events.iter().map(|e| e.id).collect();
            assert_eq!(ids, expected, "newest_first: {newest_first}");
        }
        assert_eq!(
            wf.describe_page(
                &run_id(),
                &shared::workflow::HistoryRequest {
                    limit: 10,
                    cursor: None,
                    newest_first: false,
                }
            )
            .await
            .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn start_then_describe_gives_a_running_execution_with_its_history() {
        let Some(wf) = workflow().await else { return };
        let id = run_id();
        let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);

        wf.start(&id, json!({"run_id": id})).await.unwrap();
        let view = wf.describe(&id).await.unwrap().expect("started execution");

        assert_eq!(view.execution_id, id);
        assert_eq!(view.status, "RUNNING");
        assert!(view.started_at >= before, "{}", view.started_at);
        assert_eq!(view.stopped_at, None);
        // moto's canned history (its default mode runs nothing): mapped as given.
        assert_eq!(
            types(&view.events),
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
        assert_eq!(
            view.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            states(&view.events),
            [None, Some("A State"), Some("A State"), None]
        );
        assert_eq!(view.events[0].input, Some(json!({})));
        assert_eq!(view.events[1].input, Some(json!({})));
        assert_eq!(view.events[2].output, Some(json!("An output")));
        assert_eq!(view.current_state.as_deref(), Some("A State"));
        // The execution really is the one named after the run, with the run's input.
        let described = wf
            .client()
            .describe_execution()
            .execution_arn(wf.execution_arn(&id).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(described.name(), Some(id.as_str()));
        assert_eq!(described.state_machine_arn(), wf.state_machine_arn());
        assert_eq!(
            serde_json::from_str::<Value>(described.input().unwrap()).unwrap(),
            json!({"run_id": id})
        );
    }

    #[tokio::test]
    async fn starting_the_same_execution_again_is_harmless_and_only_that() {
        let Some(wf) = workflow().await else { return };
        let id = run_id();
        wf.start(&id, json!({"run_id": id})).await.unwrap();
        // Same name and input while running: Step Functions returns the same execution (moto
        // answers ExecutionAlreadyExists; DescribeExecution shows it is this one): started.
        wf.start(&id, json!({"run_id": id})).await.unwrap();
        // Same name, other input: another execution's, not ours. (This used to be "started".)
        let err = wf
            .start(&id, json!({"run_id": id, "retry": true}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WorkflowError::NameTaken(m) if m.contains("other input")),
            "{err}"
        );
        // Same name after it ended: nothing runs it, so it is not started either.
        wf.stop(&id, "test").await.unwrap();
        let err = wf.start(&id, json!({"run_id": id})).await.unwrap_err();
        assert!(
            matches!(&err, WorkflowError::NameTaken(m) if m.contains("ABORTED")),
            "{err}"
        );

        let executions = wf
            .client()
            .list_executions()
            .state_machine_arn(wf.state_machine_arn())
            .send()
            .await
            .unwrap();
        assert_eq!(executions.executions().len(), 1);
        let view = wf.describe(&id).await.unwrap().unwrap();
        assert_eq!(view.status, "ABORTED", "the restart did not start anything");
    }

    #[tokio::test]
    async fn stop_aborts_a_running_execution_and_stopping_again_is_harmless() {
        let Some(wf) = workflow().await else { return };
        let id = run_id();
        wf.start(&id, json!({"run_id": id})).await.unwrap();

        wf.stop(&id, "cancelled by admin").await.unwrap();
        let view = wf.describe(&id).await.unwrap().unwrap();
        assert_eq!(view.status, "ABORTED");
        let stopped_at = view.stopped_at.expect("stop date");
        assert!(stopped_at >= view.started_at);

        wf.stop(&id, "cancelled twice").await.unwrap();
        assert_eq!(wf.describe(&id).await.unwrap().unwrap().status, "ABORTED");
    }

    #[tokio::test]
    async fn an_unknown_execution_is_none_and_stopping_it_is_harmless() {
        let Some(wf) = workflow().await else { return };
        let id = run_id();
        assert_eq!(wf.describe(&id).await.unwrap(), None);
        wf.stop(&id, "nothing to stop").await.unwrap();
        assert_eq!(
            wf.describe(&id).await.unwrap(),
            None,
            "stop created nothing"
        );
    }

    #[tokio::test]
    async fn a_missing_state_machine_is_an_error_with_the_service_message() {
        let Some(endpoint) = moto_endpoint() else {
            return;
        };
        let client = sfn_client(&endpoint, "us-east-1").await;
        let arn = format!(
            "arn:aws:states:us-east-1:123456789012:stateMachine:crat-missing-{}",
            uuid::Uuid::new_v4()
        );
        let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
        let err = wf.start(&run_id(), json!({})).await.unwrap_err();
        assert!(
            matches!(&err, WorkflowError::Service(m)
                if m.starts_with("Step Functions StartExecution: ")
                    && m.contains("StateMachineDoesNotExist")),
            "{err}"
        );
        // Its executions do not exist either: describe and stop say so without failing.
        assert_eq!(wf.describe("run-1").await.unwrap(), None);
        wf.stop("run-1", "x").await.unwrap();
    }
}

mod on_moto_interpreter {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// A moto server of this test's own, stopped (by its PID) when dropped.
    struct Moto {
        child: Child,
        endpoint: String,
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// `CRAT_TEST_PYTHON`, else the workspace's `.venv` (what `make test` installs), else `python3`.
    fn python() -> String {
        if let Ok(python) = std::env::var("CRAT_TEST_PYTHON") {
            return python;
        }
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "python3".to_owned()
        }
    }

    async fn start_moto_executing() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/moto_server.py"
            ))
            .args(["127.0.0.1", &port.to_string()])
            .env_remove("MOTO_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (scripts/moto_server.py)");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let config = http
            .post(format!("{}/moto-api/config", moto.endpoint))
            .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
            .send()
            .await
            .unwrap();
        assert!(config.status().is_success(), "{config:?}");
        moto
    }

    async fn wait_until(
        wf: &StepFunctionsWorkflow,
        id: &str,
        what: &str,
        done: impl Fn(&shared::workflow::ExecutionView) -> bool,
    ) -> shared::workflow::ExecutionView {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let view = wf.describe(id).await.unwrap().unwrap();
            if done(&view) {
                return view;
            }
            assert!(Instant::now() < deadline, "{what}: {view:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// moto 5.2.1 runs one execution per account and region (a second StartExecution
    /// fails inside moto), so each scenario uses its own region.
    #[tokio::test]
    async fn moto_runs_pass_wait_succeed_to_succeeded_and_stops_a_waiting_execution() {
        if moto_endpoint().is_none() {
            return;
        }
        let moto = start_moto_executing().await;

        // 1. Pass → Wait 1 s → Succeed, to the end.
        let client = sfn_client(&moto.endpoint, "us-east-1").await;
        let definition = json!({
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Result": {"ok": true}, "ResultPath": "$.prepared", "Next": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }
        });
        let arn = create_state_machine(&client, &definition.to_string()).await;
        let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
        let id = "run-happy";
        wf.start(id, json!({"run_id": id})).await.unwrap();
        let view = wait_until(&wf, id, "never finished", |v| v.status != "RUNNING").await;

        assert_eq!(view.status, "SUCCEEDED", "{view:#?}");
        assert!(view.stopped_at.unwrap() >= view.started_at);
        assert_eq!(
            types(&view.events),
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "WaitStateEntered",
                "WaitStateExited",
                "SucceedStateEntered",
                "SucceedStateExited",
                "ExecutionSucceeded",
            ]
        );
        assert_eq!(
            states(&view.events),
            [
                None,
                Some("Prepare"),
                Some("Prepare"),
                Some("Pause"),
                Some("Pause"),
                Some("Done"),
                Some("Done"),
                None
            ]
        );
        assert_eq!(
            view.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<u64>>()
        );
        assert!(
            view.events
                .windows(2)
                .all(|w| w[0].timestamp <= w[1].timestamp),
            "oldest first"
        );
        let waited = view.events[4].timestamp - view.events[3].timestamp;
        assert!(waited >= chrono::TimeDelta::milliseconds(900), "{waited}");
        let result = json!({"run_id": id, "prepared": {"ok": true}});
        assert_eq!(view.events[0].input, Some(json!({"run_id": id})));
        assert_eq!(view.events[1].input, Some(json!({"run_id": id})));
        assert_eq!(view.events[2].output, Some(result.clone()));
        assert_eq!(view.events[7].output, Some(result));
        assert!(view.events.iter().all(|e| e.error.is_none()));
        assert_eq!(view.current_state.as_deref(), Some("Done"));
        // Stopping a finished execution leaves it as it is.
        wf.stop(id, "too late").await.unwrap();
        assert_eq!(wf.describe(id).await.unwrap().unwrap().status, "SUCCEEDED");

        // 2. A long Wait, stopped while in it.
        let client = sfn_client(&moto.endpoint, "eu-west-1").await;
        let definition = json!({
            "StartAt": "Pause",
            "States": {
                "Pause": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }
        });
        let arn = create_state_machine(&client, &definition.to_string()).await;
        let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
        let id = "run-cancelled";
        wf.start(id, json!({"run_id": id})).await.unwrap();
        let view = wait_until(&wf, id, "never waited", |v| {
            v.events.iter().any(|e| e.event_type == "WaitStateEntered")
        })
        .await;
        assert_eq!(view.status, "RUNNING");
        assert_eq!(view.current_state.as_deref(), Some("Pause"));

        wf.stop(id, "cancelled by admin").await.unwrap();
        let view = wait_until(&wf, id, "never aborted", |v| v.status != "RUNNING").await;
        assert_eq!(view.status, "ABORTED");
        assert!(view.stopped_at.is_some());
        assert_eq!(
            types(&view.events),
            ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
        );
        assert_eq!(view.current_state.as_deref(), Some("Pause"));
    }
}
