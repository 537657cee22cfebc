//! `crat export` and `crat import` on the real binary: an embedded data folder exported
//! (to stdout and to a file, byte-identical), imported into DynamoDB (moto) with the
//! counts printed per kind, imported again (nothing created), exported back equal; a file
//! is never overwritten, and a bad line stops the import naming the line and the field.

use crate::common;

use std::path::Path;
use std::process::Output;

use serde_json::json;
use shared::adapters::SqliteStore;
use shared::domain::{NewBuild, Params};
use shared::ports::{BuildStore, ParameterSetStore, SettingsStore};

async fn crat(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_crat"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRAT_DATA_DIR", data_dir)
        .envs(env.iter().copied())
        .current_dir(data_dir.parent().unwrap())
        .args(args)
        .output()
        .await
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A data folder with two builds, a parameter set and changed settings.
async fn seeded(dir: &Path) {
    let store = SqliteStore::open(dir).unwrap();
    for number in [7, 8] {
        let new = NewBuild::from_webhook(&json!({"JOB_NAME": "CDN_CORE",
            "BUILD_NUMBER": number.to_string(), "PACKAGE_PATH": "CDN/pass/x/el7"}))
        .unwrap();
        store.insert_build(&new, common::t0()).await.unwrap();
    }
    let params = Params::parse("params", &json!({"upgrade_type": "full"})).unwrap();
    store
        .create_parameter_set("base", "", &params, "admin", common::t0())
        .await
        .unwrap();
    let (settings, version) = store.get_settings().await.unwrap();
    let changed = settings.patched(&json!({"project_name": "QA"})).unwrap();
    store.put_settings(&changed, version).await.unwrap();
}

#[tokio::test]
async fn export_then_import_into_dynamodb_and_back() {
    let root = tempfile::tempdir().unwrap();
    let source = root.path().join("data");
    seeded(&source).await;

    let to_stdout = crat(&source, &[], &["export"]).await;
    assert!(to_stdout.status.success(), "{}", err(&to_stdout));
    let exported = out(&to_stdout);
    assert_eq!(
        exported.lines().count(),
        5,
        "header, settings, set, 2 builds:\n{exported}"
    );
    assert!(err(&to_stdout).contains("build: 2"), "{}", err(&to_stdout));

    let file = root.path().join("crat.jsonl");
    let file_arg = file.to_str().unwrap();
    let to_file = crat(&source, &[], &["export", file_arg]).await;
    assert!(to_file.status.success(), "{}", err(&to_file));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), exported);
    let again = crat(&source, &[], &["export", file_arg]).await;
    assert!(!again.status.success());
    assert!(err(&again).contains("never overwrites"), "{}", err(&again));

    // Into a fresh embedded folder (no server there), then again: nothing new.
    let target = root.path().join("target");
    let first = crat(&target, &[], &["import", file_arg]).await;
    assert!(first.status.success(), "{}", err(&first));
    assert!(
        out(&first).contains("build: 2 created, 0 replaced, 0 unchanged"),
        "{}",
        out(&first)
    );
    let second = crat(&target, &[], &["import", file_arg]).await;
    assert!(
        out(&second).contains("build: 0 created, 0 replaced, 2 unchanged"),
        "{}",
        out(&second)
    );
    assert_eq!(out(&crat(&target, &[], &["export"]).await), exported);

    // Into DynamoDB, as `CRAT_STORE=dynamodb` selects it.
    if let Some(endpoint) = common::dynamo_endpoint() {
        let table = format!("crat-export-{}", uuid::Uuid::new_v4());
        let env = [
            ("CRAT_STORE", "dynamodb"),
            ("DYNAMODB_TABLE", table.as_str()),
            ("CRAT_CREATE_TABLE", "1"),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ];
        let first = crat(&target, &env, &["import", file_arg]).await;
        assert!(first.status.success(), "{}", err(&first));
        let printed = out(&first);
        assert!(
            printed.contains(&format!("DynamoDB table {table}")),
            "{printed}"
        );
        assert!(printed.contains("parameter_set: 1 created"), "{printed}");
        let second = crat(&target, &env, &["import", file_arg]).await;
        assert!(
            out(&second).contains("build: 0 created, 0 replaced, 2 unchanged"),
            "{}",
            out(&second)
        );
        assert_eq!(out(&crat(&target, &env, &["export"]).await), exported);
    }

    // A bad line: nothing imported, the line and the field named.
    let bad = root.path().join("bad.jsonl");
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replace("\"build_number\":8", "\"build_number\":-8");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let fresh = root.path().join("fresh");
    let refused = crat(&fresh, &[], &["import", bad.to_str().unwrap()]).await;
    assert!(!refused.status.success());
    assert!(
        err(&refused).contains("line 5: build 2: build_number:"),
        "{}",
        err(&refused)
    );
    let empty = crat(&fresh, &[], &["export"]).await;
    assert_eq!(
        empty.stdout.iter().filter(|b| **b == b'\n').count(),
        2,
        "header and default settings only"
    );
}
