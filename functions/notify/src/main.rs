//! The notify task Lambda, invoked by the Step Functions state machine.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = notify::task::lambda_deps().await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<shared::tasks::RunRef>| {
            let deps = deps.clone();
            async move {
                notify::handle(&deps, event.payload)
                    .await
                    .map_err(|e| Diagnostic {
                        error_type: e.name.into(),
                        error_message: e.message,
                    })
            }
        },
    ))
    .await
}
