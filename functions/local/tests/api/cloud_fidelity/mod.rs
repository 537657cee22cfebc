//! Cloud fidelity: the deploy-test definition run by a THIRD-PARTY Step Functions
//! interpreter (moto's, execution switched on) with its Task states invoking the REAL
//! task function binaries (download, trigger, poll, finalize, notify under
//! `cargo lambda watch`, reached through `scripts/lambda_proxy.py`), on moto's DynamoDB,
//! against the development peers — and the same scenario run by the embedded executor
//! (`local::assemble`) on the same kind of store, with the same peers and the same
//! configuration. Both must leave the same run record (step names, statuses, error
//! names, messages, package facts, notification), visit the same states and end with
//! the same execution status and error name.
//!
//! The servers are started by `scripts/cloud-fidelity.sh` (`make test-cloud`), which sets:
//!   CRAT_CLOUD_ENDPOINT   moto (DynamoDB and Step Functions), also exported as AWS_ENDPOINT_URL
//!   CRAT_CLOUD_TABLE      the DynamoDB table the functions under cargo lambda watch use
//!   CRAT_REQUIRE_CLOUD=1  so the test cannot skip
//! Without CRAT_CLOUD_ENDPOINT (a plain `cargo test`) the test skips.
//!
//! Here: the environment, the two hosts and the scenario; `compare` holds what must agree.

use crate::common;
use shared::workflow::WorkflowStarter;

use shared::tasks::ErrorName;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peers::Peers;
use serde_json::json;
use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use shared::domain::Run;
use shared::services::{builds, parameter_sets, runs, settings, test_items};
use shared::workflow::{ExecutionView, StepFunctionsWorkflow};

/// The secrets the functions under cargo lambda watch get (the script passes the same).
mod compare;
use compare::*;

const JWT_SECRET: &str = "cloud-fidelity-jwt-secret-that-is-long-enough-0123456789";
const ADMIN_PASSWD: &str = "cloud-fidelity-admin-password";
const LAMBDA_ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:123456789012:function:";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/crat-deploy-test";

const PKG_DIR: &str = "CDN/pass/20250613-master-abc/el7";
const PKG_FILE: &str = "cds-1.0.0-abc.x86_64.tar.gz";
/// A build whose folder has no `cds` package (only another service's).
const MISSING_DIR: &str = "CDN/pass/20250614-master-def/el7";
const USER: &str = "dev@example.com";

/// How long one execution may take on moto (a healthy one takes seconds).
const EXECUTION_LIMIT: Duration = Duration::from_secs(180);

struct Env {
    endpoint: String,
    table: String,
}

fn cloud_env() -> Option<Env> {
    let endpoint = match std::env::var("CRAT_CLOUD_ENDPOINT") {
        Ok(e) => e,
        Err(_) => {
            assert!(
                std::env::var("CRAT_REQUIRE_CLOUD").is_err(),
                "CRAT_REQUIRE_CLOUD is set but CRAT_CLOUD_ENDPOINT is not"
            );
            eprintln!(
                "skipped: CRAT_CLOUD_ENDPOINT is not set (scripts/cloud-fidelity.sh, `make test-cloud`, sets it)"
            );
            return None;
        }
    };
    let table =
        std::env::var("CRAT_CLOUD_TABLE").expect("CRAT_CLOUD_TABLE with CRAT_CLOUD_ENDPOINT");
    // The Step Functions client is built from the environment (the adapter's own
    // `from_env`, as in Lambda), so it must point at the same moto.
    assert_eq!(
        std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
        Some(endpoint.as_str()),
        "AWS_ENDPOINT_URL must be CRAT_CLOUD_ENDPOINT (the Step Functions client reads it)"
    );
    Some(Env { endpoint, table })
}

async fn dynamo_store(endpoint: &str, table: &str) -> DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    store
        .create_table_if_missing()
        .await
        .expect("create table on moto");
    store
}

/// The configuration the task functions have under cargo lambda watch (Lambda host, no
/// SMTP: the mail is SKIPPED on both sides).
fn lambda_config(table: &str, data_dir: &std::path::Path) -> Config {
    let vars: HashMap<String, String> = [
        ("CRAT_STORE", "dynamodb"),
        ("DYNAMODB_TABLE", table),
        ("JWT_SECRET", JWT_SECRET),
        ("ADMIN_PASSWD", ADMIN_PASSWD),
        ("CRAT_PUBLIC_URL", "http://crat.example.com"),
        ("CRAT_DATA_DIR", data_dir.to_str().unwrap()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Config::from_vars(Host::Lambda, &vars).unwrap()
}

/// `statemachine/deploy_test.asl.json` with every `${XFunctionArn}` replaced by the ARN
/// of the function `x` (what the SAM template's DefinitionSubstitutions give).
fn cloud_definition() -> String {
    let mut text = local::workflow::DEFINITION.to_owned();
    for task in local::workflow::LOCAL_TASKS {
        let function = task.resource.strip_prefix("local:").unwrap();
        text = text.replace(
            &format!("${{{}}}", task.variable),
            &format!("{LAMBDA_ARN_PREFIX}{function}"),
        );
    }
    assert!(!text.contains("${"), "unsubstituted variable left: {text}");
    text
}

/// A fresh state machine on moto; its workflow adapter (`StepFunctionsWorkflow`).
async fn create_state_machine() -> StepFunctionsWorkflow {
    let name = format!(
        "crat-deploy-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let arn = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}");
    let workflow = StepFunctionsWorkflow::from_env(&arn).await.unwrap();
    let created = workflow
        .client()
        .create_state_machine()
        .name(&name)
        .definition(cloud_definition())
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStateMachine on moto: {e:?}"));
    assert_eq!(created.state_machine_arn(), arn);
    workflow
}

/// Seeds a store with what `deploy_flow/` posts to the API, through the services behind
/// it (settings, parameter set, test item `cds` for CDN_CORE, builds 101 and 102);
/// returns the item and the two builds.
async fn seed(state: &Deps, peers: &Peers) -> (i64, i64, i64) {
    settings::patch(
        state,
        "admin@example.com",
        &json!({"package_download_base_url": format!("{}/", peers.packages.url),
            "external_test_server_url": peers.test_server.url, "poll_interval_seconds": 1,
            "max_monitor_seconds": 1200, "poll_request_timeout_seconds": 2}),
    )
    .await
    .unwrap();
    let body =
        json!({"name": "base", "params": {"install_dir": "/opt/cdn", "upgrade_type": "full"}});
    parameter_sets::create(
        state,
        "admin@example.com",
        serde_json::from_value(body).unwrap(),
    )
    .await
    .unwrap();
    let item = test_items::create(
        state,
        serde_json::from_value(json!({"name": "cds", "job_name": "CDN_CORE"})).unwrap(),
    )
    .await
    .unwrap();
    let mut build_ids = Vec::new();
    for (number, dir) in [("101", PKG_DIR), ("102", MISSING_DIR)] {
        let (build, created) = builds::record_build(
            state,
            &json!({"BUILD_USER": "jenkins", "JOB_NAME": "CDN_CORE", "PACKAGE_PATH": dir, "BUILD_NUMBER": number}),
        )
        .await
        .unwrap();
        assert!(created);
        build_ids.push(build.id);
    }
    (item.id, build_ids[0], build_ids[1])
}

/// One host: a store with its own table, the state the API would have, and the workflow.
struct Side {
    label: &'static str,
    state: Deps,
    /// The embedded side's host: it owns the executor `state.workflow` reaches.
    _local: Option<local::Local>,
    item_id: i64,
    builds: (i64, i64),
    _dir: tempfile::TempDir,
}

impl Side {
    /// Triggers a run of `cds` on `build_id` exactly as the API does; waits for its
    /// execution to stop and for the run to end. Returns the run, the execution, seconds.
    async fn run(&self, build_id: i64) -> (Run, ExecutionView, f64) {
        let t = Instant::now();
        let run = runs::trigger(
            &self.state,
            &shared::domain::Email::parse("user", USER).unwrap(),
            shared::domain::TestItemId::from_stored(self.item_id),
            serde_json::from_value(json!({"build_info_id": build_id})).unwrap(),
        )
        .await
        .unwrap();
        let exec = loop {
            let view = self
                .state
                .workflow
                .describe(&run.execution_id)
                .await
                .unwrap_or_else(|e| panic!("{}: describe {}: {e}", self.label, run.execution_id));
            if let Some(v) = &view {
                if v.status != "RUNNING" {
                    break v.clone();
                }
                // moto's default: executions never run (canned history, no state entered).
                assert!(
                    t.elapsed() < Duration::from_secs(30)
                        || v.events
                            .iter()
                            .any(|e| e.event_type.ends_with("StateEntered")),
                    "{}: execution {} entered no state in 30 s: is moto's \
                     stepfunctions.execute_state_machine on? {v:?}",
                    self.label,
                    run.execution_id
                );
            }
            let stored = self
                .state
                .store
                .get_run(run.id.get())
                .await
                .unwrap()
                .unwrap();
            assert!(
                t.elapsed() < EXECUTION_LIMIT,
                "{}: execution {} still running after {EXECUTION_LIMIT:?}; run: {}",
                self.label,
                run.execution_id,
                serde_json::to_string(&stored).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let secs = t.elapsed().as_secs_f64();
        let stored = self
            .state
            .store
            .get_run(run.id.get())
            .await
            .unwrap()
            .unwrap();
        assert!(
            stored.status.is_terminal(),
            "{}: execution {} ended {} but the run is {}: {}",
            self.label,
            run.execution_id,
            exec.status,
            stored.status.as_str(),
            serde_json::to_string(&stored).unwrap()
        );
        assert!(
            self.state
                .store
                .get_run_lock(&Default::default())
                .await
                .unwrap()
                .is_none(),
            "{}: the run lock is released",
            self.label
        );
        (stored, exec, secs)
    }
}

/// Starts both hosts on fresh tables of the same moto, seeded alike, using the same peers.
async fn hosts(env: &Env, peers: &Peers) -> (Side, Side) {
    // Cloud: the table the functions under cargo lambda watch read; the workflow is moto's
    // Step Functions through the production adapter.
    let dir = tempfile::tempdir().unwrap();
    let store = dynamo_store(&env.endpoint, &env.table).await;
    let state = Deps::new(
        lambda_config(&env.table, dir.path()),
        Arc::new(store),
        Arc::new(SystemClock),
    )
    .unwrap();
    state
        .workflow
        .bind(Arc::new(create_state_machine().await))
        .unwrap();
    let (item_id, b1, b2) = seed(&state, peers).await;
    let cloud = Side {
        label: "moto Step Functions + Lambda binaries",
        state,
        _local: None,
        item_id,
        builds: (b1, b2),
        _dir: dir,
    };

    // Embedded: its own table, same configuration, the embedded executor in-process at
    // real speed (time scale 1, like Step Functions).
    let dir = tempfile::tempdir().unwrap();
    let table = format!("{}-embedded", env.table);
    let store = dynamo_store(&env.endpoint, &table).await;
    let mut deps = Deps::new(
        lambda_config(&table, dir.path()),
        Arc::new(store),
        Arc::new(SystemClock),
    )
    .unwrap();
    // A Lambda-host configuration stages packages in the temp folder's `crat/`, which the
    // cloud side's download function (same machine) clears of leftovers: the embedded side
    // stages in its own folder, as the local server does in its data folder.
    deps.work_dir = dir.path().to_path_buf();
    let local = local::assemble_with(deps, None).await.unwrap();
    let (item_id, b1, b2) = seed(&local.deps, peers).await;
    let embedded = Side {
        label: "embedded executor",
        state: local.deps.clone(),
        _local: Some(local),
        item_id,
        builds: (b1, b2),
        _dir: dir,
    };
    assert_eq!(cloud.builds, embedded.builds, "both tables seeded alike");
    (cloud, embedded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moto_step_functions_with_the_lambda_binaries_match_the_embedded_executor() {
    let Some(env) = cloud_env() else {
        return;
    };
    let t0 = Instant::now();
    let peers = Peers::start().await;
    let sha = peers.add_package(PKG_DIR, PKG_FILE);
    peers.add_package(MISSING_DIR, "sds-9.0.0.tar.gz");
    // Long enough for two or three polls at poll_interval_seconds 1, so the
    // CheckPoll → WaitBeforePoll loop runs on both interpreters.
    peers
        .test_control(json!({"pending_seconds": 0.1, "deploy_seconds": 1.2, "test_seconds": 1.2}))
        .await;
    let (cloud, embedded) = hosts(&env, &peers).await;
    println!(
        "setup (peers, tables, seed, state machine): {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Happy path, both hosts at once.
    let (c, e) = tokio::join!(cloud.run(cloud.builds.0), embedded.run(embedded.builds.0));
    assert_same("happy path", &c, &e);
    let run = &c.0;
    assert_eq!(run.status.as_str(), "COMPLETED");
    assert_eq!(
        steps(run),
        [
            ("DOWNLOAD".into(), "SUCCEEDED".into(), None),
            ("TRIGGER".into(), "SUCCEEDED".into(), None),
            ("MONITOR".into(), "SUCCEEDED".into(), None),
            // No SMTP server under Lambda (and none for the embedded side here): skipped.
            ("NOTIFY".into(), "SKIPPED".into(), None),
        ]
    );
    assert_eq!(run.package_sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(
        run.package_url.as_deref(),
        Some(format!("{}/{PKG_DIR}/{PKG_FILE}", peers.packages.url).as_str())
    );
    assert!(run.finished_at.is_some() && run.task_id.is_some());
    assert_eq!(c.1.status, "SUCCEEDED");
    let visited = path(&c.1);
    assert_eq!(
        visited,
        [
            "Download",
            "Trigger",
            "WaitBeforePoll",
            "Poll",
            "CheckPoll",
            "Finalize",
            "Notify",
            "Outcome",
            "Done"
        ],
        "cloud path"
    );
    let polls = |r: &Run| serde_json::to_value(r).unwrap()["steps"][2]["details"]["polls"].as_u64();
    println!(
        "    polls: cloud {:?}, embedded {:?}; Poll entered: cloud {}, embedded {}",
        polls(&c.0),
        polls(&e.0),
        entered(&c.1, "Poll"),
        entered(&e.1, "Poll")
    );
    // The task ran for ~2.5 s at a 1 s poll interval: moto's interpreter went round the
    // CheckPoll → (Default) WaitBeforePoll → Poll loop (SecondsPath wait) more than once.
    assert!(entered(&c.1, "Poll") >= 2, "cloud: {:?}", c.1.events);
    assert_eq!(
        polls(&c.0),
        Some(entered(&c.1, "Poll") as u64),
        "one poll per Poll state"
    );
    // The test server got one task per host, with the same body.
    let tasks = peers.tasks().await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let body_of = |r: &Run| {
        tasks
            .iter()
            .find(|t| t["task_id"].as_str() == r.task_id.as_deref())
            .map(|t| t["body"].clone())
            .unwrap_or_else(|| panic!("no task {:?} on the test server: {tasks:?}", r.task_id))
    };
    assert_eq!(
        body_of(&c.0),
        body_of(&e.0),
        "what each host sent to the test server"
    );

    // Failing scenario: the build's folder has no cds package.
    let (c, e) = tokio::join!(cloud.run(cloud.builds.1), embedded.run(embedded.builds.1));
    assert_same("missing package", &c, &e);
    let run = &c.0;
    assert_eq!(run.status.as_str(), "FAILED");
    assert_eq!(
        steps(run),
        [
            (
                "DOWNLOAD".into(),
                "FAILED".into(),
                Some(ErrorName::PackageNotFound.as_str().into())
            ),
            ("TRIGGER".into(), "SKIPPED".into(), None),
            ("MONITOR".into(), "SKIPPED".into(), None),
            ("NOTIFY".into(), "SKIPPED".into(), None),
        ]
    );
    assert!(
        run.error_message
            .as_deref()
            .is_some_and(|m| m.contains("sds-9.0.0.tar.gz")),
        "{:?}",
        run.error_message
    );
    assert_eq!(
        ending(&c.1),
        ("FAILED".into(), Some(ErrorName::RunFailed.as_str().into()))
    );
    // The Download task's own failure carries the function's error name (from the Lambda
    // error's errorType on moto), caught into Finalize; the Fail state names Crat.RunFailed.
    assert_eq!(
        errors(&c.1),
        [
            (
                Some("Download".into()),
                ErrorName::PackageNotFound.as_str().into()
            ),
            (None, ErrorName::RunFailed.as_str().into())
        ],
        "{:?}",
        c.1.events
    );
    assert_eq!(
        peers.tasks().await.len(),
        2,
        "nothing more sent to the test server"
    );
    println!(
        "cloud fidelity: both scenarios agree ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
}
