//! The facts both result mails show (build and run) and the failure's details, as plain
//! (label, text) pairs in the mail's words; the templates in `html` and `text` lay them out.

use super::compose::{MailContext, failed_step, fmt_time, format_duration, one_line};
use super::words::Words;
use crate::domain::run::{Run, RunStatus, StepName, Summary};
use crate::domain::{DownloadDetails, PollDetails};

/// The run's duration, when it has finished.
pub(super) fn run_time(run: &Run, w: &Words) -> Option<String> {
    let finished = run.finished_at?;
    let ms = (finished - run.started_at).num_milliseconds();
    u64::try_from(ms)
        .ok()
        .map(|ms| format_duration(ms, &w.units))
}

/// The build and run facts both mails show, as (label, value) pairs of plain text.
pub(super) fn build_facts(ctx: &MailContext) -> Vec<(&'static str, String)> {
    let run = ctx.run;
    let w = ctx.words();
    let mut facts = vec![
        (w.project, one_line(ctx.project_name)),
        (w.test_item, one_line(&run.test_item_name)),
        (w.job, one_line(&run.build.job_name)),
        (w.build, format!("#{}", run.build.build_number)),
        (w.package_path, one_line(&run.build.package_path)),
    ];
    let download: DownloadDetails = run.details();
    if let Some(file) = download
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        facts.push((w.package, one_line(file)));
    }
    facts.push((w.run, format!("#{}", run.id)));
    facts.push((w.triggered_by, one_line(&run.triggered_by)));
    facts.push((w.started, fmt_time(run.started_at)));
    if let Some(f) = run.finished_at {
        facts.push((w.finished, fmt_time(f)));
    }
    if let Some(d) = run_time(run, w) {
        facts.push((w.run_time, d));
    }
    facts
}

/// (label, text, error-ish) facts about the failure.
pub(super) struct FailureFacts {
    pub(super) headline: String,
    pub(super) step: Option<&'static str>,
    pub(super) error_name: Option<String>,
    pub(super) error: Option<String>,
    pub(super) step_error: Option<String>,
    /// The external test server's last word: MONITOR's error and details.
    pub(super) external: Vec<(&'static str, String)>,
}

pub(super) fn failure_facts(run: &Run, w: &Words) -> FailureFacts {
    let failed = failed_step(run);
    let headline = match (run.status, failed) {
        (RunStatus::Failed, _) if run.deploy_failure().is_some() => {
            (w.deploy_failed)(&one_line(run.deploy_failure().unwrap_or_default()))
        }
        (RunStatus::Failed, Some(step)) => (w.failed_at)(step.name.as_str()),
        (status, Some(step)) => (w.status_at)(status.as_str(), step.name.as_str()),
        (status, None) => status.as_str().to_owned(),
    };
    let error = run
        .error_message
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let step_error = failed
        .and_then(|s| s.error.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty() && Some(*s) != error.as_deref())
        .map(str::to_owned);
    let error_name = failed
        .and_then(|s| run.error_name(s.name))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let mut external = Vec::new();
    if let Some(monitor) = run.step(StepName::Monitor) {
        let shown_elsewhere =
            |e: &str| Some(e) == error.as_deref() || Some(e) == step_error.as_deref();
        if let Some(e) = monitor
            .error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty() && !shown_elsewhere(e))
        {
            external.push((w.error, e.to_owned()));
        }
        // What poll recorded about the test server's last answers.
        let poll: PollDetails = run.details();
        let trimmed = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        for (label, value) in [
            (w.last_problem, trimmed(&poll.last_error)),
            (w.last_phase, trimmed(&poll.phase)),
            (w.last_poll, poll.last_poll_at.map(fmt_time)),
            (w.polls, poll.polls.map(|n| n.to_string())),
        ] {
            let Some(value) = value else { continue };
            if !shown_elsewhere(&value) && !external.iter().any(|(_, v)| *v == value) {
                external.push((label, value));
            }
        }
    }
    FailureFacts {
        headline,
        step: failed.map(|s| s.name.as_str()),
        error_name,
        error,
        step_error,
        external,
    }
}

/// The counts in the chart's slice order.
pub(super) fn counts(s: &Summary) -> [u64; 5] {
    [s.passed, s.failed, s.broken, s.skipped, s.unknown]
}

/// The failing step's label, or `— (run STATUS)` when no step failed.
pub(super) fn failing_step_label(ctx: &MailContext, f: &FailureFacts) -> String {
    f.step.map_or_else(
        || (ctx.words().no_failing_step)(ctx.run.status.as_str()),
        str::to_owned,
    )
}

/// Why the summary is unavailable, one line, with a fallback.
pub(super) fn summary_note(ctx: &MailContext) -> String {
    ctx.summary_note
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| ctx.words().no_summary_note.to_owned())
}
