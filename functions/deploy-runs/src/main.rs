//! The deploy-runs Lambda: trigger and read runs. Starts executions on Step Functions.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps()
        .mailer()
        .step_functions()
        .await?;
    lambda_http::run(deploy_runs::router(state)).await
}
