//! The builds Lambda: webhook and builds API under API Gateway.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps().step_functions().await?;
    lambda_http::run(builds::router(state)).await
}
