//! The sweeper Lambda, invoked by an EventBridge schedule.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = notify::task::lambda_deps().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            sweeper::handle(&deps, event.payload)
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.name.into(),
                    error_message: e.message,
                })
        }
    }))
    .await
}
