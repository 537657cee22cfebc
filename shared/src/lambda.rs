//! Start-up shared by every Lambda `main.rs`: configuration (a missing secret is an error
//! naming the variable), JSON logs, and the one [`Deps`] per container.

use std::sync::Arc;

use crate::config::{Config, Host};
use crate::deps::Deps;
use crate::telemetry;
use crate::workflow::{NoWorkflow, StepFunctionsWorkflow, WorkflowStarter};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one place a Lambda builds its [`Deps`], API and task functions alike: the store,
/// the HTTP client and the mailer (none without `EMAIL_SEND_SERVER`, which only the mail
/// functions get) once per container. Building the client and mailer eagerly costs an API
/// function little at cold start and keeps one shape everywhere.
pub async fn init_deps() -> Result<Deps, BoxError> {
    let config = Config::from_env(Host::Lambda)?;
    telemetry::init(Host::Lambda, config.debug);
    let state_machine_arn = config.state_machine_arn.clone();
    let deps = Deps::from_config(config).await?;
    // `STATE_MACHINE_ARN` selects Step Functions (client built once, here); without it
    // `NoWorkflow` says what to set. Only Lambda hosts come through here: the local server
    // (functions/local) binds its embedded executor, so `STATE_MACHINE_ARN` set for it
    // changes nothing.
    let workflow: Arc<dyn WorkflowStarter> = match state_machine_arn {
        Some(arn) => Arc::new(StepFunctionsWorkflow::from_env(&arn).await?),
        None => Arc::new(NoWorkflow),
    };
    deps.workflow.bind(workflow)?;
    Ok(deps)
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
