#![allow(clippy::unwrap_used)]
//! The conformance suite on DynamoDB, against a real DynamoDB-compatible server (moto).
//! `make test` starts moto and sets `CRAT_TEST_DYNAMODB_ENDPOINT`; each test gets its own
//! table. Without the variable the tests skip, unless `CRAT_REQUIRE_DYNAMODB=1` (set by
//! `make test`), which turns a missing server into a failure.

mod conformance;

use std::sync::Arc;

use shared::adapters::DynamoStore;
use shared::ports::Store;

async fn fresh_store() -> Option<Arc<dyn Store>> {
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
            "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
        );
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return None;
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let table = format!("crat-test-{}", uuid::Uuid::new_v4());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    Some(Arc::new(store))
}

conformance_tests!(fresh_store());

#[tokio::test]
async fn executions_stored_with_inline_history_stay_readable_and_move_out_on_save() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use statemachine::{ExecutionStore, HistoryPage};
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return;
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("crat-test-{}", uuid::Uuid::new_v4());
    let store = DynamoStore::new(client.clone(), table.clone());
    store.create_table_if_missing().await.unwrap();
    // GIVEN a record written before history was kept apart: events inline
    let legacy = serde_json::json!({
        "execution_id": "run-7", "status": "RUNNING", "current_state": "Download",
        "input": {"run_id": 7}, "output": null, "error": null, "cause": null,
        "started_at": "2026-11-25T10:00:00Z", "stopped_at": null,
        "events": [
            {"id": 1, "type": "ExecutionStarted", "timestamp": "2026-11-25T10:00:00Z"},
            {"id": 2, "type": "TaskStateEntered", "state": "Download", "timestamp": "2026-11-25T10:00:00Z"}
        ],
        "cursor": {"state": "Download", "input": {"run_id": 7}, "entered_at": "2026-11-25T10:00:00Z",
                   "retries": [], "pending": {"kind": "RUN"}}
    });
    let s = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&table)
        .item("PK", s("EXEC#run-7"))
        .item("SK", s("EXEC"))
        .item("record_json", s(&legacy.to_string()))
        .item("GSI1PK", s("EXECS_RUNNING"))
        .item("GSI1SK", s("run-7"))
        .send()
        .await
        .unwrap();
    // THEN it is listed as running and its history pages read
    let running = store.list_running_executions().await.unwrap();
    assert_eq!(running.len(), 1);
    let page = store
        .load_history(
            "run-7",
            HistoryPage {
                after: None,
                limit: 1,
                newest_first: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, 2);
    // WHEN the executor saves it next (it adopts the inline events and appends them)
    let mut record = running[0].clone();
    assert!(record.adopt_inline_events());
    let events = std::mem::take(&mut record.events);
    store.save_execution(&record, &events).await.unwrap();
    // THEN the record no longer holds them and the history is unchanged
    let item = client
        .get_item()
        .table_name(&table)
        .key("PK", s("EXEC#run-7"))
        .key("SK", s("EXEC"))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let json = item["record_json"].as_s().unwrap();
    assert!(!json.contains("ExecutionStarted"), "{json}");
    let all = store
        .load_history("run-7", HistoryPage::first(10))
        .await
        .unwrap();
    assert_eq!(all, events);
}
