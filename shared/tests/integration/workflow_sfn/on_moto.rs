//! The adapter's four calls against the shared moto (executions stay RUNNING there).

use super::*;

async fn workflow() -> Option<StepFunctionsWorkflow> {
    let endpoint = moto_endpoint()?;
    let client = sfn_client(&endpoint, "us-east-1").await;
    let arn = create_state_machine(&client, &deploy_test_definition()).await;
    Some(StepFunctionsWorkflow::new(client, arn).unwrap())
}

fn run_id() -> String {
    format!("run-{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn history_pages_follow_next_token_and_the_order() {
    let Some(wf) = workflow().await else { return };
    let id = run_id();
    wf.start(&id, json!({"run_id": id})).await.unwrap();
    let whole = wf.describe(&id).await.unwrap().unwrap();
    for newest_first in [false, true] {
        let mut request = shared::workflow::HistoryRequest {
            limit: 1,
            cursor: None,
            newest_first,
        };
        let mut ids = Vec::new();
        loop {
            let page = wf.describe_page(&id, &request).await.unwrap().unwrap();
            // (moto's canned history ignores maxResults: one page holds it all)
            assert_eq!(page.status, whole.status);
            ids.extend(page.events.iter().map(|e| e.id));
            match page.next_cursor {
                Some(token) => request.cursor = Some(token),
                None => break,
            }
            assert!(ids.len() <= whole.events.len(), "{ids:?}");
        }
        if newest_first {
            ids.reverse();
        }
        let expected: Vec<u64> = whole.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, expected, "newest_first: {newest_first}");
    }
    assert_eq!(
        wf.describe_page(
            &run_id(),
            &shared::workflow::HistoryRequest {
                limit: 10,
                cursor: None,
                newest_first: false,
            }
        )
        .await
        .unwrap(),
        None
    );
}

#[tokio::test]
async fn start_then_describe_gives_a_running_execution_with_its_history() {
    let Some(wf) = workflow().await else { return };
    let id = run_id();
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(5);

    wf.start(&id, json!({"run_id": id})).await.unwrap();
    let view = wf.describe(&id).await.unwrap().expect("started execution");

    assert_eq!(view.execution_id, id);
    assert_eq!(view.status, "RUNNING");
    assert!(view.started_at >= before, "{}", view.started_at);
    assert_eq!(view.stopped_at, None);
    // moto's canned history (its default mode runs nothing): mapped as given.
    assert_eq!(
        types(&view.events),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(
        view.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        states(&view.events),
        [None, Some("A State"), Some("A State"), None]
    );
    assert_eq!(view.events[0].input, Some(json!({})));
    assert_eq!(view.events[1].input, Some(json!({})));
    assert_eq!(view.events[2].output, Some(json!("An output")));
    assert_eq!(view.current_state.as_deref(), Some("A State"));
    // The execution really is the one named after the run, with the run's input.
    let described = wf
        .client()
        .describe_execution()
        .execution_arn(wf.execution_arn(&id).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), Some(id.as_str()));
    assert_eq!(described.state_machine_arn(), wf.state_machine_arn());
    assert_eq!(
        serde_json::from_str::<Value>(described.input().unwrap()).unwrap(),
        json!({"run_id": id})
    );
}

#[tokio::test]
async fn starting_the_same_execution_again_is_harmless_and_only_that() {
    let Some(wf) = workflow().await else { return };
    let id = run_id();
    wf.start(&id, json!({"run_id": id})).await.unwrap();
    // Same name and input while running: Step Functions returns the same execution (moto
    // answers ExecutionAlreadyExists; DescribeExecution shows it is this one): started.
    wf.start(&id, json!({"run_id": id})).await.unwrap();
    // Same name, other input: another execution's, not ours. (This used to be "started".)
    let err = wf
        .start(&id, json!({"run_id": id, "retry": true}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WorkflowError::NameTaken(m) if m.contains("other input")),
        "{err}"
    );
    // Same name after it ended: nothing runs it, so it is not started either.
    wf.stop(&id, "test").await.unwrap();
    let err = wf.start(&id, json!({"run_id": id})).await.unwrap_err();
    assert!(
        matches!(&err, WorkflowError::NameTaken(m) if m.contains("ABORTED")),
        "{err}"
    );

    let executions = wf
        .client()
        .list_executions()
        .state_machine_arn(wf.state_machine_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    let view = wf.describe(&id).await.unwrap().unwrap();
    assert_eq!(view.status, "ABORTED", "the restart did not start anything");
}

#[tokio::test]
async fn stop_aborts_a_running_execution_and_stopping_again_is_harmless() {
    let Some(wf) = workflow().await else { return };
    let id = run_id();
    wf.start(&id, json!({"run_id": id})).await.unwrap();

    wf.stop(&id, "cancelled by admin").await.unwrap();
    let view = wf.describe(&id).await.unwrap().unwrap();
    assert_eq!(view.status, "ABORTED");
    let stopped_at = view.stopped_at.expect("stop date");
    assert!(stopped_at >= view.started_at);

    wf.stop(&id, "cancelled twice").await.unwrap();
    assert_eq!(wf.describe(&id).await.unwrap().unwrap().status, "ABORTED");
}

#[tokio::test]
async fn an_unknown_execution_is_none_and_stopping_it_is_harmless() {
    let Some(wf) = workflow().await else { return };
    let id = run_id();
    assert_eq!(wf.describe(&id).await.unwrap(), None);
    wf.stop(&id, "nothing to stop").await.unwrap();
    assert_eq!(
        wf.describe(&id).await.unwrap(),
        None,
        "stop created nothing"
    );
}

#[tokio::test]
async fn a_missing_state_machine_is_an_error_with_the_service_message() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let client = sfn_client(&endpoint, "us-east-1").await;
    let arn = format!(
        "arn:aws:states:us-east-1:123456789012:stateMachine:crat-missing-{}",
        uuid::Uuid::new_v4()
    );
    let wf = StepFunctionsWorkflow::new(client, arn).unwrap();
    let err = wf.start(&run_id(), json!({})).await.unwrap_err();
    assert!(
        matches!(&err, WorkflowError::Service(m)
                if m.starts_with("Step Functions StartExecution: ")
                    && m.contains("StateMachineDoesNotExist")),
        "{err}"
    );
    // Its executions do not exist either: describe and stop say so without failing.
    assert_eq!(wf.describe("run-1").await.unwrap(), None);
    wf.stop("run-1", "x").await.unwrap();
}
