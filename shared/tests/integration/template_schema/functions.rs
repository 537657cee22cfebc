//! The Lambda functions: every crate deployed with its log group, and timeouts that fit.

use super::*;
use crate::cfn_template;
use cfn_template::{Yaml, function_crate, load_template, resource, resources_of_type};
use std::collections::BTreeSet;

#[test]
fn every_lambda_crate_is_deployed_with_its_own_log_group() {
    let template = load_template();
    let crates = lambda_crates();
    assert!(
        crates.len() >= 15,
        "members read from Cargo.toml: {crates:?}"
    );
    let deployed: BTreeSet<&str> = functions(&template)
        .iter()
        .map(|(_, f)| function_crate(f))
        .collect();
    let expected: BTreeSet<&str> = crates.iter().map(String::as_str).collect();
    assert_eq!(
        deployed, expected,
        "one function per Lambda crate (workspace members under functions/, but local)"
    );

    assert_eq!(
        template.str_at(&["Globals", "Function", "Runtime"]),
        "provided.al2023"
    );
    assert_eq!(
        template.str_at(&["Globals", "Function", "Handler"]),
        "bootstrap"
    );
    let architectures = template
        .at(&["Globals", "Function", "Architectures"])
        .as_seq();
    assert_eq!(architectures.len(), 1);
    assert_eq!(architectures[0].ref_target(), Some("Architecture"));

    let mut groups_used = BTreeSet::new();
    for (id, f) in functions(&template) {
        let props = f.at(&["Properties"]);
        for inherited in ["Runtime", "Handler", "Architectures"] {
            assert!(
                props.get(inherited).is_none(),
                "{id}: {inherited} comes from Globals"
            );
        }
        let group = props
            .at(&["LoggingConfig", "LogGroup"])
            .ref_target()
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup must be a !Ref"));
        assert_eq!(
            resource(&template, group).str_at(&["Type"]),
            "AWS::Logs::LogGroup",
            "{id}"
        );
        assert!(
            groups_used.insert(group),
            "{id}: {group} is another function's log group"
        );
    }
    for (id, group) in resources_of_type(&template, "AWS::Logs::LogGroup") {
        assert_eq!(
            group.at(&["Properties", "RetentionInDays"]).ref_target(),
            Some("LogRetentionDays"),
            "{id}: every log group has the retention"
        );
    }
    assert_eq!(
        template.str_at(&["Parameters", "LogRetentionDays", "Default"]),
        "14"
    );
}

/// A function's Timeout must outlast the outbound calls inside it at the settings' limits
/// (else Lambda kills it mid-call and the task's own error is lost).
#[test]
fn task_functions_outlast_their_outbound_calls() {
    use shared::domain::timing;
    let template = load_template();
    let timeout_of = |crate_name: &str| {
        let (_, f) = function_of(&template, crate_name);
        timeout_seconds(&template, f)
    };
    let request = u64::from(timing::MAX_POLL_REQUEST_TIMEOUT_SECONDS);
    // trigger: one POST of up to poll_request_timeout_seconds, then saving the task id
    // with its retries' pauses, plus store writes.
    assert!(
        timeout_of("trigger") >= request + timing::TRIGGER_PERSIST_BUDGET_SECONDS + 20,
        "trigger: {}",
        timeout_of("trigger")
    );
    // poll: one GET of up to poll_request_timeout_seconds, plus store writes.
    assert!(
        timeout_of("poll") >= request + 20,
        "poll: {}",
        timeout_of("poll")
    );
    // notify: the summary reads' budget and one SMTP delivery's, plus store writes.
    let notify =
        u64::from(timing::NOTIFY_SUMMARY_BUDGET_SECONDS + timing::SMTP_SEND_BUDGET_SECONDS);
    assert!(
        timeout_of("notify") >= notify + 30,
        "notify: {}",
        timeout_of("notify")
    );
    for crate_name in ["download", "trigger", "poll", "finalize", "notify"] {
        assert!(
            timeout_of(crate_name) <= 900,
            "{crate_name}: Lambda's limit is 900 s"
        );
    }
}

#[test]
fn http_functions_answer_within_api_gateway_s_timeout() {
    let template = load_template();
    for (id, f) in functions(&template) {
        let http = f
            .at(&["Properties"])
            .get("Events")
            .map(|events| {
                events
                    .entries()
                    .iter()
                    .any(|(_, e)| e.get("Type").and_then(Yaml::as_str) == Some("HttpApi"))
            })
            .unwrap_or(false);
        if http {
            assert!(
                timeout_seconds(&template, f) <= 29,
                "{id}: an HTTP API integration gives up after 30 s"
            );
        }
    }
}

/// Issue 12: a Lambda builds (and links) the mailer and the Step Functions client only when
/// its main names them (`shared::lambda::init_deps().mailer()`, `.step_functions()`), and it
/// names them exactly where the template gives it the variable they read: a function
/// deployed with `STATE_MACHINE_ARN` but not naming `.step_functions()` would answer
/// "not configured"; one naming it without the variable would carry the client for nothing.
#[test]
fn mains_name_the_mailer_and_step_functions_exactly_where_the_template_configures_them() {
    let template = load_template();
    let globals = global_env(&template);
    for var in ["STATE_MACHINE_ARN", "EMAIL_SEND_SERVER"] {
        assert!(
            !globals.contains_key(var),
            "{var} is set per function, not globally"
        );
    }
    for crate_name in lambda_crates() {
        let main = main_rs(&crate_name);
        let (id, function) = function_of(&template, &crate_name);
        let vars = env(function);
        for (call, var) in [
            (".step_functions()", "STATE_MACHINE_ARN"),
            (".mailer()", "EMAIL_SEND_SERVER"),
        ] {
            assert_eq!(
                main.contains(call),
                vars.contains_key(var),
                "{crate_name} ({id}): its main names `{call}` exactly when the template sets {var}"
            );
        }
    }
}
