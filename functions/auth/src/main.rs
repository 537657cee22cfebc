//! The auth Lambda: login, logout, me, sessions.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps().await?;
    lambda_http::run(auth::router(state)).await
}
