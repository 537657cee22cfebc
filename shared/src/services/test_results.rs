//! Test-case results of runs: recording a run's cases (and what they say of flakiness),
//! the comparison with an earlier run, and the reads behind the test routes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ServiceError, ServiceResult};
use crate::deps::Deps;
use crate::domain::test_case::MAX_CASES_PER_RUN;
use crate::domain::{
    FlakyReason, FlakyTest, MAX_FLAKY_LISTED, Run, RunId, RunStatus, TestCase, TestCasesNote,
    TestDiff, TestId, TestItemId, TestResultOfRun, TestStatus, test_case,
};
use crate::http::encode_cursor;
use crate::ports::Page;

/// The most entries each list of a comparison holds (its count is the full number).
pub const MAX_DIFF_LISTED: usize = 1000;
/// How far back (runs of the item, newest first) the earlier runs are looked for.
const MAX_RUNS_SCANNED: usize = 200;
/// The most other runs of the same build and version a recording compares with.
const FLAKY_RUNS_COMPARED: usize = 20;
const RUNS_PER_READ: usize = 50;

/// The full size of each list of a [`TestDiff`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiffCounts {
    pub new_failures: u64,
    pub fixed: u64,
    pub still_failing: u64,
    pub new_tests: u64,
    pub removed_tests: u64,
}

impl DiffCounts {
    fn of(diff: &TestDiff) -> Self {
        let n = |l: &Vec<_>| l.len() as u64;
        Self {
            new_failures: n(&diff.new_failures),
            fixed: n(&diff.fixed),
            still_failing: n(&diff.still_failing),
            new_tests: n(&diff.new_tests),
            removed_tests: n(&diff.removed_tests),
        }
    }
}

/// A run's cases compared with an earlier run's (`with_run_id`; `null`: none to compare with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Comparison {
    pub run_id: i64,
    pub with_run_id: Option<i64>,
    pub counts: DiffCounts,
    /// Each list at most 1000 entries.
    pub diff: TestDiff,
}

/// Stores `run`'s cases (replacing any stored before) and records which of them are flaky
/// in its item: marked so by the report, or both passed and failed/broken across this run
/// and up to 20 other completed runs of the same build and parameter-set version.
/// More than [`MAX_CASES_PER_RUN`] cases are refused (`too_many_cases`): the report
/// reader keeps only the counts of such a run.
pub async fn record(deps: &Deps, run: &Run, cases: &[TestCase]) -> ServiceResult<()> {
    if cases.len() > MAX_CASES_PER_RUN {
        return Err(ServiceError::Unprocessable {
            code: "too_many_cases",
            message: format!(
                "run {}: {} test cases, more than the {MAX_CASES_PER_RUN} a run keeps; keep its counts only",
                run.id,
                cases.len()
            ),
        });
    }
    deps.store.put_test_cases(run, cases).await?;
    let mut tally: HashMap<&TestId, (u64, u64)> = HashMap::with_capacity(cases.len());
    for case in cases {
        let counts = tally.entry(&case.id).or_default();
        count(counts, case.status);
    }
    for other in same_build_runs(deps, run).await? {
        for case in deps.store.all_test_cases(other.id.get()).await? {
            if let Some(counts) = tally.get_mut(&case.id) {
                count(counts, case.status);
            }
        }
    }
    let seen_at = run.finished_at.unwrap_or_else(|| deps.clock.now());
    let flaky: Vec<FlakyTest> = cases
        .iter()
        .filter_map(|case| {
            let (passed, failed) = tally[&case.id];
            let reason = if passed > 0 && failed > 0 {
                FlakyReason::Mixed
            } else if case.flaky {
                FlakyReason::Report
            } else {
                return None;
            };
            Some(FlakyTest {
                id: case.id.clone(),
                name: case.name.clone(),
                reason,
                passed,
                failed,
                last_run_id: run.id.get(),
                last_seen_at: seen_at,
            })
        })
        .collect();
    if !flaky.is_empty() {
        deps.store
            .put_flaky_tests(run.test_item_id.get(), &flaky)
            .await?;
    }
    Ok(())
}

fn count(counts: &mut (u64, u64), status: TestStatus) {
    if status == TestStatus::Passed {
        counts.0 += 1;
    } else if status.is_failure() {
        counts.1 += 1;
    }
}

/// The item's COMPLETED runs with stored cases, newest first (among its
/// [`MAX_RUNS_SCANNED`] runs older than `before`, or its newest), that pass `keep`: at
/// most `want` of them, never `run` itself.
async fn scan_runs(
    deps: &Deps,
    run: &Run,
    before: Option<i64>,
    want: usize,
    keep: impl Fn(&Run) -> bool,
) -> ServiceResult<Vec<Run>> {
    let mut found = Vec::new();
    let (mut cursor, mut scanned) = (before, 0);
    while scanned < MAX_RUNS_SCANNED && found.len() < want {
        let page = deps
            .store
            .list_runs_of_item(run.test_item_id.get(), cursor, RUNS_PER_READ)
            .await?;
        for other in page.items {
            scanned += 1;
            let candidate =
                other.id != run.id && other.status == RunStatus::Completed && keep(&other);
            if candidate && has_cases(deps, &other).await? {
                found.push(other);
                if found.len() == want {
                    break;
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// Whether cases are stored for `run`: its note says so; a run without a note (an older
/// version's, or cases stored directly) is asked of the store.
async fn has_cases(deps: &Deps, run: &Run) -> ServiceResult<bool> {
    match &run.test_cases {
        Some(note) => Ok(note.stored > 0),
        None => Ok(!deps
            .store
            .list_test_cases(run.id.get(), None, None, 1)
            .await?
            .items
            .is_empty()),
    }
}

async fn same_build_runs(deps: &Deps, run: &Run) -> ServiceResult<Vec<Run>> {
    scan_runs(deps, run, None, FLAKY_RUNS_COMPARED, |other| {
        other.build_info_id == run.build_info_id
            && other.parameter_set_id == run.parameter_set_id
            && other.parameter_set_version == run.parameter_set_version
    })
    .await
}

/// The newest COMPLETED run of the same test item and environment older than `run` with
/// stored cases (looked for among the item's 200 runs before it). A re-run of only the
/// failures ran part of the suite, so it is no baseline: the tests it left out would read
/// as new.
pub async fn previous_comparable_run(deps: &Deps, run: &Run) -> ServiceResult<Option<Run>> {
    let found = scan_runs(deps, run, Some(run.id.get()), 1, |other| {
        other.environment_id == run.environment_id && other.test_plan.is_none()
    })
    .await?;
    Ok(found.into_iter().next())
}

/// `run`'s cases compared with `with`'s (`None`: the previous comparable run). When there
/// is none, `with_run_id` is null; when either side has no stored cases, the diff is empty
/// (each run's `test_cases` note says why).
pub async fn compare(deps: &Deps, run: &Run, with: Option<&Run>) -> ServiceResult<Comparison> {
    let other = match with {
        Some(w) => Some(w.clone()),
        None => previous_comparable_run(deps, run).await?,
    };
    let mut comparison = Comparison {
        run_id: run.id.get(),
        with_run_id: other.as_ref().map(|o| o.id.get()),
        counts: DiffCounts::default(),
        diff: TestDiff::default(),
    };
    let Some(other) = other else {
        return Ok(comparison);
    };
    let now = deps.store.all_test_cases(run.id.get()).await?;
    if now.is_empty() {
        return Ok(comparison);
    }
    let before = deps.store.all_test_cases(other.id.get()).await?;
    if before.is_empty() {
        return Ok(comparison);
    }
    let mut diff = test_case::compare(&before, &now);
    if run.test_plan.is_some() {
        // It ran only the planned tests: the others were not removed.
        diff.removed_tests.clear();
    }
    comparison.counts = DiffCounts::of(&diff);
    for list in [
        &mut diff.new_failures,
        &mut diff.fixed,
        &mut diff.still_failing,
        &mut diff.new_tests,
        &mut diff.removed_tests,
    ] {
        list.truncate(MAX_DIFF_LISTED);
    }
    comparison.diff = diff;
    Ok(comparison)
}

async fn find_run(deps: &Deps, field: Option<&str>, id: RunId) -> ServiceResult<Run> {
    deps.store
        .get_run(id.get())
        .await?
        .ok_or_else(|| match field {
            Some(f) => ServiceError::NotFound(format!("{f}: no run with id {id}")),
            None => ServiceError::no_such("run", id),
        })
}

async fn ensure_item(deps: &Deps, id: TestItemId) -> ServiceResult<()> {
    match deps.store.get_test_item(id.get()).await? {
        Some(_) => Ok(()),
        None => Err(ServiceError::no_such("test item", id)),
    }
}

/// `GET /deploy-test-runs/{id}/compare?with=`: 404 for an unknown run or `with`.
pub async fn compare_runs(
    deps: &Deps,
    run_id: RunId,
    with: Option<RunId>,
) -> ServiceResult<Comparison> {
    let run = find_run(deps, None, run_id).await?;
    let with = match with {
        Some(id) => Some(find_run(deps, Some("with"), id).await?),
        None => None,
    };
    compare(deps, &run, with.as_ref()).await
}

/// A page of a run's cases, and its note (why it has none, when it has none).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestCasesPage {
    pub items: Vec<TestCase>,
    pub next_cursor: Option<String>,
    pub test_cases: Option<TestCasesNote>,
}

/// `GET /deploy-test-runs/{id}/tests`: in id order, after `after`, only `status` when given.
pub async fn list_cases(
    deps: &Deps,
    run_id: RunId,
    status: Option<TestStatus>,
    after: Option<&TestId>,
    limit: usize,
) -> ServiceResult<TestCasesPage> {
    let run = find_run(deps, None, run_id).await?;
    let page = deps
        .store
        .list_test_cases(run_id.get(), status, after, limit)
        .await?;
    Ok(TestCasesPage {
        items: page.items,
        next_cursor: page.next.map(|id| encode_cursor(id.as_str())),
        test_cases: run.test_cases,
    })
}

/// `GET /test-items/{id}/flaky`: the most recently seen first, at most 1000.
pub async fn flaky(deps: &Deps, item_id: TestItemId) -> ServiceResult<Vec<FlakyTest>> {
    ensure_item(deps, item_id).await?;
    Ok(deps
        .store
        .list_flaky_tests(item_id.get(), MAX_FLAKY_LISTED)
        .await?)
}

/// `GET /test-items/{id}/tests/{test_id}/history`: newest run first, older than `before_run`.
pub async fn history(
    deps: &Deps,
    item_id: TestItemId,
    test: &TestId,
    before_run: Option<i64>,
    limit: usize,
) -> ServiceResult<Page<TestResultOfRun, i64>> {
    ensure_item(deps, item_id).await?;
    Ok(deps
        .store
        .test_history(item_id.get(), test, before_run, limit)
        .await?)
}
