//! State machine ARN → execution ARN.

use super::*;

#[test]
fn execution_arn_replaces_the_state_machine_segment_and_appends_the_id() {
    for (state_machine, expected) in [
        (
            "arn:aws:states:us-east-1:123456789012:stateMachine:crat-deploy-test",
            "arn:aws:states:us-east-1:123456789012:execution:crat-deploy-test:run-42",
        ),
        (
            "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m",
            "arn:aws-cn:states:cn-north-1:123456789012:execution:m:run-42",
        ),
        (
            "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:m",
            "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:m:run-42",
        ),
        // A version or alias ARN: executions are still named after the state machine.
        (
            "arn:aws:states:eu-west-1:123456789012:stateMachine:m:3",
            "arn:aws:states:eu-west-1:123456789012:execution:m:run-42",
        ),
        (
            "arn:aws:states:eu-west-1:123456789012:stateMachine:m:live",
            "arn:aws:states:eu-west-1:123456789012:execution:m:run-42",
        ),
    ] {
        assert_eq!(
            execution_arn(state_machine, "run-42").as_deref(),
            Ok(expected),
            "{state_machine}"
        );
    }
}

#[test]
fn anything_but_a_state_machine_arn_is_refused() {
    for bad in [
        "",
        "crat-deploy-test",
        "arn:aws:states:us-east-1:123456789012:stateMachine:",
        "arn:aws:states:us-east-1:123456789012:stateMachine",
        "arn:aws:states:us-east-1:123456789012:execution:m:run-1",
        "arn:aws:states:us-east-1:123456789012:activity:m",
        "arn:aws:lambda:us-east-1:123456789012:stateMachine:m",
        "arn:aws:states::123456789012:stateMachine:m",
        "arn:aws:states:us-east-1:123456789012:stateMachine:m:1:extra",
        "arn:aws:states:us-east-1:123456789012:stateMachine:m:",
    ] {
        let err = execution_arn(bad, "run-1").unwrap_err();
        assert!(err.contains("not a state machine ARN"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn a_bad_state_machine_arn_is_a_configuration_error_naming_the_variable() {
    let client = sfn_client("http://127.0.0.1:9", "us-east-1").await;
    let Err(err) = StepFunctionsWorkflow::new(client, "crat-deploy-test") else {
        panic!("accepted a state machine name as an ARN");
    };
    assert_eq!(err.var, "STATE_MACHINE_ARN");
    assert!(
        err.to_string()
            .starts_with("configuration: STATE_MACHINE_ARN:"),
        "{err}"
    );
}
