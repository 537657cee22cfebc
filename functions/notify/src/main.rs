//! The notify task Lambda, invoked by the Step Functions state machine.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = shared::lambda::init_deps().mailer().await?;
    shared::lambda::run_task(deps, |d, input| async move {
        shared::mail::handle_part(&d, input).await
    })
    .await
}
