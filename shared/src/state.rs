use std::sync::Arc;

use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, StoreConfig};
use crate::domain::Settings;
use crate::ports::{Store, StoreError};
use crate::workflow::{NoWorkflow, WorkflowStarter};

/// What every handler gets: configuration, the store, the clock, the signing keys.
/// Built once per process (Lambda `main` or the local server).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub jwt: Arc<JwtKeys>,
    /// Runs deploy-test executions: the embedded executor locally (functions/local, whatever
    /// `STATE_MACHINE_ARN` says), Step Functions in Lambda when `STATE_MACHINE_ARN` is set
    /// (`crate::lambda::init_state`), else `NoWorkflow`.
    pub workflow: Arc<dyn WorkflowStarter>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let jwt = Arc::new(JwtKeys::new(&config.jwt_secret));
        Self {
            config: Arc::new(config),
            store,
            clock,
            jwt,
            workflow: Arc::new(NoWorkflow),
        }
    }

    pub fn with_workflow(mut self, workflow: Arc<dyn WorkflowStarter>) -> Self {
        self.workflow = workflow;
        self
    }

    /// Opens the configured store (creating the DynamoDB table when asked) with the system clock.
    pub async fn from_config(config: Config) -> Result<Self, StoreError> {
        let store: Arc<dyn Store> = match &config.store {
            StoreConfig::Embedded => {
                Arc::new(crate::adapters::SqliteStore::open(&config.data_dir)?)
            }
            StoreConfig::DynamoDb {
                table,
                create_table,
            } => {
                let store = crate::adapters::DynamoStore::from_env(table).await;
                if *create_table {
                    store.create_table_if_missing().await?;
                }
                Arc::new(store)
            }
        };
        Ok(Self::new(config, store, Arc::new(SystemClock)))
    }

    /// The current settings: read on every use, so a change applies without a restart.
    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Ok(self.store.get_settings().await?.0)
    }
}
