//! The trigger task Lambda, invoked by the Step Functions state machine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = shared::lambda::init_deps().await?;
    shared::lambda::run_task(
        deps,
        |d, input| async move { trigger::handle(&d, input).await },
    )
    .await
}
