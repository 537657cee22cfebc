//! The meta Lambda: /healthz and the OpenAPI document. Needs no configuration.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init(shared::config::Host::Lambda, false);
    lambda_http::run(meta::router()).await
}
