//! Recording a run's test cases, flakiness, and the comparison with an earlier run.

use chrono::TimeDelta;

use super::{Fixture, email, item_id, refusal, t0};
use crate::domain::{
    Build, EnvironmentId, FlakyReason, ParameterSet, Run, RunId, RunStatus, TestCase,
    TestCasesNote, TestId, TestItem, TestPlan, TestStatus,
};
use crate::ports::Admission;
use crate::services::test_results::{self, MAX_DIFF_LISTED};

use TestStatus::*;

fn case(id: &str, status: TestStatus) -> TestCase {
    TestCase {
        id: TestId::from_history_id(id),
        name: format!("test {id}"),
        suite: vec!["suite".into()],
        status,
        duration_ms: Some(5),
        message: status.is_failure().then(|| format!("{id} went wrong")),
        full_name: Some(format!("tests.test_x#{id}")),
        flaky: false,
        retries: 0,
    }
}

fn note(stored: usize) -> TestCasesNote {
    TestCasesNote {
        stored: stored as u64,
        in_report: stored as u64,
        source: Some("Allure 2 data/suites.json".into()),
        reason: None,
    }
}

struct Item {
    item: TestItem,
    build: Build,
    set: ParameterSet,
}

impl Fixture {
    async fn item_with_build(&self) -> Item {
        let (item, build) = self.ready_item().await;
        let set = self
            .state
            .store
            .default_parameter_set()
            .await
            .unwrap()
            .unwrap();
        Item { item, build, set }
    }

    /// Stores run `id` of `of` as it ends in `status` (holding no lane), with `cases`
    /// recorded (and said so on the run) when given.
    async fn ended_run(
        &self,
        id: i64,
        of: &Item,
        status: RunStatus,
        cases: Option<&[TestCase]>,
    ) -> Run {
        self.ended_run_planned(id, of, status, cases, None).await
    }

    /// [`Self::ended_run`] of a run carrying `plan` (a re-run of only some tests).
    async fn ended_run_planned(
        &self,
        id: i64,
        of: &Item,
        status: RunStatus,
        cases: Option<&[TestCase]>,
        plan: Option<TestPlan>,
    ) -> Run {
        let by = email(&format!("dev{id}@example.com"));
        let mut run = Run::new(
            RunId::from_stored(id),
            &of.item,
            &of.build,
            &of.set,
            &by,
            t0(),
        );
        run.status = status;
        run.finished_at = Some(t0() + TimeDelta::minutes(id));
        run.test_cases = cases.map(|c| note(c.len()));
        run.test_plan = plan;
        let store = &self.state.store;
        let admitted = store.admit_run(&run, false, t0()).await.unwrap();
        assert!(matches!(admitted, Admission::Started), "{admitted:?}");
        store.release_lock_of_run(id).await.unwrap();
        if let Some(cases) = cases {
            test_results::record(&self.state, &run, cases)
                .await
                .unwrap();
        }
        run
    }
}

#[tokio::test]
async fn the_previous_comparable_run_is_the_newest_older_completed_one_of_the_item_and_environment_with_cases()
 {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let other_item = Item {
        item: f.test_item("other", "CDN_CORE").await,
        ..a.clone_shallow()
    };
    let cases = [case("a", Passed)];
    let wanted = f.ended_run(1, &a, RunStatus::Completed, Some(&cases)).await;
    f.ended_run(2, &a, RunStatus::Failed, Some(&cases)).await;
    f.ended_run(3, &a, RunStatus::Completed, Some(&[])).await;
    f.ended_run(4, &a, RunStatus::Completed, None).await;
    let mut on_other_env = a.clone_shallow();
    on_other_env.item.environment_id = Some(EnvironmentId::from_stored(9));
    f.ended_run(5, &on_other_env, RunStatus::Completed, Some(&cases))
        .await;
    f.ended_run(6, &other_item, RunStatus::Completed, Some(&cases))
        .await;
    let run = f.ended_run(7, &a, RunStatus::Completed, Some(&cases)).await;
    f.ended_run(8, &a, RunStatus::Completed, Some(&cases)).await;

    let previous = test_results::previous_comparable_run(&f.state, &run)
        .await
        .unwrap();
    assert_eq!(previous.map(|r| r.id), Some(wanted.id));
    let first = f.state.store.get_run(1).await.unwrap().unwrap();
    let none = test_results::previous_comparable_run(&f.state, &first)
        .await
        .unwrap();
    assert_eq!(none, None);
}

impl Item {
    fn clone_shallow(&self) -> Item {
        Item {
            item: self.item.clone(),
            build: self.build.clone(),
            set: self.set.clone(),
        }
    }
}

#[tokio::test]
async fn compare_says_what_broke_what_was_fixed_and_what_still_fails() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let before = [case("a", Passed), case("b", Failed), case("c", Broken)];
    let now = [case("a", Failed), case("b", Passed), case("c", Failed)];
    f.ended_run(1, &a, RunStatus::Completed, Some(&before))
        .await;
    let run = f.ended_run(2, &a, RunStatus::Completed, Some(&now)).await;

    let got = test_results::compare_runs(&f.state, run.id, None)
        .await
        .unwrap();
    assert_eq!(got.run_id, 2);
    assert_eq!(got.with_run_id, Some(1));
    let ids =
        |l: &[crate::domain::TestChange]| l.iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&got.diff.new_failures), ["a"]);
    assert_eq!(ids(&got.diff.fixed), ["b"]);
    assert_eq!(ids(&got.diff.still_failing), ["c"]);
    assert_eq!(
        got.diff.new_failures[0].message.as_deref(),
        Some("a went wrong")
    );
    assert_eq!(
        (
            got.counts.new_failures,
            got.counts.fixed,
            got.counts.still_failing
        ),
        (1, 1, 1)
    );
    assert_eq!((got.counts.new_tests, got.counts.removed_tests), (0, 0));
}

#[tokio::test]
async fn compare_with_a_named_run_of_another_item_is_allowed_but_it_must_exist() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let b = Item {
        item: f.test_item("other", "CDN_CORE").await,
        ..a.clone_shallow()
    };
    f.ended_run(1, &b, RunStatus::Completed, Some(&[case("x", Passed)]))
        .await;
    let run = f
        .ended_run(2, &a, RunStatus::Completed, Some(&[case("x", Broken)]))
        .await;

    let got = test_results::compare_runs(&f.state, run.id, Some(RunId::from_stored(1)))
        .await
        .unwrap();
    assert_eq!(got.with_run_id, Some(1));
    assert_eq!(got.counts.new_failures, 1);
    // Without `with`, run 1 (another item) is no candidate.
    let alone = test_results::compare_runs(&f.state, run.id, None)
        .await
        .unwrap();
    assert_eq!(alone.with_run_id, None);
    assert_eq!(alone.counts, Default::default());

    let missing =
        refusal(test_results::compare_runs(&f.state, run.id, Some(RunId::from_stored(99))).await);
    assert_eq!(missing.status.as_u16(), 404);
    let unknown = refusal(test_results::compare_runs(&f.state, RunId::from_stored(98), None).await);
    assert_eq!(unknown.status.as_u16(), 404);
}

#[tokio::test]
async fn compare_lists_at_most_a_thousand_of_each_but_counts_them_all() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let before: Vec<_> = (0..1500)
        .map(|i| case(&format!("t{i:04}"), Passed))
        .collect();
    let now: Vec<_> = (0..1500)
        .map(|i| case(&format!("t{i:04}"), Failed))
        .collect();
    f.ended_run(1, &a, RunStatus::Completed, Some(&before))
        .await;
    let run = f.ended_run(2, &a, RunStatus::Completed, Some(&now)).await;
    let got = test_results::compare(&f.state, &run, None).await.unwrap();
    assert_eq!(got.counts.new_failures, 1500);
    assert_eq!(got.diff.new_failures.len(), MAX_DIFF_LISTED);
}

#[tokio::test]
async fn a_run_without_stored_cases_lists_none_with_its_note_and_compares_empty() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    f.ended_run(1, &a, RunStatus::Completed, Some(&[case("x", Passed)]))
        .await;
    let mut run = f.ended_run(2, &a, RunStatus::Completed, None).await;
    run.test_cases = Some(TestCasesNote {
        stored: 0,
        in_report: 0,
        source: None,
        reason: Some("no case files in the report".into()),
    });
    run.revision += 1;
    f.state.store.update_run(&run).await.unwrap();

    let page = test_results::list_cases(&f.state, run.id, None, None, 20)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    assert_eq!(page.test_cases, run.test_cases);
    let got = test_results::compare(&f.state, &run, None).await.unwrap();
    assert_eq!(got.with_run_id, Some(1));
    assert_eq!(got.counts, Default::default());
    assert!(
        got.diff.removed_tests.is_empty(),
        "no cases is not 'all removed'"
    );
}

#[tokio::test]
async fn a_test_that_passed_and_failed_on_the_same_build_and_version_is_flaky() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let mut marked = case("m", Passed);
    marked.flaky = true;
    f.ended_run(
        1,
        &a,
        RunStatus::Completed,
        Some(&[case("x", Passed), case("y", Failed)]),
    )
    .await;
    // Another build: its results say nothing of this build's flakiness.
    let other_build = Item {
        build: f.build("CDN_CORE", 102).await,
        ..a.clone_shallow()
    };
    // Nor does another version of the parameter set.
    let mut other_version = a.clone_shallow();
    other_version.set.version += 1;
    f.ended_run(
        4,
        &other_version,
        RunStatus::Completed,
        Some(&[case("y", Passed)]),
    )
    .await;
    f.ended_run(
        2,
        &other_build,
        RunStatus::Completed,
        Some(&[case("y", Passed)]),
    )
    .await;
    f.ended_run(
        3,
        &a,
        RunStatus::Completed,
        Some(&[case("x", Broken), case("y", Failed), marked]),
    )
    .await;

    let flaky = test_results::flaky(&f.state, item_id(&a.item))
        .await
        .unwrap();
    let got: Vec<_> = flaky
        .iter()
        .map(|t| {
            (
                t.id.to_string(),
                t.reason,
                t.passed,
                t.failed,
                t.last_run_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("m".to_owned(), FlakyReason::Report, 1, 0, 3),
            ("x".to_owned(), FlakyReason::Mixed, 1, 1, 3),
        ]
    );
    assert_eq!(flaky[1].last_seen_at, t0() + TimeDelta::minutes(3));
    let unknown =
        refusal(test_results::flaky(&f.state, crate::domain::TestItemId::from_stored(99)).await);
    assert_eq!(unknown.status.as_u16(), 404);
}

#[tokio::test]
async fn recording_again_replaces_the_cases_and_history_reads_newest_first() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    f.ended_run(1, &a, RunStatus::Completed, Some(&[case("x", Passed)]))
        .await;
    let run = f
        .ended_run(
            2,
            &a,
            RunStatus::Completed,
            Some(&[case("x", Failed), case("z", Passed)]),
        )
        .await;
    test_results::record(&f.state, &run, &[case("x", Broken)])
        .await
        .unwrap();
    let all = f.state.store.all_test_cases(2).await.unwrap();
    assert_eq!(all, [case("x", Broken)]);

    let x = TestId::parse("test_id", "x").unwrap();
    let page = test_results::history(&f.state, item_id(&a.item), &x, None, 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!((page.items[0].run_id, page.items[0].status), (2, Broken));
    assert_eq!(page.next, Some(2));
    let rest = test_results::history(&f.state, item_id(&a.item), &x, page.next, 1)
        .await
        .unwrap();
    assert_eq!((rest.items[0].run_id, rest.items[0].status), (1, Passed));
    assert_eq!(rest.next, None);
    let unknown = refusal(
        test_results::history(
            &f.state,
            crate::domain::TestItemId::from_stored(99),
            &x,
            None,
            5,
        )
        .await,
    );
    assert_eq!(unknown.status.as_u16(), 404);
}

#[tokio::test]
async fn a_rerun_of_only_the_failures_is_no_baseline_and_removes_no_test() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let full = [case("a", Passed), case("b", Failed), case("c", Broken)];
    f.ended_run(1, &a, RunStatus::Completed, Some(&full)).await;
    let failures = [case("b", Passed), case("c", Failed)];
    let plan = TestPlan::of_failures(1, &full).unwrap();
    let partial = f
        .ended_run_planned(2, &a, RunStatus::Completed, Some(&failures), Some(plan))
        .await;
    let next = f.ended_run(3, &a, RunStatus::Completed, Some(&full)).await;

    // The run after it compares with the last run of the whole suite, not the partial one
    // (whose missing tests would read as new).
    let previous = test_results::previous_comparable_run(&f.state, &next)
        .await
        .unwrap();
    assert_eq!(previous.map(|r| r.id.get()), Some(1));
    // The partial run's own diff: what it ran changed; the tests it did not run are not
    // "removed".
    let got = test_results::compare(&f.state, &partial, None)
        .await
        .unwrap();
    assert_eq!(got.with_run_id, Some(1));
    assert_eq!(got.counts.fixed, 1);
    assert_eq!(got.counts.still_failing, 1);
    assert_eq!(got.counts.removed_tests, 0);
    assert!(got.diff.removed_tests.is_empty());
}

#[tokio::test]
async fn more_cases_than_a_run_keeps_are_refused_and_nothing_is_stored() {
    let f = Fixture::new();
    let a = f.item_with_build().await;
    let run = f.ended_run(1, &a, RunStatus::Completed, None).await;
    let cases: Vec<_> = (0..=crate::domain::test_case::MAX_CASES_PER_RUN)
        .map(|i| case(&format!("t{i:05}"), Passed))
        .collect();
    let refused = refusal(test_results::record(&f.state, &run, &cases).await);
    assert_eq!(
        (refused.status.as_u16(), refused.code.as_str()),
        (422, "too_many_cases")
    );
    assert!(f.state.store.all_test_cases(1).await.unwrap().is_empty());
}
