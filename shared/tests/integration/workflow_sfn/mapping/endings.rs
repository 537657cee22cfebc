//! How an execution ends (failed, succeeded, aborted, timed out) and which state a running
//! one is in.

use super::*;
use aws_sdk_sfn::types::{
    ExecutionAbortedEventDetails, ExecutionFailedEventDetails, ExecutionSucceededEventDetails,
    ExecutionTimedOutEventDetails, TaskTimedOutEventDetails,
};

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
