//! Secrets only from Secrets Manager, to every function whose `main` needs them.

use super::*;
use crate::cfn_template;
use cfn_template::{Yaml, load_template};

/// A secret's value: its dynamic reference, or `!If [cond, <that>, !Ref AWS::NoValue]`.
fn assert_secret_value(owner: &str, key: &str, value: &Yaml) {
    let expected = format!("{{{{resolve:secretsmanager:${{SecretName}}:SecretString:{key}}}}}");
    match value.as_tag() {
        Some(("!Sub", inner)) => {
            assert_eq!(inner.as_str(), Some(expected.as_str()), "{owner}: {key}")
        }
        Some(("!If", args)) => {
            let args = args.as_seq();
            assert_eq!(args.len(), 3, "{owner}: {key}");
            for branch in &args[1..] {
                if branch.ref_target() != Some("AWS::NoValue") {
                    assert_secret_value(owner, key, branch);
                }
            }
        }
        _ => panic!("{owner}: {key} must be a Secrets Manager dynamic reference, got {value:?}"),
    }
}

#[test]
fn secrets_come_only_from_secrets_manager() {
    let template = load_template();
    for (name, parameter) in template.at(&["Parameters"]).entries() {
        assert!(
            parameter.get("NoEcho").is_none(),
            "{name}: no secret parameters"
        );
        let lower = name.to_ascii_lowercase();
        assert!(
            !(lower.ends_with("password") || lower.ends_with("passwd") || lower.ends_with("token")),
            "{name}: secrets are not parameters"
        );
    }
    assert!(
        SECRETS
            .iter()
            .all(|k| !global_env(&template).contains_key(k)),
        "secrets are given per function, never in Globals"
    );

    for crate_name in lambda_crates() {
        let (id, f) = function_of(&template, &crate_name);
        let vars = env(f);
        for (key, value) in &vars {
            if SECRETS.contains(key) {
                assert_secret_value(id, key, value);
            }
        }
        let main = main_rs(&crate_name);
        let reads_config = main.contains("shared::lambda::init_deps()");
        let table_policy = policies(f).iter().any(|p| {
            ["DynamoDBCrudPolicy", "DynamoDBReadPolicy"]
                .iter()
                .any(|k| p.get(k).is_some())
        });
        if reads_config {
            for key in REQUIRED_SECRETS {
                assert!(
                    vars.contains_key(key),
                    "{id}: {key} is required under Lambda"
                );
            }
            assert!(table_policy, "{id}: its store is the table");
        } else {
            assert!(
                SECRETS.iter().all(|k| !vars.contains_key(k)) && !table_policy,
                "{id}: its main reads no configuration, so it gets no secrets and no table access"
            );
        }
        // The webhook token is the builds function's alone.
        assert_eq!(
            vars.contains_key("WEBHOOK_TOKEN"),
            crate_name == "builds",
            "{id}: WEBHOOK_TOKEN"
        );
        // Mail settings go where mail is sent: the functions whose main builds a mailer
        // (notify; the sweeper and deploy-runs' lane release mail failed runs).
        let sends_mail = crate_sources(&crate_name).contains(".mailer()");
        for key in MAIL_VARS {
            assert_eq!(vars.contains_key(key), sends_mail, "{id}: {key}");
        }
    }
}
