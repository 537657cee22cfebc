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
//!   CRAT_CLOUD_STATE_MACHINE_ARN  the state machine the test creates, which the functions'
//!                         STATE_MACHINE_ARN names (Finalize starts a lane's next run there)
//!   CRAT_REQUIRE_CLOUD=1  so the test cannot skip
//! Without CRAT_CLOUD_ENDPOINT (a plain `cargo test`) the test skips.
//!
//! Here: the scenarios happy path and missing package; `hosts` sets up the environment and
//! the two hosts, `queued` is the third scenario (a run queued behind another starts when
//! the first ends, from Finalize), `compare` holds what must agree.

use std::time::{Duration, Instant};

use serde_json::json;
use shared::domain::Run;
use shared::tasks::ErrorName;

use crate::common::peers::Peers;

mod compare;
mod hosts;
mod queued;
use compare::*;
use hosts::*;

/// The secrets the functions under cargo lambda watch get (the script passes the same).
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
/// How long a queued run may wait for its start on moto (the run before it takes seconds).
const QUEUED_START_LIMIT: Duration = Duration::from_secs(60);

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
            "Announce",
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

    // Queued: a second run waits behind the first and is started by the first's Finalize.
    // Shorter tasks than above (the poll loop is covered): the first run still lasts a
    // couple of seconds, far longer than queueing the second takes.
    peers
        .test_control(json!({"pending_seconds": 0.1, "deploy_seconds": 0.4, "test_seconds": 0.4}))
        .await;
    let (first, second) = queued::first_then_queued_on_both(&cloud, &embedded).await;
    assert_eq!(path(&first.1), visited, "queued / first run: cloud path");
    assert_eq!(path(&second.1), visited, "queued / second run: cloud path");
    assert_eq!(
        peers.tasks().await.len(),
        6,
        "each host sent both queued runs to the test server"
    );
    println!(
        "cloud fidelity: all three scenarios agree ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
}
