//! A run's test cases on DynamoDB, item by item: the most cases a run keeps stay in chunk
//! items far below the 400 KB cap, a replace leaves none of the old items behind, and what
//! a 20,000-case run writes (the README's cost figure comes from this test's output).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::test_case::MAX_CASES_PER_RUN;
use shared::domain::{TestCase, TestId, TestStatus};
use shared::ports::TestCaseStore;

use crate::conformance::runs::run;
use crate::store_dynamodb::{RawDynamo, fresh_dynamo};

type Item = HashMap<String, AttributeValue>;

async fn every_item(raw: &RawDynamo) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = raw
            .client
            .scan()
            .table_name(&raw.table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return items,
        }
    }
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    item[name].as_s().unwrap()
}

/// An item's size as DynamoDB bills it: attribute names and string values, numbers as text.
fn size(item: &Item) -> usize {
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                    _ => 1,
                }
        })
        .sum()
}

fn case(i: usize) -> TestCase {
    let status = TestStatus::ALL[i % TestStatus::ALL.len()];
    TestCase {
        id: TestId::from_history_id(&format!("{:032x}", i * 7919)),
        name: format!("test_login_{i}[chrome-{}]", "x".repeat(40)),
        suite: vec!["tests".into(), "api".into(), "test_login".into()],
        status,
        duration_ms: Some(1234),
        message: status
            .is_failure()
            .then(|| format!("AssertionError: assert 401 == 200 (case {i})")),
        full_name: Some(format!("tests.api.test_login#test_login_{i}")),
        flaky: false,
        retries: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_cases_a_run_keeps_stay_in_small_chunk_items_and_a_replace_leaves_none_behind() {
    let Some((store, raw)) = fresh_dynamo().await else {
        return;
    };
    let r = run(9, 1);
    let cases: Vec<_> = (0..MAX_CASES_PER_RUN).map(case).collect();
    store.put_test_cases(&r, &cases).await.unwrap();

    let items = every_item(&raw).await;
    let chunks: Vec<_> = items
        .iter()
        .filter(|i| text(i, "PK") == "RUN#9" && text(i, "SK").starts_with("TESTS#"))
        .collect();
    let history: Vec<_> = items
        .iter()
        .filter(|i| text(i, "PK").starts_with("TESTHIST#1#"))
        .collect();
    let largest = chunks.iter().map(|i| size(i)).max().unwrap();
    assert!(largest <= 300 * 1024 + 1024, "{largest} bytes");
    assert_eq!(history.len(), MAX_CASES_PER_RUN);
    let wru = |list: &[&Item]| -> usize { list.iter().map(|i| size(i).div_ceil(1024)).sum() };
    let chunk_bytes: usize = chunks.iter().map(|i| size(i)).sum();
    let history_bytes: usize = history.iter().map(|i| size(i)).sum();
    eprintln!(
        "{} cases: {} chunk items ({chunk_bytes} bytes, largest {largest}, {} WRU), {} history items ({history_bytes} bytes, {} WRU), 1 head item",
        cases.len(),
        chunks.len(),
        wru(&chunks),
        history.len(),
        wru(&history),
    );

    // A replace with fewer cases: one new chunk, the head, and only their history.
    let fewer: Vec<_> = cases[..10].to_vec();
    store.put_test_cases(&r, &fewer).await.unwrap();
    let items = every_item(&raw).await;
    let in_run: Vec<_> = items
        .iter()
        .filter(|i| text(i, "PK") == "RUN#9")
        .map(|i| text(i, "SK").split('#').next().unwrap().to_owned())
        .collect();
    assert_eq!(in_run.len(), 2, "{in_run:?}");
    let history = items
        .iter()
        .filter(|i| text(i, "PK").starts_with("TESTHIST#"))
        .count();
    assert_eq!(history, 10);
}
