//! The one dependency set every handler, task and timer gets ([`Deps`]), built once per
//! host: `crate::lambda::init_deps` for every Lambda, `local::assemble` for the local server.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Host, StoreConfig};
use crate::domain::Settings;
use crate::mail::{Mailer, mailer_from_config};
use crate::ports::{Store, StoreError};
use crate::workflow::{
    ExecutionView, HistoryError, HistoryRequest, WorkflowError, WorkflowStarter,
};

/// Configuration, the store, the clock, the signing keys, the outside-server HTTP client,
/// the mailer and the workflow. Cloning is cheap (shared handles), and every clone sees
/// the same workflow once it is bound.
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub jwt: Arc<JwtKeys>,
    /// One HTTP client for the package server and the test server
    /// ([`crate::tasks::http::http_client`]); `&deps.http` is a `&reqwest::Client`.
    pub http: HttpClient,
    /// `None`: no mail server is configured (Lambda without `EMAIL_SEND_SERVER`); mail is skipped.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Where packages are streamed for verification: the data folder locally, /tmp in Lambda.
    pub work_dir: PathBuf,
    /// Runs deploy-test executions: bound once by the host, after `Deps` exists, since the
    /// embedded executor needs the tasks and the tasks need `Deps`.
    pub workflow: WorkflowSlot,
    /// What this process counted (the local server shows it at `GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Mail(String),
}

impl Deps {
    /// The set on `store` and `clock` with the mailer the configuration asks for and the
    /// HTTP client built now (an error here stops the start); the workflow slot starts unbound.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DepsError> {
        let mailer = mailer_from_config(&config).map_err(DepsError::Mail)?;
        let http = HttpClient::built().map_err(DepsError::Http)?;
        Ok(Self::from_parts(config, store, clock, mailer, http))
    }

    /// The set with `mailer` and `http` as given: a Lambda that sends no mail passes `None`,
    /// and an unbuilt [`HttpClient`], so a function that calls no server never links the
    /// SMTP transport nor the HTTP client (`crate::lambda::init_deps`).
    pub fn from_parts(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mailer: Option<Arc<dyn Mailer>>,
        http: HttpClient,
    ) -> Self {
        let work_dir = match config.host {
            Host::Embedded => {
                std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone())
            }
            Host::Lambda => std::env::temp_dir().join("crat"),
        };
        Self {
            jwt: Arc::new(JwtKeys::new(&config.jwt_secret)),
            config: Arc::new(config),
            store,
            clock,
            http,
            mailer,
            work_dir,
            workflow: WorkflowSlot::default(),
            metrics: Arc::default(),
        }
    }

    /// Opens the configured store (creating the DynamoDB table when asked) with the system clock.
    pub async fn from_config(config: Config) -> Result<Self, DepsError> {
        let store: Arc<dyn Store> = match &config.store {
            StoreConfig::Embedded => {
                Arc::new(crate::adapters::SqliteStore::open(&config.data_dir)?)
            }
            StoreConfig::DynamoDb {
                table,
                create_table,
            } => open_dynamodb(table, *create_table).await?,
        };
        Self::new(config, store, Arc::new(SystemClock))
    }

    /// The current settings: read on every use, so a change applies without a restart.
    pub async fn settings(&self) -> Result<Settings, StoreError> {
        Ok(self.store.get_settings().await?.0)
    }
}

/// The outside-server HTTP client ([`crate::tasks::http::http_client`]), built at the
/// latest on first use: only code that uses it reaches its construction, so a Lambda
/// that calls no server (the API functions) neither builds it at its cold start nor
/// links it. Derefs to `reqwest::Client`.
#[derive(Clone, Default)]
pub struct HttpClient(Arc<OnceLock<reqwest::Client>>);

impl HttpClient {
    /// The client built now: a host that surely uses it fails at start, not at first use.
    pub fn built() -> Result<Self, String> {
        let client = crate::tasks::http::http_client(crate::tasks::HTTP_STALL_TIMEOUT)?;
        Ok(Self(Arc::new(OnceLock::from(client))))
    }
}

impl std::ops::Deref for HttpClient {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        self.0.get_or_init(|| {
            // Building fails only when the TLS stack cannot start (no crypto provider),
            // which the local server and the tests would have hit at start already.
            crate::tasks::http::http_client(crate::tasks::HTTP_STALL_TIMEOUT)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    }
}

/// The DynamoDB store on `table`, created first when `create_table` (Lambda opens only
/// this one: SQLite stays out of its binaries).
pub async fn open_dynamodb(table: &str, create_table: bool) -> Result<Arc<dyn Store>, StoreError> {
    let store = crate::adapters::DynamoStore::from_env(table).await;
    if create_table {
        store.create_table_if_missing().await?;
    }
    Ok(Arc::new(store))
}

/// The late-bound workflow: empty until the host binds it (once), shared by every clone
/// of the [`Deps`] it is in. Used before binding, each call fails with [`UNBOUND`] instead
/// of panicking.
#[derive(Clone, Default)]
pub struct WorkflowSlot(Arc<OnceLock<Arc<dyn WorkflowStarter>>>);

pub const UNBOUND: &str =
    "the workflow is not bound yet: the host uses it before its start-up finished";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the workflow is already bound; a host binds it once")]
pub struct AlreadyBound;

impl WorkflowSlot {
    pub fn bind(&self, workflow: Arc<dyn WorkflowStarter>) -> Result<(), AlreadyBound> {
        self.0.set(workflow).map_err(|_| AlreadyBound)
    }

    pub fn is_bound(&self) -> bool {
        self.0.get().is_some()
    }

    fn bound(&self) -> Result<&Arc<dyn WorkflowStarter>, WorkflowError> {
        self.0.get().ok_or(WorkflowError::Unavailable(UNBOUND))
    }
}

/// The bound workflow's calls: the slot is itself a [`WorkflowStarter`].
#[async_trait::async_trait]
impl WorkflowStarter for WorkflowSlot {
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), WorkflowError> {
        self.bound()?.start(execution_id, input).await
    }

    async fn describe(&self, execution_id: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        self.bound()?.describe(execution_id).await
    }

    async fn describe_page(
        &self,
        execution_id: &str,
        page: &HistoryRequest,
    ) -> Result<Option<ExecutionView>, HistoryError> {
        self.bound()
            .map_err(HistoryError::Unavailable)?
            .describe_page(execution_id, page)
            .await
    }

    async fn stop(&self, execution_id: &str, cause: &str) -> Result<(), WorkflowError> {
        self.bound()?.stop(execution_id, cause).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::NoWorkflow;

    #[test]
    fn the_http_client_is_built_on_first_use_once_for_every_clone() {
        let http = HttpClient::default();
        let clone = http.clone();
        assert!(http.0.get().is_none(), "not built before its first use");
        let first: *const reqwest::Client = &*clone;
        assert!(
            http.0.get().is_some(),
            "a clone's first use builds it for every clone"
        );
        assert!(std::ptr::eq(first, &*http), "built once");
        assert!(HttpClient::built().unwrap().0.get().is_some(), "built now");
    }

    #[tokio::test]
    async fn an_unbound_slot_says_so_and_binds_once_for_every_clone() {
        let slot = WorkflowSlot::default();
        let clone = slot.clone();
        assert!(matches!(
            clone.stop("x", "why").await,
            Err(WorkflowError::Unavailable(UNBOUND))
        ));
        assert_eq!(
            clone
                .describe_page(
                    "x",
                    &HistoryRequest {
                        limit: 1,
                        cursor: None,
                        newest_first: false
                    }
                )
                .await,
            Err(HistoryError::Unavailable(WorkflowError::Unavailable(
                UNBOUND
            )))
        );
        slot.bind(Arc::new(NoWorkflow)).unwrap();
        assert!(
            clone.is_bound(),
            "a clone made before binding sees the binding"
        );
        let after = clone.start("x", Value::Null).await.unwrap_err();
        assert!(
            matches!(after, WorkflowError::NotConfigured),
            "the bound workflow answers now: {after}"
        );
        assert_eq!(slot.bind(Arc::new(NoWorkflow)), Err(AlreadyBound));
    }
}
