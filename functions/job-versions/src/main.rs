//! The job-versions Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = shared::lambda::init_deps().await?;
    lambda_http::run(job_versions::router(state)).await
}
