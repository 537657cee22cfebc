//! The services' rules on the embedded store (SQLite in a temporary folder), with a
//! settable clock and a workflow double that records what it is asked. Each test builds
//! what it needs through the services themselves, so these tests pin behaviour, not the
//! store's shapes. Errors are read through [`refusal`]: the one place that knows which
//! error type the services return.

mod environments;
mod job_versions;
mod parameter_sets;
mod queue;
mod runs;
mod settings;
mod test_items;
mod test_results;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::adapters::SqliteStore;
use crate::clock::ManualClock;
use crate::config::{Config, Host};
use crate::deps::Deps;
use crate::domain::{Build, Email, ParameterSet, TestItem, TestItemId};
use crate::error::ApiError;
use crate::workflow::{ExecutionView, WorkflowError, WorkflowStarter};

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// `raw` as a checked address: who acts is an [`Email`], never a bare string.
pub(super) fn email(raw: &str) -> Email {
    Email::parse("email", raw).unwrap()
}

/// The id the services take for `item` (the record still holds the bare integer).
pub(super) fn item_id(item: &TestItem) -> TestItemId {
    TestItemId::from_stored(item.id)
}

/// What a service refused, as the API would show it.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub code: String,
    pub field: Option<String>,
    pub details: Option<Value>,
}

/// The refusal in `result`; panics when the call succeeded. Generic over the error so a
/// service error that converts into `ApiError` reads the same.
pub(super) fn refusal<T: Debug, E: Into<ApiError>>(result: Result<T, E>) -> Refusal {
    let error: ApiError = match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(e) => e.into(),
    };
    let body = error.body();
    Refusal {
        status: error.status(),
        code: body.error.code,
        field: body.error.field,
        details: body.error.details,
    }
}

/// Records the executions it is asked to start and stop; `start` fails while `refuse_starts`.
#[derive(Default)]
pub(super) struct RecordingWorkflow {
    pub started: Mutex<Vec<(String, Value)>>,
    pub stopped: Mutex<Vec<String>>,
    pub refuse_starts: std::sync::atomic::AtomicBool,
}

impl RecordingWorkflow {
    pub fn started_ids(&self) -> Vec<String> {
        self.started
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn stopped_ids(&self) -> Vec<String> {
        self.stopped.lock().unwrap().clone()
    }
}

#[async_trait]
impl WorkflowStarter for RecordingWorkflow {
    async fn start(&self, execution_id: &str, input: Value) -> Result<(), WorkflowError> {
        if self.refuse_starts.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(WorkflowError::Service("the workflow engine is down".into()));
        }
        self.started
            .lock()
            .unwrap()
            .push((execution_id.to_owned(), input));
        Ok(())
    }

    async fn describe(&self, _: &str) -> Result<Option<ExecutionView>, WorkflowError> {
        Ok(None)
    }

    async fn stop(&self, execution_id: &str, _cause: &str) -> Result<(), WorkflowError> {
        self.stopped.lock().unwrap().push(execution_id.to_owned());
        Ok(())
    }
}

/// A fresh embedded store with a settable clock at [`t0`] and a [`RecordingWorkflow`].
pub(super) struct Fixture {
    pub state: Deps,
    pub clock: Arc<ManualClock>,
    pub workflow: Arc<RecordingWorkflow>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vars = HashMap::from([
            (
                "CRAT_DATA_DIR".to_owned(),
                dir.path().to_str().unwrap().to_owned(),
            ),
            ("ADMIN_PASSWD".to_owned(), "test-admin-password".to_owned()),
            (
                "JWT_SECRET".to_owned(),
                "a-test-secret-that-is-long-enough-0123456789".to_owned(),
            ),
        ]);
        let config = Config::from_vars(Host::Embedded, &vars).unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let clock = Arc::new(ManualClock::new(t0()));
        let workflow = Arc::new(RecordingWorkflow::default());
        let state = Deps::new(config, store, clock.clone()).unwrap();
        state.workflow.bind(workflow.clone()).unwrap();
        Self {
            state,
            clock,
            workflow,
            _dir: dir,
        }
    }

    /// Build `number` of `job`, as Jenkins posts it.
    pub async fn build(&self, job: &str, number: i64) -> Build {
        let body = json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": job, "BUILD_NUMBER": number.to_string(),
            "PACKAGE_PATH": format!("CDN/pass/20250613-master-{number}/el7")});
        super::builds::record_build(&self.state, &body)
            .await
            .unwrap()
            .0
    }

    pub async fn parameter_set(&self, name: &str) -> ParameterSet {
        let input = super::parameter_sets::CreateParameterSet {
            name: name.to_owned(),
            description: String::new(),
            params: Some(json!({"service_name": "cds"})),
        };
        super::parameter_sets::create(&self.state, "admin@example.com", input)
            .await
            .unwrap()
    }

    pub fn item_input(name: &str, job: &str) -> super::test_items::TestItemInput {
        super::test_items::TestItemInput {
            name: name.to_owned(),
            job_name: job.to_owned(),
            parameter_set_id: None,
            environment_id: None,
            description: String::new(),
            enabled: true,
            notify_emails: Vec::new(),
            trigger_on_new_build: false,
        }
    }

    pub async fn test_item(&self, name: &str, job: &str) -> TestItem {
        super::test_items::create(&self.state, Self::item_input(name, job))
            .await
            .unwrap()
    }

    /// The settings a run needs: where to download from and the test server.
    pub async fn complete_settings(&self) {
        super::settings::patch(
            &self.state,
            "admin@example.com",
            &json!({"package_download_base_url": "http://packages.test/",
                "external_test_server_url": "http://tests.test/"}),
        )
        .await
        .unwrap();
    }

    /// Everything a trigger needs: a default parameter set, complete settings, and an
    /// enabled item whose job has a selected build. Returns the item and that build.
    pub async fn ready_item(&self) -> (TestItem, Build) {
        self.parameter_set("defaults").await;
        self.complete_settings().await;
        let item = self.test_item("cds", "CDN_CORE").await;
        let build = self.build("CDN_CORE", 101).await;
        super::job_versions::select(
            &self.state,
            "user@example.com",
            super::job_versions::SelectInput {
                job_name: "CDN_CORE".into(),
                build_id: build.id,
                auto_sync: false,
                sync_on_new_build: None,
            },
        )
        .await
        .unwrap();
        (item, build)
    }
}
