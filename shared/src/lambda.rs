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
