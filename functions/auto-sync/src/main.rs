//! The auto-sync Lambda, invoked by an EventBridge schedule.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::tasks::ErrorName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::lambda::init_deps().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move {
            auto_sync::handle(&state, event.payload)
                .await
                .map_err(|e| Diagnostic {
                    error_type: ErrorName::AutoSyncFailed.as_str().into(),
                    error_message: e.to_string(),
                })
        }
    }))
    .await
}
