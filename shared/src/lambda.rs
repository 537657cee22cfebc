//! Start-up shared by every Lambda `main.rs`: configuration (a missing secret is an error
//! naming the variable), JSON logs, the store and Step Functions clients built once per
//! container.

use std::sync::Arc;

use crate::config::{Config, Host};
use crate::state::AppState;
use crate::telemetry;
use crate::workflow::StepFunctionsWorkflow;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn init_state() -> Result<AppState, BoxError> {
    let config = Config::from_env(Host::Lambda)?;
    telemetry::init(Host::Lambda, config.debug);
    let state_machine_arn = config.state_machine_arn.clone();
    let state = AppState::from_config(config).await?;
    // `STATE_MACHINE_ARN` selects Step Functions (client built once, here); without it the
    // state keeps `NoWorkflow`, which says what to set. Only Lambda hosts come through
    // here: the local server (functions/local) always installs its embedded executor, so
    // `STATE_MACHINE_ARN` set for it changes nothing.
    Ok(match state_machine_arn {
        Some(arn) => state.with_workflow(Arc::new(StepFunctionsWorkflow::from_env(&arn).await?)),
        None => state,
    })
}

/// For the task functions: the state plus one HTTP client; packages go to /tmp.
pub async fn init_task_deps() -> Result<crate::tasks::TaskDeps, BoxError> {
    Ok(crate::tasks::TaskDeps {
        state: init_state().await?,
        http: crate::tasks::http::http_client(crate::tasks::HTTP_STALL_TIMEOUT)?,
        work_dir: std::env::temp_dir().join("crat"),
    })
}

/// Runs a task handler under `lambda_runtime` (the state machine invokes it directly): the
/// event is the handler's input, a `TaskError` becomes the Lambda `errorType` the ASL's
/// Retry/Catch match on.
pub async fn run_task<D, I, O, F, Fut>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Clone + Send + Sync + 'static,
    I: serde::de::DeserializeOwned + Send + 'static,
    O: serde::Serialize + Send + 'static,
    F: Fn(D, I) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<O, crate::tasks::TaskError>> + Send,
{
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<I>| {
            let deps = deps.clone();
            async move {
                handler(deps, event.payload)
                    .await
                    .map_err(|e| lambda_runtime::Diagnostic {
                        error_type: e.name.into(),
                        error_message: e.message,
                    })
            }
        },
    ))
    .await
}
