//! Environments: a test item's runs go to its environment; disabled or missing ones take
//! no runs; one in use is not deleted; a run's steps see its environment's test server.

use std::sync::LazyLock;

use axum::http::StatusCode;

use super::{Fixture, email, item_id, refusal};
use crate::domain::{Email, Environment, EnvironmentId, TestItem, config_values::HttpUrl};
use crate::services::environments::{self, EnvironmentInput, on_run_test_server};
use crate::services::runs::{self, TriggerInput};
use crate::services::test_items;

static USER: LazyLock<Email> = LazyLock::new(|| email("user@example.com"));

fn input(name: &str, url: &str, enabled: bool) -> EnvironmentInput {
    EnvironmentInput {
        name: name.into(),
        external_test_server_url: url.into(),
        report_origins: Vec::new(),
        description: String::new(),
        enabled,
    }
}

async fn move_item(f: &Fixture, item: &TestItem, env: Option<EnvironmentId>) -> TestItem {
    let mut body = Fixture::item_input(item.name.as_str(), item.job_name.as_str());
    body.environment_id = env.map(EnvironmentId::get);
    test_items::update(&f.state, item_id(item), body)
        .await
        .unwrap()
}

async fn environment(f: &Fixture, name: &str, url: &str) -> Environment {
    environments::create(&f.state, input(name, url, true))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_run_records_its_item_s_environment_and_its_steps_use_that_server() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let env = environment(&f, "b", "http://b.test:9000").await;
    move_item(&f, &item, Some(env.id)).await;

    let run = runs::trigger(&f.state, &USER, item_id(&item), TriggerInput::default())
        .await
        .unwrap();

    assert_eq!(run.environment_id, Some(env.id));
    let settings = f.state.settings().await.unwrap();
    let on_b = on_run_test_server(&f.state, settings.clone(), &run)
        .await
        .unwrap();
    assert_eq!(
        on_b.external_test_server_url.as_ref().map(HttpUrl::as_str),
        Some("http://b.test:9000")
    );
    assert_eq!(
        settings
            .external_test_server_url
            .as_ref()
            .map(HttpUrl::as_str),
        Some("http://tests.test"),
        "the default is untouched"
    );
    // Once triggered, the run stays on the server that has its task, even if the
    // environment is pointed elsewhere meanwhile.
    let mut triggered = run.run.clone();
    triggered.test_server_url = on_b.external_test_server_url.clone();
    environments::update(&f.state, env.id, input("b", "http://c.test:9000", true))
        .await
        .unwrap();
    let still_b = on_run_test_server(&f.state, settings.clone(), &triggered)
        .await
        .unwrap();
    assert_eq!(
        still_b
            .external_test_server_url
            .as_ref()
            .map(HttpUrl::as_str),
        Some("http://b.test:9000")
    );
}

#[tokio::test]
async fn an_item_on_an_environment_needs_no_default_test_server() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    crate::services::settings::patch(
        &f.state,
        "admin@example.com",
        &serde_json::json!({"external_test_server_url": null}),
    )
    .await
    .unwrap();
    let refused = runs::trigger(&f.state, &USER, item_id(&item), TriggerInput::default()).await;
    assert_eq!(refusal(refused).code, "settings_incomplete");

    let env = environment(&f, "b", "http://b.test:9000").await;
    move_item(&f, &item, Some(env.id)).await;
    runs::trigger(&f.state, &USER, item_id(&item), TriggerInput::default())
        .await
        .expect("the environment has a test server");
}

#[tokio::test]
async fn a_disabled_environment_takes_no_runs() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let env = environment(&f, "b", "http://b.test:9000").await;
    move_item(&f, &item, Some(env.id)).await;
    environments::update(&f.state, env.id, input("b", "http://b.test:9000", false))
        .await
        .unwrap();

    let refused =
        refusal(runs::trigger(&f.state, &USER, item_id(&item), TriggerInput::default()).await);

    assert_eq!(
        (refused.status, refused.code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "environment_disabled")
    );
    assert!(f.workflow.started_ids().is_empty());
}

#[tokio::test]
async fn an_environment_in_use_is_not_deleted_and_the_refusal_names_the_items() {
    let f = Fixture::new();
    let env = environment(&f, "b", "http://b.test:9000").await;
    let on_b = f.test_item("cds", "CDN_CORE").await;
    let on_b = move_item(&f, &on_b, Some(env.id)).await;
    f.test_item("sds", "CDN_CORE").await;

    let refused = refusal(environments::delete(&f.state, env.id).await);

    assert_eq!(
        (refused.status, refused.code.as_str()),
        (StatusCode::CONFLICT, "environment_in_use")
    );
    assert_eq!(
        refused.details.unwrap()["test_item_ids"],
        serde_json::json!([on_b.id])
    );
    move_item(&f, &on_b, None).await;
    environments::delete(&f.state, env.id).await.unwrap();
    let gone = refusal(environments::get(&f.state, env.id).await);
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_item_cannot_name_a_missing_environment() {
    let f = Fixture::new();
    let mut body = Fixture::item_input("cds", "CDN_CORE");
    body.environment_id = Some(42);
    let refused = refusal(test_items::create(&f.state, body).await);
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "environment_not_found")
    );
    let mut malformed = Fixture::item_input("cds", "CDN_CORE");
    malformed.environment_id = Some(0);
    let refused = refusal(test_items::create(&f.state, malformed).await);
    assert_eq!(
        (refused.status, refused.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("environment_id"))
    );
}

#[tokio::test]
async fn an_environment_with_a_run_is_not_deleted_and_a_re_run_stays_on_its_lane() {
    let f = Fixture::new();
    let (item, _) = f.ready_item().await;
    let env = environment(&f, "b", "http://b.test:9000").await;
    move_item(&f, &item, Some(env.id)).await;
    let run = runs::trigger(&f.state, &USER, item_id(&item), TriggerInput::default())
        .await
        .unwrap()
        .run;
    // The item moves away; its run is still active on b.
    move_item(&f, &item, None).await;

    let refused = refusal(environments::delete(&f.state, env.id).await);
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (StatusCode::CONFLICT, "environment_busy")
    );

    // A re-run (by someone else: the same person's would be a duplicate) tests on the old
    // run's environment, so it waits behind that run in that environment's lane.
    let again = runs::rerun(&f.state, &email("other@example.com"), run.id)
        .await
        .unwrap();
    assert_eq!(again.run.environment_id, Some(env.id));
    assert_eq!(
        again.run.lane,
        crate::domain::lane_of_environment(Some(env.id))
    );
    assert_eq!(
        again.queue_position,
        Some(1),
        "queued behind run {}",
        run.id
    );
}
