//! A moto of this test's own with its interpreter on, really running a definition.

use super::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server of this test's own, stopped (by its PID) when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `CRAT_TEST_PYTHON`, else the workspace's `.venv` (what `make test` installs), else `python3`.
fn python() -> String {
    if let Ok(python) = std::env::var("CRAT_TEST_PYTHON") {
        return python;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        venv.to_owned()
    } else {
        "python3".to_owned()
    }
}

async fn start_moto_executing() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/moto_server.py"
        ))
        .args(["127.0.0.1", &port.to_string()])
        .env_remove("MOTO_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto (scripts/moto_server.py)");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http
            .get(format!("{}/moto-api/", moto.endpoint))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "moto did not start on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config = http
        .post(format!("{}/moto-api/config", moto.endpoint))
        .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .unwrap();
    assert!(config.status().is_success(), "{config:?}");
    moto
}

async fn wait_until(
    wf: &StepFunctionsWorkflow,
    id: &str,
    what: &str,
    done: impl Fn(&shared::workflow::ExecutionView) -> bool,
) -> shared::workflow::ExecutionView {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = wf.describe(id).await.unwrap().unwrap();
        if done(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "{what}: {view:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// moto 5.2.1 runs one execution per account and region (a second StartExecution
/// fails inside moto), so each scenario uses its own region.
#[tokio::test]
async fn moto_runs_pass_wait_succeed_to_succeeded_and_stops_a_waiting_execution() {
    if moto_endpoint().is_none() {
        return;
    }
    let moto = start_moto_executing().await;

    // 1. Pass → Wait 1 s → Succeed, to the end.
    let client = sfn_client(&moto.endpoint, "us-east-1").await;
    let definition = json!({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"ok": true}, "ResultPath": "$.prepared", "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    });
    let arn = create_state_machine(&client, &definition.to_string()).await;
    let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
    let id = "run-happy";
    wf.start(id, json!({"run_id": id})).await.unwrap();
    let view = wait_until(&wf, id, "never finished", |v| v.status != "RUNNING").await;

    assert_eq!(view.status, "SUCCEEDED", "{view:#?}");
    assert!(view.stopped_at.unwrap() >= view.started_at);
    assert_eq!(
        types(&view.events),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded",
        ]
    );
    assert_eq!(
        states(&view.events),
        [
            None,
            Some("Prepare"),
            Some("Prepare"),
            Some("Pause"),
            Some("Pause"),
            Some("Done"),
            Some("Done"),
            None
        ]
    );
    assert_eq!(
        view.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<u64>>()
    );
    assert!(
        view.events
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp),
        "oldest first"
    );
    let waited = view.events[4].timestamp - view.events[3].timestamp;
    assert!(waited >= chrono::TimeDelta::milliseconds(900), "{waited}");
    let result = json!({"run_id": id, "prepared": {"ok": true}});
    assert_eq!(view.events[0].input, Some(json!({"run_id": id})));
    assert_eq!(view.events[1].input, Some(json!({"run_id": id})));
    assert_eq!(view.events[2].output, Some(result.clone()));
    assert_eq!(view.events[7].output, Some(result));
    assert!(view.events.iter().all(|e| e.error.is_none()));
    assert_eq!(view.current_state.as_deref(), Some("Done"));
    // Stopping a finished execution leaves it as it is.
    wf.stop(id, "too late").await.unwrap();
    assert_eq!(wf.describe(id).await.unwrap().unwrap().status, "SUCCEEDED");

    // 2. A long Wait, stopped while in it.
    let client = sfn_client(&moto.endpoint, "eu-west-1").await;
    let definition = json!({
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    });
    let arn = create_state_machine(&client, &definition.to_string()).await;
    let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
    let id = "run-cancelled";
    wf.start(id, json!({"run_id": id})).await.unwrap();
    let view = wait_until(&wf, id, "never waited", |v| {
        v.events.iter().any(|e| e.event_type == "WaitStateEntered")
    })
    .await;
    assert_eq!(view.status, "RUNNING");
    assert_eq!(view.current_state.as_deref(), Some("Pause"));

    wf.stop(id, "cancelled by admin").await.unwrap();
    let view = wait_until(&wf, id, "never aborted", |v| v.status != "RUNNING").await;
    assert_eq!(view.status, "ABORTED");
    assert!(view.stopped_at.is_some());
    assert_eq!(
        types(&view.events),
        ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    );
    assert_eq!(view.current_state.as_deref(), Some("Pause"));
}
