//! The third scenario, "queued": a second run triggered while the first is active waits in
//! the lane's queue and starts when the first ends. On the cloud host nobody but the first
//! run's Finalize Lambda can start it (its STATE_MACHINE_ARN and `states:StartExecution`,
//! as infra/template.yaml gives them; no sweeper runs here, the test never starts it); on
//! the embedded host the local finalize task does the same. Both hosts must agree.

use std::time::Instant;

use shared::domain::{LaneId, Run, RunStatus};
use shared::workflow::{ExecutionView, WorkflowStarter};

use super::*;

/// A second person triggers the same build (the same person would be a duplicate, 409).
const SECOND_USER: &str = "qa@example.com";

type Ended = (Run, ExecutionView, f64);

/// Runs the scenario on both hosts at once and compares them; returns the cloud's two runs.
pub(super) async fn first_then_queued_on_both(cloud: &Side, embedded: &Side) -> (Ended, Ended) {
    let (c, e) = tokio::join!(first_then_queued(cloud), first_then_queued(embedded));
    assert_same("queued / first run", &c.0, &e.0);
    assert_same("queued / second run", &c.1, &e.1);
    c
}

/// Triggers the first run and, while it is active, the second on the same lane; waits for
/// both to end; checks what the records and the executions say about their order.
async fn first_then_queued(side: &Side) -> (Ended, Ended) {
    let label = side.label;
    let t = Instant::now();
    let first = side.trigger(side.builds.0, USER).await;
    assert_eq!(first.queue_position, None, "{label}: the first run starts");
    let second = side.trigger(side.builds.0, SECOND_USER).await;
    assert_eq!(
        (second.status, second.queue_position),
        (RunStatus::Queued, Some(1)),
        "{label}: the second run waits behind the first: {:?}",
        second.run
    );
    assert!(
        side.state
            .workflow
            .describe(&second.execution_id)
            .await
            .unwrap()
            .is_none(),
        "{label}: a queued run has no execution yet"
    );
    let (first, second) = tokio::join!(
        side.wait_until_ended(&first, t),
        side.wait_until_ended(&second, t)
    );
    for (which, ended) in [("first", &first), ("second", &second)] {
        assert_eq!(
            (ended.0.status, ended.1.status.as_str()),
            (RunStatus::Completed, "SUCCEEDED"),
            "{label}: the {which} run: {:?}",
            ended.0
        );
    }

    // The records: the second joined the queue while the first was active and started only
    // after the first had finished.
    let first_finished = first.0.finished_at.expect("the first run's finished_at");
    let queued_at = second.0.queued_at.expect("the second run's queued_at");
    assert!(
        first.0.started_at <= queued_at && queued_at <= first_finished,
        "{label}: queued at {queued_at} while the first ran {} – {first_finished}",
        first.0.started_at
    );
    assert!(
        second.0.started_at >= first_finished,
        "{label}: the second run started at {} before the first finished at {first_finished}",
        second.0.started_at
    );
    assert_eq!(first.0.queued_at, None, "{label}: the first never queued");

    // The executions (on the host's own clock): the second one was started while the first
    // was in its Finalize state, i.e. by the first run's finalize task.
    let (entered, exited) = finalize_window(&first.1);
    assert!(
        entered <= second.1.started_at && second.1.started_at <= exited,
        "{label}: the second execution started at {}, outside the first's Finalize ({entered} – {exited})",
        second.1.started_at
    );

    // The lane is free at the end: no lock, nobody waiting.
    let lane = LaneId::default_lane();
    assert!(
        side.state
            .store
            .get_run_lock(&lane)
            .await
            .unwrap()
            .is_none(),
        "{label}: the lane's lock is released"
    );
    assert!(
        side.state
            .store
            .queued_runs(&lane)
            .await
            .unwrap()
            .is_empty(),
        "{label}: nothing is left in the queue"
    );
    println!(
        "    {label}: second run queued {:.1} s, started {:.3} s after the first finished",
        (second.0.started_at - queued_at).num_milliseconds() as f64 / 1000.0,
        (second.0.started_at - first_finished).num_milliseconds() as f64 / 1000.0
    );
    (first, second)
}

/// When the execution entered and left its Finalize state.
fn finalize_window(
    exec: &ExecutionView,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let at = |suffix: &str| {
        exec.events
            .iter()
            .find(|e| e.event_type.ends_with(suffix) && e.state.as_deref() == Some("Finalize"))
            .map(|e| e.timestamp)
            .unwrap_or_else(|| panic!("no Finalize {suffix} event: {:?}", exec.events))
    };
    (at("StateEntered"), at("StateExited"))
}
