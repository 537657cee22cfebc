//! The notify task Lambda, invoked by the Step Functions state machine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = notify::task::lambda_deps().await?;
    shared::lambda::run_task(
        deps,
        |d, input| async move { notify::handle(&d, input).await },
    )
    .await
}
