//! The two hosts of every scenario: the cloud one (moto's Step Functions running the deployed
//! definition, the task functions under cargo lambda watch, their DynamoDB table) and the
//! embedded one (the local server's executor on a table of its own), seeded alike.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::Deps;
use shared::adapters::DynamoStore;
use shared::clock::SystemClock;
use shared::config::{Config, Host};
use shared::domain::Run;
use shared::services::lanes::AdmittedRun;
use shared::services::{builds, parameter_sets, runs, settings, test_items};
use shared::workflow::{ExecutionView, StepFunctionsWorkflow, WorkflowStarter};

use super::*;

pub(super) struct Env {
    endpoint: String,
    table: String,
    /// The functions' STATE_MACHINE_ARN: the test creates that machine.
    state_machine_arn: String,
}

pub(super) fn cloud_env() -> Option<Env> {
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
    let state_machine_arn = std::env::var("CRAT_CLOUD_STATE_MACHINE_ARN")
        .expect("CRAT_CLOUD_STATE_MACHINE_ARN with CRAT_CLOUD_ENDPOINT");
    // The Step Functions client is built from the environment (the adapter's own
    // `from_env`, as in Lambda), so it must point at the same moto.
    assert_eq!(
        std::env::var("AWS_ENDPOINT_URL").ok().as_deref(),
        Some(endpoint.as_str()),
        "AWS_ENDPOINT_URL must be CRAT_CLOUD_ENDPOINT (the Step Functions client reads it)"
    );
    Some(Env {
        endpoint,
        table,
        state_machine_arn,
    })
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

/// The state machine `arn` names (the one the functions' STATE_MACHINE_ARN names, so
/// Finalize starts a lane's next run on it), created on moto; its workflow adapter.
async fn create_state_machine(arn: &str) -> StepFunctionsWorkflow {
    let name = arn
        .rsplit_once(":stateMachine:")
        .map(|(_, name)| name)
        .unwrap_or_else(|| panic!("not a state machine ARN: {arn}"));
    let workflow = StepFunctionsWorkflow::from_env(arn).await.unwrap();
    let created = workflow
        .client()
        .create_state_machine()
        .name(name)
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
pub(super) struct Side {
    pub(super) label: &'static str,
    pub(super) state: Deps,
    /// The embedded side's host: it owns the executor `state.workflow` reaches.
    _local: Option<local::Local>,
    pub(super) item_id: i64,
    pub(super) builds: (i64, i64),
    _dir: tempfile::TempDir,
}

impl Side {
    /// Triggers a run of `cds` on `build_id` for `user` exactly as the API does (queued
    /// when the lane is busy).
    pub(super) async fn trigger(&self, build_id: i64, user: &str) -> AdmittedRun {
        runs::trigger(
            &self.state,
            &shared::domain::Email::parse("user", user).unwrap(),
            shared::domain::TestItemId::from_stored(self.item_id),
            serde_json::from_value(json!({"build_info_id": build_id})).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: trigger: {e}", self.label))
    }

    /// Triggers a run of `cds` on `build_id`; waits for its execution to stop and for the
    /// run to end; the lane is then free. Returns the run, the execution, seconds.
    pub(super) async fn run(&self, build_id: i64) -> (Run, ExecutionView, f64) {
        let t = Instant::now();
        let run = self.trigger(build_id, USER).await;
        let ended = self.wait_until_ended(&run, t).await;
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
        ended
    }

    /// Waits for `run`'s execution (perhaps not started yet: a queued run's) to stop and
    /// for the run to end. Returns the run, the execution, seconds since `t`.
    pub(super) async fn wait_until_ended(
        &self,
        run: &Run,
        t: Instant,
    ) -> (Run, ExecutionView, f64) {
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
            // A queued run's execution is started by the run before it when that one ends
            // (seconds here): one that never starts fails now, not at EXECUTION_LIMIT.
            assert!(
                view.is_some()
                    || (t.elapsed() < QUEUED_START_LIMIT && !stored.status.is_terminal()),
                "{}: execution {} never started; run: {}",
                self.label,
                run.execution_id,
                serde_json::to_string(&stored).unwrap()
            );
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
        (stored, exec, secs)
    }
}

/// Starts both hosts on fresh tables of the same moto, seeded alike, using the same peers.
pub(super) async fn hosts(env: &Env, peers: &Peers) -> (Side, Side) {
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
        .bind(Arc::new(create_state_machine(&env.state_machine_arn).await))
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
