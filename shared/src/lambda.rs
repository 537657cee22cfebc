//! Start-up shared by every Lambda `main.rs`: configuration (a missing secret is an error
//! naming the variable), JSON logs, the store client built once per container.

use crate::config::{Config, Host};
use crate::state::AppState;
use crate::telemetry;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn init_state() -> Result<AppState, BoxError> {
    let config = Config::from_env(Host::Lambda)?;
    telemetry::init(Host::Lambda, config.debug);
    Ok(AppState::from_config(config).await?)
}

/// For the task functions: the state plus one HTTP client; packages go to /tmp.
pub async fn init_task_deps() -> Result<crate::tasks::TaskDeps, BoxError> {
    Ok(crate::tasks::TaskDeps {
        state: init_state().await?,
        http: crate::tasks::http::http_client(crate::tasks::HTTP_STALL_TIMEOUT)?,
        work_dir: std::env::temp_dir().join("crat"),
    })
}
