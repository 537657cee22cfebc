//! The parameter-sets Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps().await?;
    lambda_http::run(parameter_sets::router(state)).await
}
