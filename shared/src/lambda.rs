//! Start-up shared by every Lambda `main.rs`: configuration (a missing secret is an error
//! naming the variable), JSON logs, and the one [`Deps`] per container.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::{Config, ConfigError, Host, StoreConfig};
use crate::deps::{Deps, HttpClient, open_dynamodb};
use crate::mail::{Mailer, mailer_from_config};
use crate::telemetry;
use crate::workflow::{NoWorkflow, StepFunctionsWorkflow, WorkflowStarter};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type MailerFactory = fn(&Config) -> Result<Option<Arc<dyn Mailer>>, String>;
type WorkflowFactory = fn(String) -> BoxFuture<Result<Arc<dyn WorkflowStarter>, ConfigError>>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The one place a Lambda builds its [`Deps`], API and task functions alike, once per
/// container: `shared::lambda::init_deps().await` gives the configuration, the DynamoDB
/// store, the keys and the HTTP client (built on first use); a function that mails or runs executions names
/// that too (`init_deps().mailer().step_functions().await`). What a function does not
/// name is neither built at its cold start nor linked into its binary (the SMTP
/// transport, the Step Functions client: the linker keeps only what `main` reaches, which
/// a cargo feature could not do when `make build` builds every function in one go).
pub fn init_deps() -> LambdaInit {
    LambdaInit {
        mailer: None,
        workflow: None,
    }
}

/// What [`init_deps`] builds; `.await` it.
#[must_use = "await it to get the Deps"]
pub struct LambdaInit {
    mailer: Option<MailerFactory>,
    workflow: Option<WorkflowFactory>,
}

impl LambdaInit {
    /// The mailer: SMTP when `EMAIL_SEND_SERVER` is set (notify and the sweeper get it in
    /// infra/template.yaml), else none and mail is skipped. Without this, never a mailer.
    pub fn mailer(mut self) -> Self {
        self.mailer = Some(mailer_from_config);
        self
    }

    /// Executions on Step Functions when `STATE_MACHINE_ARN` is set (client built once,
    /// here); without it `NoWorkflow` says what to set. Without this, always `NoWorkflow`.
    pub fn step_functions(mut self) -> Self {
        self.workflow = Some(|arn| {
            Box::pin(async move {
                let workflow = StepFunctionsWorkflow::from_env(&arn).await?;
                Ok(Arc::new(workflow) as Arc<dyn WorkflowStarter>)
            })
        });
        self
    }

    async fn build(self) -> Result<Deps, BoxError> {
        let config = Config::from_env(Host::Lambda)?;
        telemetry::init(Host::Lambda, config.debug);
        let StoreConfig::DynamoDb {
            table,
            create_table,
        } = &config.store
        else {
            return Err(Box::new(ConfigError {
                var: "CRAT_STORE",
                message: "must be dynamodb under Lambda".into(),
            }));
        };
        let store = open_dynamodb(table, *create_table).await?;
        let mailer = match self.mailer {
            Some(factory) => factory(&config)?,
            None => None,
        };
        // Only Lambda hosts come through here: the local server (functions/local) binds
        // its embedded executor, so `STATE_MACHINE_ARN` set for it changes nothing.
        let workflow = match (self.workflow, config.state_machine_arn.clone()) {
            (Some(factory), Some(arn)) => factory(arn).await?,
            _ => Arc::new(NoWorkflow),
        };
        // The HTTP client is built on first use: the tasks that call a server build it
        // then; the API functions never do.
        let http = HttpClient::default();
        let deps = Deps::from_parts(config, store, Arc::new(SystemClock), mailer, http);
        deps.workflow.bind(workflow)?;
        Ok(deps)
    }
}

impl IntoFuture for LambdaInit {
    type Output = Result<Deps, BoxError>;
    type IntoFuture = BoxFuture<Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.build())
    }
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
