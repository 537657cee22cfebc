//! Conformance checks for per-run test cases, a test's history and an item's flaky tests.

use std::sync::Arc;

use chrono::TimeDelta;
use shared::domain::test_case::{
    MAX_CASES_PER_RUN, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_SUITE_DEPTH,
};
use shared::domain::{EnvironmentId, FlakyReason, FlakyTest, Run, TestCase, TestId, TestStatus};
use shared::ports::Store;

use super::runs::run;
use super::t0;

fn case(id: &str, status: TestStatus) -> TestCase {
    TestCase {
        id: TestId::parse("id", id).unwrap(),
        name: format!("test {id}"),
        suite: vec!["api".into(), "login".into()],
        status,
        duration_ms: Some(12),
        message: status.is_failure().then(|| format!("{id}: assert 1 == 2")),
        full_name: Some(format!("tests.test_api#{id}")),
        flaky: false,
        retries: 0,
    }
}

fn ended(id: i64, item_id: i64) -> Run {
    let mut r = run(id, item_id);
    r.finished_at = Some(t0() + TimeDelta::minutes(id));
    r
}

/// Every case of `run_id` read page by page (`limit` a page), only `status` when given.
async fn every_page(
    store: &Arc<dyn Store>,
    run_id: i64,
    status: Option<TestStatus>,
    limit: usize,
) -> Vec<TestCase> {
    let (mut out, mut after) = (Vec::new(), None::<TestId>);
    loop {
        let page = store
            .list_test_cases(run_id, status, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.items.len() <= limit);
        out.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn statuses(i: usize) -> TestStatus {
    TestStatus::ALL[i % TestStatus::ALL.len()]
}

pub async fn test_cases_round_trip_every_field(store: Arc<dyn Store>) {
    let r = ended(7, 1);
    let mut cjk = case("b2", TestStatus::Broken);
    cjk.name = "登录 失败 ✓".into();
    cjk.suite = vec!["接口".into(), "ログイン".into()];
    cjk.message = Some("断言失败: 期望 1".into());
    cjk.flaky = true;
    cjk.retries = 3;
    let bare = TestCase {
        id: TestId::parse("id", "a1").unwrap(),
        name: "bare".into(),
        suite: vec![],
        status: TestStatus::Unknown,
        duration_ms: None,
        message: None,
        full_name: None,
        flaky: false,
        retries: 0,
    };
    let passed = case("c3", TestStatus::Passed);
    store
        .put_test_cases(&r, &[passed.clone(), cjk.clone(), bare.clone()])
        .await
        .unwrap();
    let in_order = vec![bare.clone(), cjk.clone(), passed.clone()];
    assert_eq!(store.all_test_cases(7).await.unwrap(), in_order);
    let page = store.list_test_cases(7, None, None, 20).await.unwrap();
    assert_eq!((page.items, page.next), (in_order, None));
    let broken = store
        .list_test_cases(7, Some(TestStatus::Broken), None, 20)
        .await
        .unwrap();
    assert_eq!(broken.items, vec![cjk]);
    let none = store
        .list_test_cases(7, Some(TestStatus::Skipped), None, 20)
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
    // An unknown run has no cases and no history.
    assert!(store.all_test_cases(8).await.unwrap().is_empty());
    assert!(
        store
            .list_test_cases(8, None, None, 20)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let history = store.test_history(2, &passed.id, None, 20).await.unwrap();
    assert!(history.items.is_empty() && history.next.is_none());
}

pub async fn test_case_pages_visit_every_case_once(store: Arc<dyn Store>) {
    let cases: Vec<_> = (0..45)
        .map(|i| case(&format!("t{i:03}"), statuses(i)))
        .collect();
    store.put_test_cases(&ended(3, 1), &cases).await.unwrap();
    assert_eq!(every_page(&store, 3, None, 7).await, cases);
    for status in TestStatus::ALL {
        let want: Vec<_> = cases
            .iter()
            .filter(|c| c.status == status)
            .cloned()
            .collect();
        assert_eq!(
            every_page(&store, 3, Some(status), 2).await,
            want,
            "{status:?}"
        );
    }
}

pub async fn replacing_test_cases_leaves_no_leftovers(store: Arc<dyn Store>) {
    let r = ended(5, 1);
    let first: Vec<_> = (0..30)
        .map(|i| case(&format!("t{i:03}"), TestStatus::Failed))
        .collect();
    store.put_test_cases(&r, &first).await.unwrap();
    let second: Vec<_> = (20..25)
        .map(|i| case(&format!("t{i:03}"), TestStatus::Passed))
        .collect();
    store.put_test_cases(&r, &second).await.unwrap();
    assert_eq!(store.all_test_cases(5).await.unwrap(), second);
    assert_eq!(every_page(&store, 5, None, 3).await, second);
    assert!(
        every_page(&store, 5, Some(TestStatus::Failed), 3)
            .await
            .is_empty()
    );
    let gone = TestId::parse("id", "t001").unwrap();
    let history = store.test_history(1, &gone, None, 10).await.unwrap();
    assert!(history.items.is_empty(), "{:?}", history.items);
    let kept = store
        .test_history(1, &second[0].id, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 1);
    assert_eq!(kept.items[0].status, TestStatus::Passed);
}

/// The most cases a run keeps, with long names, read back whole.
pub async fn the_most_cases_a_run_keeps_round_trip(store: Arc<dyn Store>) {
    let cases: Vec<_> = (0..MAX_CASES_PER_RUN)
        .map(|i| {
            let mut c = case(&format!("{i:032x}"), statuses(i));
            c.name = format!("test_{i}_{}", "n".repeat(120));
            c
        })
        .collect();
    let r = ended(9, 1);
    store.put_test_cases(&r, &cases).await.unwrap();
    let back = store.all_test_cases(9).await.unwrap();
    assert_eq!(back.len(), cases.len());
    assert!(back == cases, "every case reads back equal, in id order");
    let last = store
        .list_test_cases(9, None, Some(&cases[MAX_CASES_PER_RUN - 2].id), 5)
        .await
        .unwrap();
    assert_eq!(last.items, cases[MAX_CASES_PER_RUN - 1..]);
    // A case at every bound fits too.
    let mut widest = case("w", TestStatus::Broken);
    widest.name = "界".repeat(MAX_NAME_CHARS);
    widest.full_name = Some("界".repeat(MAX_NAME_CHARS));
    widest.suite = vec!["界".repeat(MAX_NAME_CHARS); MAX_SUITE_DEPTH];
    widest.message = Some("界".repeat(MAX_MESSAGE_CHARS));
    let wide: Vec<_> = (0..60)
        .map(|i| TestCase {
            id: TestId::parse("id", &format!("w{i:02}")).unwrap(),
            ..widest.clone()
        })
        .collect();
    store.put_test_cases(&ended(10, 1), &wide).await.unwrap();
    assert_eq!(store.all_test_cases(10).await.unwrap(), wide);
}

pub async fn test_history_is_newest_first_paged_and_of_its_item_only(store: Arc<dyn Store>) {
    let x = case("x", TestStatus::Failed);
    for (id, item, status) in [
        (1, 1, TestStatus::Passed),
        (2, 1, TestStatus::Failed),
        (3, 2, TestStatus::Broken),
        (4, 1, TestStatus::Skipped),
    ] {
        let mut r = ended(id, item);
        if id == 4 {
            r.environment_id = Some(EnvironmentId::from_stored(6));
            r.finished_at = None;
        }
        let c = TestCase {
            status,
            ..x.clone()
        };
        store.put_test_cases(&r, &[c]).await.unwrap();
    }
    let first = store.test_history(1, &x.id, None, 2).await.unwrap();
    let got: Vec<_> = first.items.iter().map(|h| (h.run_id, h.status)).collect();
    assert_eq!(got, [(4, TestStatus::Skipped), (2, TestStatus::Failed)]);
    assert_eq!(first.next, Some(2));
    let h = &first.items[0];
    assert_eq!(h.environment_id, Some(EnvironmentId::from_stored(6)));
    assert_eq!(h.finished_at, None);
    let r2 = ended(2, 1);
    let h = &first.items[1];
    assert_eq!(
        (h.job_name.clone(), h.build_number, h.parameter_set_id),
        (
            r2.build.job_name.clone(),
            r2.build.build_number,
            r2.parameter_set_id.get()
        )
    );
    assert_eq!(h.parameter_set_version, r2.parameter_set_version);
    assert_eq!((h.duration_ms, h.finished_at), (Some(12), r2.finished_at));
    assert_eq!(h.message.as_deref(), Some("x: assert 1 == 2"));
    let rest = store.test_history(1, &x.id, first.next, 2).await.unwrap();
    let got: Vec<_> = rest.items.iter().map(|h| h.run_id).collect();
    assert_eq!((got, rest.next), (vec![1], None));
    let other = store.test_history(2, &x.id, None, 10).await.unwrap();
    assert_eq!(other.items.len(), 1);
    assert_eq!(other.items[0].run_id, 3);
}

fn flaky(id: &str, minutes: i64, passed: u64) -> FlakyTest {
    FlakyTest {
        id: TestId::parse("id", id).unwrap(),
        name: format!("测试 {id}"),
        reason: FlakyReason::Mixed,
        passed,
        failed: 1,
        last_run_id: minutes,
        last_seen_at: t0() + TimeDelta::minutes(minutes),
    }
}

pub async fn flaky_tests_are_replaced_by_id_and_listed_most_recent_first(store: Arc<dyn Store>) {
    assert!(store.list_flaky_tests(1, 10).await.unwrap().is_empty());
    store
        .put_flaky_tests(1, &[flaky("a", 1, 1), flaky("b", 2, 1), flaky("c", 2, 1)])
        .await
        .unwrap();
    store.put_flaky_tests(2, &[flaky("z", 9, 1)]).await.unwrap();
    let mut again = flaky("a", 3, 4);
    again.reason = FlakyReason::Report;
    store.put_flaky_tests(1, &[again.clone()]).await.unwrap();
    let listed = store.list_flaky_tests(1, 10).await.unwrap();
    assert_eq!(listed, vec![again, flaky("b", 2, 1), flaky("c", 2, 1)]);
    assert_eq!(store.list_flaky_tests(1, 2).await.unwrap().len(), 2);
    assert_eq!(
        store.list_flaky_tests(2, 10).await.unwrap(),
        vec![flaky("z", 9, 1)]
    );
}
