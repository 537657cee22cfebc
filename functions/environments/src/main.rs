//! The environments Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps().await?;
    lambda_http::run(environments::router(state)).await
}
