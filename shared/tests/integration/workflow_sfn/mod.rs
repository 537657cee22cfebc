//! The Step Functions workflow adapter.
//!
//! - `mapping`, `arns`: the pure parts (history → execution events + current state,
//!   state machine ARN → execution ARN) on hand-built SDK values. Always run.
//! - `on_moto`: StartExecution / DescribeExecution / GetExecutionHistory / StopExecution
//!   against moto (`CRAT_TEST_DYNAMODB_ENDPOINT`, set by `make test`: moto serves every
//!   service on one port). By default moto does not run executions: they stay RUNNING
//!   with a canned history.
//! - `on_moto_interpreter`: a moto of its own (started by the test on a free port, so the
//!   shared one keeps its default) with `execute_state_machine` on, which really runs a
//!   Pass/Wait/Succeed definition.
//!
//! Without `CRAT_TEST_DYNAMODB_ENDPOINT` the moto tests skip, unless
//! `CRAT_REQUIRE_DYNAMODB=1` (set by `make test`), which turns that into a failure.

use aws_sdk_sfn::primitives::DateTime as SdkDateTime;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::{Value, json};
use shared::tasks::ErrorName;
use shared::workflow::sfn::{MappedHistory, execution_arn, map_history};
use shared::workflow::{ExecutionEvent, StepFunctionsWorkflow, WorkflowError, WorkflowStarter};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/crat";

fn moto_endpoint() -> Option<String> {
    let Ok(endpoint) = std::env::var("CRAT_TEST_DYNAMODB_ENDPOINT") else {
        assert!(
            std::env::var("CRAT_REQUIRE_DYNAMODB").is_err(),
            "CRAT_REQUIRE_DYNAMODB is set but CRAT_TEST_DYNAMODB_ENDPOINT is not"
        );
        eprintln!("skipped: CRAT_TEST_DYNAMODB_ENDPOINT is not set (make test sets it)");
        return None;
    };
    Some(endpoint)
}

async fn sfn_client(endpoint: &str, region: &'static str) -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_sfn::Client::new(&config)
}

/// A state machine with a unique name; returns its ARN.
async fn create_state_machine(client: &aws_sdk_sfn::Client, definition: &str) -> String {
    client
        .create_state_machine()
        .name(format!("crat-test-{}", uuid::Uuid::new_v4()))
        .definition(definition)
        .role_arn(ROLE_ARN)
        .send()
        .await
        .expect("CreateStateMachine on moto")
        .state_machine_arn()
        .to_owned()
}

/// `statemachine/deploy_test.asl.json` with every `${Var}` replaced by a fake Lambda ARN.
fn deploy_test_definition() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/deploy_test.asl.json"
    );
    let mut text = std::fs::read_to_string(path).unwrap();
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').unwrap();
        let var = text[start + 2..end].to_owned();
        text.replace_range(
            start..=end,
            &format!("arn:aws:lambda:us-east-1:123456789012:function:crat-{var}"),
        );
    }
    serde_json::from_str::<Value>(&text).expect("substituted definition is JSON");
    text
}

fn types(events: &[ExecutionEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn states(events: &[ExecutionEvent]) -> Vec<Option<&str>> {
    events.iter().map(|e| e.state.as_deref()).collect()
}

mod arns;

mod mapping;

mod on_moto;

mod on_moto_interpreter;
