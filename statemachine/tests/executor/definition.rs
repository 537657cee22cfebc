//! Parsing refuses what the executor cannot run; lint finds what would break at runtime.

use crate::common;

use std::collections::{BTreeSet, HashMap};

use common::error_name::ErrorName;
use serde_json::{Value, json};
use statemachine::{Definition, DefinitionError};

fn parse(definition: Value) -> Result<Definition, DefinitionError> {
    Definition::parse(&definition.to_string(), &HashMap::new())
}

fn refusal(definition: Value) -> String {
    parse(definition).unwrap_err().to_string()
}

fn with_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}})
}

#[test]
fn deploy_test_definition_parses_and_lints_clean() {
    let definition = common::deploy_test();
    assert_eq!(definition.lint(), Vec::<String>::new());
    assert_eq!(definition.start_at(), "Download");
    assert_eq!(definition.timeout_seconds(), Some(180_000));
    assert_eq!(
        definition.task_resources(),
        BTreeSet::from(["download", "trigger", "poll", "finalize", "notify"].map(String::from))
    );
    assert_eq!(
        definition.error_names(),
        BTreeSet::from(
            [
                ErrorName::MailTransient.as_str(),
                ErrorName::StoreBusy.as_str(),
                ErrorName::Transient.as_str(),
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.ServiceException",
                "Lambda.TooManyRequestsException",
                "States.ALL",
            ]
            .map(String::from)
        )
    );
}

#[test]
fn substitution_vars_lists_the_placeholders() {
    assert_eq!(
        Definition::substitution_vars(common::DEPLOY_TEST),
        BTreeSet::from(
            [
                "DownloadFunctionArn",
                "TriggerFunctionArn",
                "PollFunctionArn",
                "FinalizeFunctionArn",
                "NotifyFunctionArn"
            ]
            .map(String::from)
        )
    );
}

#[test]
fn missing_substitution_is_refused_by_name() {
    let mut substitutions = common::substitutions();
    substitutions.remove("PollFunctionArn");
    let err = Definition::parse(common::DEPLOY_TEST, &substitutions).unwrap_err();
    assert_eq!(
        err,
        DefinitionError::MissingSubstitution("PollFunctionArn".to_string())
    );
}

#[test]
fn map_and_parallel_states_are_refused() {
    for kind in ["Map", "Parallel"] {
        let err = refusal(with_state(json!({"Type": kind, "Next": "Done"})));
        assert!(err.contains("States.S.Type") && err.contains(kind), "{err}");
    }
}

#[test]
fn unknown_fields_are_refused_naming_state_and_field() {
    let err = refusal(with_state(
        json!({"Type": "Task", "Resource": "r", "HeartbeatSeconds": 5, "Next": "Done"}),
    ));
    assert!(err.starts_with("States.S.HeartbeatSeconds:"), "{err}");
    let err = refusal(with_state(
        json!({"Type": "Pass", "Colour": "red", "Next": "Done"}),
    ));
    assert!(err.contains("States.S.Colour"), "{err}");
    let err = refusal(
        json!({"StartAt": "S", "QueryLanguage": "JSONata", "States": {"S": {"Type": "Succeed"}}}),
    );
    assert!(err.contains("QueryLanguage"), "{err}");
    let err = refusal(with_state(json!({
        "Type": "Task", "Resource": "r", "Next": "Done",
        "Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "FULL"}]
    })));
    assert!(err.contains("States.S.Retry[0].JitterStrategy"), "{err}");
}

#[test]
fn unknown_choice_operator_is_refused() {
    let err = refusal(with_state(json!({
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "StringContains": "a", "Next": "Done"}],
        "Default": "Done"
    })));
    assert!(
        err.contains("States.S.Choices[0].StringContains") && err.contains("unsupported"),
        "{err}"
    );
}

#[test]
fn intrinsic_functions_are_refused() {
    let err = refusal(with_state(json!({
        "Type": "Task", "Resource": "r", "Next": "Done",
        "Parameters": {"msg.$": "States.Format('run {}', $.run_id)"}
    })));
    assert!(
        err.contains("States.S.Parameters.msg.$") && err.contains("intrinsic"),
        "{err}"
    );
}

#[test]
fn unsupported_paths_are_refused() {
    let err = refusal(with_state(
        json!({"Type": "Pass", "InputPath": "$..a", "Next": "Done"}),
    ));
    assert!(err.contains("States.S.InputPath"), "{err}");
    let err = refusal(with_state(
        json!({"Type": "Pass", "ResultPath": "$$.Execution", "Next": "Done"}),
    ));
    assert!(err.contains("States.S.ResultPath"), "{err}");
}

#[test]
fn malformed_states_are_refused() {
    let cases = [
        json!({"Type": "Task", "Resource": "r"}),
        json!({"Type": "Task", "Resource": "r", "Next": "Done", "End": true}),
        json!({"Type": "Task", "Next": "Done"}),
        json!({"Type": "Wait", "Next": "Done"}),
        json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "Next": "Done"}),
        json!({"Type": "Choice", "Choices": []}),
        json!({"Type": "Succeed", "Next": "Done"}),
        json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}),
        json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retry": [{"ErrorEquals": []}]}),
        json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}),
        json!({"Type": "Task", "Resource": "r", "Next": "Done", "TimeoutSeconds": 0}),
    ];
    for state in cases {
        assert!(
            parse(with_state(state.clone())).is_err(),
            "{state} should be refused"
        );
    }
    assert!(matches!(
        Definition::parse("{not json", &HashMap::new()),
        Err(DefinitionError::Json(_))
    ));
}

#[test]
fn lint_reports_missing_targets() {
    let definition = parse(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "r", "Next": "Nowhere",
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Lost"}]},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "A"}], "Default": "Gone"}
        }
    }))
    .unwrap();
    let problems = definition.lint().join("\n");
    for missing in ["'Nowhere'", "'Lost'", "'Gone'"] {
        assert!(problems.contains(missing), "{problems}");
    }
    assert!(
        problems.contains("no state ends the execution"),
        "{problems}"
    );
}

#[test]
fn lint_reports_unreachable_states_and_a_missing_start() {
    let definition = parse(json!({
        "StartAt": "A",
        "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Pass", "End": true}}
    }))
    .unwrap();
    assert_eq!(
        definition.lint(),
        ["state 'Orphan' is not reachable from StartAt 'A'"]
    );
    let definition = parse(json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}})).unwrap();
    assert!(definition.lint().iter().any(|p| p.contains("StartAt 'Z'")));
}
