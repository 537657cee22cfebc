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
