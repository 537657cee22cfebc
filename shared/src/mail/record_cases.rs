//! The notify step's test cases: read once from the report of a completed run (the same
//! origin rule as the summary), recorded with the run (replacing any earlier attempt's),
//! noted on the run (`test_cases`: how many were stored, or why only the counts are kept),
//! and compared with the item's previous run on the same environment for the mail.

use std::time::Duration;

use crate::Deps;
use crate::domain::timing::NOTIFY_TEST_CASES_BUDGET_SECONDS;
use crate::domain::{Run, RunStatus, Settings, TestCasesNote};
use crate::mail::changes::TestChanges;
use crate::mail::test_cases::read_test_cases_until;
use crate::services::test_results;
use crate::tasks::{TaskError, excerpt, update_run};

/// Reads and records the cases of a completed run once; returns the run as stored after.
/// A report without case files, or one over the cap, leaves a note with the reason and
/// never fails the step; a store failure does (the state machine retries notify).
pub(super) async fn record_once(
    deps: &Deps,
    settings: &Settings,
    run: Run,
) -> Result<Run, TaskError> {
    if run.status != RunStatus::Completed || run.test_cases.is_some() {
        return Ok(run);
    }
    let note = match (&run.report_url, &run.report_refused) {
        (None, _) => counts_only("the test server gave no report link".to_owned()),
        (Some(_), Some(why)) => counts_only(why.clone()),
        (Some(report), None) => {
            let timeout = Duration::from_secs(u64::from(settings.poll_request_timeout_seconds));
            // Detail files not fetched within the budget are left out; the hard stop a little
            // later also bounds a listing that is still arriving.
            let budget = Duration::from_secs(u64::from(NOTIFY_TEST_CASES_BUDGET_SECONDS));
            let budget_ends = tokio::time::Instant::now() + budget;
            let read = tokio::time::timeout(
                budget + Duration::from_secs(5),
                read_test_cases_until(
                    &deps.http,
                    report,
                    &settings.allowed_report_origins(),
                    timeout,
                    budget_ends,
                ),
            )
            .await;
            match read {
                Err(_) => counts_only(format!(
                    "the test cases were not read within {NOTIFY_TEST_CASES_BUDGET_SECONDS} s"
                )),
                Ok(Err(e)) => counts_only(e.to_string()),
                Ok(Ok(found)) if found.over_cap => TestCasesNote {
                    stored: 0,
                    in_report: found.in_report,
                    source: Some(found.source.to_owned()),
                    reason: Some(format!(
                        "the report lists {} test cases, more than the {} kept per run: only the counts are kept",
                        found.in_report,
                        crate::domain::test_case::MAX_CASES_PER_RUN
                    )),
                },
                Ok(Ok(found)) => {
                    test_results::record(deps, &run, &found.cases).await?;
                    TestCasesNote {
                        stored: found.cases.len() as u64,
                        in_report: found.in_report,
                        source: Some(found.source.to_owned()),
                        reason: None,
                    }
                }
            }
        }
    };
    if let Some(why) = &note.reason {
        tracing::info!(reason = %why, "test cases not stored; the run keeps its counts");
    }
    update_run(deps, run.id.get(), |r| {
        r.test_cases = Some(note.clone());
        Ok(())
    })
    .await
}

fn counts_only(reason: String) -> TestCasesNote {
    TestCasesNote {
        stored: 0,
        in_report: 0,
        source: None,
        reason: Some(excerpt(&reason)),
    }
}

/// What the mail says changed since the previous comparable run; `None` without stored
/// cases or an earlier run to compare with. A failure here costs the section, not the mail.
pub(crate) async fn changes_for_mail(deps: &Deps, run: &Run) -> Option<TestChanges> {
    if run.test_cases.as_ref().is_none_or(|n| n.stored == 0) {
        return None;
    }
    match test_results::compare(deps, run, None).await {
        Ok(c) => {
            let previous = c.with_run_id?;
            Some(TestChanges::new(
                previous,
                c.diff.new_failures,
                c.counts.new_failures,
                c.counts.fixed,
                c.counts.still_failing,
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no comparison with the previous run for the mail");
            None
        }
    }
}
