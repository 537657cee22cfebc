//! The sweeper Lambda, invoked by an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = shared::lambda::init_deps()
        .mailer()
        .step_functions()
        .await?;
    shared::lambda::run_task(deps, |d, event: serde_json::Value| async move {
        sweeper::handle(&d, event).await
    })
    .await
}
