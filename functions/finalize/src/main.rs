//! The finalize task Lambda, invoked by the Step Functions state machine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = shared::lambda::init_deps().step_functions().await?;
    shared::lambda::run_task(
        deps,
        |d, input| async move { finalize::handle(&d, input).await },
    )
    .await
}
