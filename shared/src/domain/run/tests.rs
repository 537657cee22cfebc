//! The run's rules, and the stored JSON they must keep reading and writing.

use super::*;
use crate::tasks::ErrorName;

/// Run 1 of test item `cds`, build J #1 and an empty parameter set, as `Run::new` starts it
/// (at 2026-01-01T00:00:00Z).
pub(crate) fn run() -> Run {
    let t = "2026-01-01T00:00:00Z";
    let item: super::super::TestItem = serde_json::from_value(serde_json::json!({
        "id": 1, "name": "cds", "job_name": "J", "parameter_set_id": null, "description": "",
        "enabled": true, "notify_emails": [], "created_at": t, "updated_at": t
    }))
    .unwrap();
    let build: super::super::Build = serde_json::from_value(serde_json::json!({
        "id": 1, "job_name": "J", "build_number": 1, "build_user": null, "package_path": "p",
        "created_at": t
    }))
    .unwrap();
    let set: super::super::ParameterSet = serde_json::from_value(serde_json::json!({
        "id": 1, "name": "default", "description": "", "params": {}, "is_default": true,
        "version": 1, "created_at": t, "updated_at": t, "updated_by": null
    }))
    .unwrap();
    let by = Email::parse("by", "dev@example.com").unwrap();
    let started = DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    Run::new(RunId::from_stored(1), &item, &build, &set, &by, started)
}

#[test]
fn a_new_run_is_pending_with_every_step_pending_in_order() {
    let r = run();
    assert_eq!(
        (
            r.status,
            r.execution_id.as_str(),
            r.revision,
            r.task_id.clone()
        ),
        (RunStatus::Pending, "run-1", 1, None)
    );
    let steps: Vec<_> = r.steps.iter().map(|s| (s.name, s.status)).collect();
    assert_eq!(
        steps,
        [
            (StepName::Download, StepStatus::Pending),
            (StepName::Trigger, StepStatus::Pending),
            (StepName::Monitor, StepStatus::Pending),
            (StepName::Notify, StepStatus::Pending),
        ]
    );
    assert_eq!(
        (
            r.build.job_name.as_str(),
            r.build.build_number.get(),
            r.test_item_name.as_str()
        ),
        ("J", 1, "cds")
    );
}

#[test]
fn statuses_round_trip_and_terminal_ones_are_known() {
    for s in RunStatus::ALL {
        assert_eq!(RunStatus::parse("status", s.as_str()).unwrap(), s);
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    assert!(RunStatus::parse("status", "done").is_err());
    let terminal: Vec<_> = RunStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled
        ]
    );
}

#[test]
fn failure_lands_on_the_running_step_and_skips_the_rest() {
    let mut r = run();
    let now = r.started_at;
    r.begin_step(StepName::Download, RunStatus::Downloading, now);
    r.finish_step(StepName::Download, StepStatus::Succeeded, None, now);
    r.begin_step(StepName::Trigger, RunStatus::Testing, now);
    r.finish(
        Some((
            ErrorName::TestServerError.as_str(),
            "the test server answered 500",
        )),
        now,
    );
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        r.error_message.as_deref(),
        Some("the test server answered 500")
    );
    let statuses: Vec<_> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
            StepStatus::Pending // NOTIFY comes after
        ]
    );
    assert_eq!(
        r.step(StepName::Trigger).unwrap().details["error_name"],
        ErrorName::TestServerError.as_str()
    );
}

#[test]
fn cancel_ends_live_steps_and_skips_the_mail() {
    let mut r = run();
    let now = r.started_at;
    r.begin_step(StepName::Download, RunStatus::Downloading, now);
    assert!(r.cancel("dev@example.com", now));
    assert_eq!(r.status, RunStatus::Cancelled);
    let statuses: Vec<_> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [StepStatus::Cancelled; 4]);
    assert_eq!(
        r.notification.as_ref().unwrap().status,
        NotificationStatus::Skipped
    );
    assert!(!r.cancel("x", now), "only once");
}

#[test]
fn rerun_keeps_the_snapshot_and_starts_fresh() {
    let mut old = run();
    old.params
        .insert("upgrade_type".into(), Value::from("full"));
    old.finish(
        Some((ErrorName::TestFailed.as_str(), "boom")),
        old.started_at,
    );
    old.task_id = Some(TaskId::parse("task_id", "t1").unwrap());
    let later = old.started_at + chrono::TimeDelta::hours(1);
    let ops = Email::parse("by", "ops@example.com").unwrap();
    let new = old.rerun(RunId::from_stored(9), &ops, later);
    assert_eq!(
        (
            new.id.get(),
            new.execution_id.as_str(),
            new.triggered_by.as_str()
        ),
        (9, "run-9", "ops@example.com")
    );
    assert_eq!(
        (
            &new.build,
            &new.params,
            new.parameter_set_version,
            new.build_info_id
        ),
        (
            &old.build,
            &old.params,
            old.parameter_set_version,
            old.build_info_id
        )
    );
    assert_eq!(
        (
            new.status,
            new.task_id.clone(),
            new.error_message.clone(),
            new.started_at
        ),
        (RunStatus::Pending, None, None, later)
    );
    assert!(new.steps.iter().all(|s| s.status == StepStatus::Pending));
}

#[test]
fn a_run_stored_by_the_old_code_reads_typed_and_writes_back_the_same_json() {
    // As the String/i64-typed Run of earlier versions stored it (no `report_refused`).
    let mut stored = serde_json::json!({
        "id": 12, "test_item_id": 3, "test_item_name": "cds", "build_info_id": 7,
        "build": {"job_name": "CDN/core", "build_number": 101, "package_path": "CDN/pass/el7"},
        "parameter_set_id": 2, "parameter_set_version": 4, "params": {"upgrade_type": "full"},
        "triggered_by": "dev@example.com", "status": "MONITORING", "task_id": "task-9",
        "package_url": "http://pkg/x.tar.gz", "package_size": 3, "package_sha256": "ab",
        "report_url": null, "summary": null, "error_message": null,
        "execution_id": "run-12", "started_at": "2026-03-02T10:00:00Z", "finished_at": null,
        "steps": [
            {"name": "DOWNLOAD", "status": "SUCCEEDED", "started_at": "2026-03-02T10:00:00Z",
             "finished_at": "2026-03-02T10:00:05Z", "error": null,
             "details": {"file_name": "x.tar.gz", "size": 3, "sha256": "ab", "verified_with": null}},
            {"name": "TRIGGER", "status": "SUCCEEDED", "started_at": "2026-03-02T10:00:05Z",
             "finished_at": "2026-03-02T10:00:06Z", "error": null,
             "details": {"poll_interval_seconds": 30, "post_sent_at": "2026-03-02T10:00:05.120Z", "task_id": "task-9"}},
            {"name": "MONITOR", "status": "RUNNING", "started_at": "2026-03-02T10:00:36Z",
             "finished_at": null, "error": null,
             "details": {"deadline": "2026-03-02T13:00:36.000Z", "polls": 1, "phase": "deploying",
                         "last_poll_at": "2026-03-02T10:00:36.000Z"}},
            {"name": "NOTIFY", "status": "PENDING", "started_at": null, "finished_at": null,
             "error": null, "details": {}}
        ],
        "notification": null, "revision": 5
    });
    let run: Run = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!(
        (run.id, run.build_info_id, run.parameter_set_id),
        (
            RunId::from_stored(12),
            BuildId::from_stored(7),
            ParameterSetId::from_stored(2)
        )
    );
    assert_eq!(run.build.job_name, JobName::parse("j", "CDN/core").unwrap());
    assert_eq!(run.build.build_number.get(), 101);
    assert_eq!(run.triggered_by.as_str(), "dev@example.com");
    assert_eq!(run.task_id.as_deref(), Some("task-9"));
    let poll: super::super::PollDetails = run.details();
    assert_eq!(
        poll.deadline.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-03-02T13:00:36+00:00")
    );
    assert_eq!(poll.phase.as_deref(), Some("deploying"));
    let trigger: super::super::TriggerDetails = run.details();
    assert_eq!(trigger.poll_interval_seconds, Some(30));
    // A run from before environments ran on the default environment.
    assert_eq!(
        (run.environment_id, run.test_server_url.as_ref()),
        (None, None)
    );
    // Written back: the same JSON (the fields added since read as null).
    stored["report_refused"] = Value::Null;
    stored["environment_id"] = Value::Null;
    stored["test_server_url"] = Value::Null;
    stored["lane"] = Value::from("default");
    stored["queued_at"] = Value::Null;
    stored["started_by_webhook"] = Value::Bool(false);
    assert_eq!(serde_json::to_value(&run).unwrap(), stored);
    // Rewriting each step's details through its struct changes nothing either.
    let mut again = run.clone();
    again.edit_details(|_: &mut super::super::DownloadDetails| ());
    again.edit_details(|_: &mut super::super::TriggerDetails| ());
    again.edit_details(|_: &mut super::super::PollDetails| ());
    again.edit_details(|_: &mut super::super::NotifyDetails| ());
    assert_eq!(again, run);
}

#[test]
fn finish_keeps_a_cancelled_run() {
    let mut r = run();
    r.status = RunStatus::Cancelled;
    r.finish(None, r.started_at);
    assert_eq!(r.status, RunStatus::Cancelled);
    let mut ok = run();
    ok.finish(None, ok.started_at);
    assert_eq!(ok.status, RunStatus::Completed);
    assert!(ok.finished_at.is_some());
}

#[test]
fn the_outcome_follows_the_status_and_the_report() {
    let summary = |failed: u64, broken: u64| Summary {
        passed: 5,
        failed,
        broken,
        skipped: 1,
        unknown: 0,
        total: 6 + failed + broken,
        duration_ms: None,
    };
    let now = run().started_at;
    // Running: none.
    let mut r = run();
    r.status = RunStatus::Monitoring;
    r.refresh_outcome();
    assert_eq!(r.outcome, None);
    // Completed, the report still to be read: none yet; then by its counts.
    r.finish(None, now);
    assert_eq!((r.status, r.outcome), (RunStatus::Completed, None));
    for (s, want) in [
        (summary(0, 0), RunOutcome::Passed),
        (summary(1, 0), RunOutcome::TestsFailed),
        (summary(0, 2), RunOutcome::TestsFailed),
    ] {
        r.summary = Some(s);
        r.refresh_outcome();
        assert_eq!(r.outcome, Some(want));
    }
    // Completed but the report could not be read: error.
    r.summary = None;
    r.edit_details(|d: &mut super::super::NotifyDetails| {
        d.summary_unavailable = Some("404".into())
    });
    r.refresh_outcome();
    assert_eq!(r.outcome, Some(RunOutcome::Error));
    // A failed step: error; cancelled: cancelled; a re-run starts without one.
    let mut failed = run();
    failed.finish(Some(("Crat.TestFailed", "deploy failed")), now);
    assert_eq!(failed.outcome, Some(RunOutcome::Error));
    let mut cancelled = run();
    assert!(cancelled.cancel("dev@example.com", now));
    assert_eq!(cancelled.outcome, Some(RunOutcome::Cancelled));
    let again = failed.rerun(RunId::from_stored(2), &failed.triggered_by, now);
    assert_eq!(again.outcome, None);
    // The wire spelling.
    assert_eq!(
        serde_json::to_value(RunOutcome::TestsFailed).unwrap(),
        serde_json::json!("tests_failed")
    );
    assert_eq!(RunOutcome::TestsFailed.as_str(), "tests_failed");
}
