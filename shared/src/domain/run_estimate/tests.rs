//! The remaining-time estimate from the item's completed runs.

use chrono::TimeDelta;

use super::*;
use crate::domain::RunId;

fn at(seconds: i64) -> DateTime<Utc> {
    crate::domain::run::tests::run().started_at + TimeDelta::seconds(seconds)
}

/// A run of item 1 that ended as `outcome` after steps taking `took` seconds each, one after
/// the other (download, trigger, monitor, notify).
fn ended(id: i64, outcome: RunOutcome, took: [i64; 4]) -> Run {
    let mut r = crate::domain::run::tests::run();
    r.id = RunId::from_stored(id);
    r.status = match outcome {
        RunOutcome::Error => RunStatus::Failed,
        RunOutcome::Cancelled => RunStatus::Cancelled,
        RunOutcome::Passed | RunOutcome::TestsFailed => RunStatus::Completed,
    };
    r.outcome = Some(outcome);
    let mut t = 0;
    for (step, seconds) in r.steps.iter_mut().zip(took) {
        step.status = StepStatus::Succeeded;
        step.started_at = Some(at(t));
        t += seconds;
        step.finished_at = Some(at(t));
    }
    r.finished_at = Some(at(t));
    r
}

/// The live run 100: download took 40 s, trigger 5 s, monitor running since second 45.
fn monitoring() -> Run {
    let mut r = crate::domain::run::tests::run();
    r.id = RunId::from_stored(100);
    r.status = RunStatus::Monitoring;
    let times = [(0, Some(40)), (40, Some(45)), (45, None)];
    for (step, (start, end)) in r.steps.iter_mut().zip(times) {
        step.status = if end.is_some() {
            StepStatus::Succeeded
        } else {
            StepStatus::Running
        };
        step.started_at = Some(at(start));
        step.finished_at = end.map(at);
    }
    r
}

fn history() -> Vec<Run> {
    vec![
        ended(3, RunOutcome::Passed, [10, 5, 100, 2]),
        ended(2, RunOutcome::TestsFailed, [20, 5, 200, 2]),
        ended(1, RunOutcome::Passed, [30, 5, 300, 2]),
    ]
}

#[test]
fn the_running_step_counts_its_median_less_its_time_and_later_steps_their_medians() {
    let e = estimate(&monitoring(), &history(), at(95)).unwrap();
    // Monitor: median 200, 50 s run → 150 left; notify comes after the run has ended.
    assert_eq!(e.remaining_seconds, 150);
    assert_eq!(e.elapsed_seconds, 95);
    assert_eq!(e.finish_at, at(95 + 150));
    assert_eq!(e.percent, (95 * 100 / (95 + 150)) as u8);
    assert_eq!((e.overdue, e.based_on_runs), (false, 3));
    let steps: Vec<_> = e
        .step_elapsed_seconds
        .iter()
        .map(|s| (s.step, s.seconds, s.usual_seconds))
        .collect();
    assert_eq!(
        steps,
        [
            ("DOWNLOAD", 40, Some(20)),
            ("TRIGGER", 5, Some(5)),
            ("MONITOR", 50, Some(200))
        ]
    );
}

#[test]
fn runs_that_did_not_complete_normally_and_other_items_are_not_learnt_from() {
    let mut recent = history();
    recent.insert(0, ended(9, RunOutcome::Error, [1, 1, 9_000, 1]));
    recent.insert(0, ended(8, RunOutcome::Cancelled, [1, 1, 9_000, 1]));
    let mut other_item = ended(7, RunOutcome::Passed, [1, 1, 9_000, 1]);
    other_item.test_item_id = crate::domain::TestItemId::from_stored(2);
    recent.insert(0, other_item);
    let mut only_failed_again = ended(6, RunOutcome::Passed, [1, 1, 9_000, 1]);
    only_failed_again.test_plan = Some(crate::domain::TestPlan {
        of_run: 2,
        tests: Vec::new(),
        left_out: 0,
    });
    recent.insert(0, only_failed_again);
    let e = estimate(&monitoring(), &recent, at(95)).unwrap();
    assert_eq!((e.remaining_seconds, e.based_on_runs), (150, 3));
}

#[test]
fn a_run_past_its_usual_time_is_overdue_and_never_shown_done() {
    let e = estimate(&monitoring(), &history(), at(45 + 500)).unwrap();
    assert_eq!(e.remaining_seconds, 0, "the monitor is past its median");
    assert!(e.overdue);
    assert_eq!(e.percent, 99);
}

#[test]
fn overdue_is_the_whole_run_over_its_usual_total_and_keeps_the_time_left() {
    // Usual total: download 20 + trigger 5 + monitor 200 = 225 s. The download took 40 s,
    // so at second 230 the monitor (185 s in) still has 15 s of its median left.
    let e = estimate(&monitoring(), &history(), at(230)).unwrap();
    assert_eq!((e.remaining_seconds, e.overdue), (15, true));
    let e = estimate(&monitoring(), &history(), at(225)).unwrap();
    assert_eq!((e.remaining_seconds, e.overdue), (20, false));
}

#[test]
fn a_run_not_started_yet_has_every_median_ahead_and_a_queued_one_none() {
    let mut pending = crate::domain::run::tests::run();
    pending.id = RunId::from_stored(100);
    pending.status = RunStatus::Pending;
    let e = estimate(&pending, &history(), at(0)).unwrap();
    assert_eq!(e.remaining_seconds, 20 + 5 + 200);
    assert_eq!((e.percent, e.step_elapsed_seconds.len()), (0, 0));
    // Queued: its start waits on the run ahead, so it neither counts up nor has an end.
    let mut queued = pending;
    queued.status = RunStatus::Queued;
    for later in [0, 600] {
        assert_eq!(estimate(&queued, &history(), at(later)), None);
    }
}

#[test]
fn no_estimate_without_history_or_for_an_ended_run() {
    assert_eq!(estimate(&monitoring(), &[], at(95)), None);
    let failed_only = vec![ended(1, RunOutcome::Error, [1, 1, 1, 1])];
    assert_eq!(estimate(&monitoring(), &failed_only, at(95)), None);
    let done = ended(100, RunOutcome::Passed, [1, 1, 1, 1]);
    assert_eq!(estimate(&done, &history(), at(95)), None);
}

#[test]
fn only_the_newest_runs_count() {
    // Ten recent runs with a 1000 s monitor, then older ones of 1 s: the old ones are ignored.
    let mut recent: Vec<Run> = (0..ESTIMATE_RUNS as i64)
        .map(|i| ended(50 - i, RunOutcome::Passed, [0, 0, 1000, 0]))
        .collect();
    recent.extend((0..20).map(|i| ended(20 - i, RunOutcome::Passed, [0, 0, 1, 0])));
    let e = estimate(&monitoring(), &recent, at(45)).unwrap();
    assert_eq!(
        (e.remaining_seconds, e.based_on_runs),
        (1000, ESTIMATE_RUNS)
    );
}
