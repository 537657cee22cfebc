//! Deploy-test runs: the record a run keeps, its statuses and steps, and the pure rules
//! that move them. (Over 500 lines with its tests, which pin the stored JSON; what each
//! step's details hold is in `run_details.rs`.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::config_values::HttpUrl;
use super::{
    BuildId, BuildNumber, Email, EnvironmentId, JobName, LaneId, PackagePath, ParameterSetId,
    RunId, TestItemId,
};

/// `[QUEUED →] PENDING → DOWNLOADING → DOWNLOADED → TESTING → MONITORING → COMPLETED`; any
/// step may end in `FAILED`; a person may end it `CANCELLED` (a QUEUED run too, never started).
/// QUEUED: waiting in its lane's queue for the active run to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Queued,
    Pending,
    Downloading,
    Downloaded,
    Testing,
    Monitoring,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 9] = [
        Self::Queued,
        Self::Pending,
        Self::Downloading,
        Self::Downloaded,
        Self::Testing,
        Self::Monitoring,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Pending => "PENDING",
            Self::Downloading => "DOWNLOADING",
            Self::Downloaded => "DOWNLOADED",
            Self::Testing => "TESTING",
            Self::Monitoring => "MONITORING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, super::FieldError> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(raw.trim())).ok_or_else(|| {
            super::FieldError::new(field, "must be one of QUEUED, PENDING, DOWNLOADING, DOWNLOADED, TESTING, MONITORING, COMPLETED, FAILED, CANCELLED")
        })
    }
}

/// What an ended run came to, beside its status: the one word the badge, the run page, the
/// tab title, the mail and the trends all show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Completed, and the report counts no failed or broken test.
    Passed,
    /// Completed, and the report has failed or broken tests (Jenkins' "unstable").
    TestsFailed,
    /// CRAT or the test server could not finish (the failing step and its error say where),
    /// or the report of a completed run could not be read.
    Error,
    Cancelled,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::TestsFailed => "tests_failed",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }

    /// The outcome of `run` as it stands: `None` while it runs, and while a completed run's
    /// report is still to be read (the notify step reads it).
    pub fn of(run: &Run) -> Option<Self> {
        match run.status {
            RunStatus::Cancelled => Some(Self::Cancelled),
            RunStatus::Failed => Some(Self::Error),
            RunStatus::Completed => match &run.summary {
                Some(s) if s.failed + s.broken > 0 => Some(Self::TestsFailed),
                Some(_) => Some(Self::Passed),
                None => {
                    let tried = run.notification.is_some()
                        || run
                            .details::<super::NotifyDetails>()
                            .summary_unavailable
                            .is_some();
                    tried.then_some(Self::Error)
                }
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepName {
    Download,
    Trigger,
    Monitor,
    Notify,
}

impl StepName {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Download => "DOWNLOAD",
            Self::Trigger => "TRIGGER",
            Self::Monitor => "MONITOR",
            Self::Notify => "NOTIFY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub name: StepName,
    pub status: StepStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Step-specific facts: the external phase and last poll time for MONITOR, the file for DOWNLOAD, ...
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
    pub error: Option<String>,
}

impl Step {
    fn pending(name: StepName) -> Self {
        Self {
            name,
            status: StepStatus::Pending,
            started_at: None,
            finished_at: None,
            details: Map::new(),
            error: None,
        }
    }

    /// A new run's steps, in the order they run: all PENDING.
    fn all_pending() -> Vec<Self> {
        [
            StepName::Download,
            StepName::Trigger,
            StepName::Monitor,
            StepName::Notify,
        ]
        .map(Self::pending)
        .into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationStatus {
    Sent,
    Failed,
    Skipped,
}

impl NotificationStatus {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
            Self::Skipped => "SKIPPED",
        }
    }
}

/// What happened to the result mail. A mail failure never changes the run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub status: NotificationStatus,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub recipients: Vec<String>,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// The build as it was when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunBuild {
    #[schema(value_type = String)]
    pub job_name: JobName,
    #[schema(value_type = i64)]
    pub build_number: BuildNumber,
    #[schema(value_type = String)]
    pub package_path: PackagePath,
}

/// The test server's id for the task that deploys and tests a run: it goes into a URL
/// path (`/api/tasks/{task_id}`), so 1–128 characters of `[A-Za-z0-9._-]`. Checked when
/// trigger reads the test server's answer; stored values are read as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(field: &str, raw: &str) -> Result<Self, super::FieldError> {
        let path_safe = (1..=Self::MAX_CHARS).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if path_safe {
            Ok(Self(raw.to_owned()))
        } else {
            Err(super::FieldError::new(
                field,
                "must be 1-128 characters of letters, digits, '.', '_' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads as its text wherever a `&str` is taken (URLs, logs).
impl std::ops::Deref for TaskId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Allure counts; every count is optional in the report, absent ones are 0 here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub broken: u64,
    pub skipped: u64,
    pub unknown: u64,
    pub total: u64,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    #[schema(value_type = i64)]
    pub id: RunId,
    #[schema(value_type = i64)]
    pub test_item_id: TestItemId,
    pub test_item_name: String,
    #[schema(value_type = i64)]
    pub build_info_id: BuildId,
    pub build: RunBuild,
    #[schema(value_type = i64)]
    pub parameter_set_id: ParameterSetId,
    pub parameter_set_version: i64,
    /// The environment the run is on, fixed when it is created (`null`: the default, the
    /// settings' test server); a re-run stays on it.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub environment_id: Option<EnvironmentId>,
    /// The test server the trigger step posted to; every later poll asks this one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub test_server_url: Option<HttpUrl>,
    /// The parameters as they were when the run started.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    #[schema(value_type = String)]
    pub triggered_by: Email,
    pub status: RunStatus,
    /// What it came to ([`RunOutcome::of`]): `null` while it runs. Kept up to date by every
    /// change of status or summary, and recomputed whenever a stored run is read. Left out
    /// of the JSON while `null`, so records of older versions write back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    #[schema(value_type = Option<String>)]
    pub task_id: Option<TaskId>,
    pub package_url: Option<String>,
    pub package_size: Option<u64>,
    pub package_sha256: Option<String>,
    pub report_url: Option<String>,
    /// Why `report_url` was not read (its origin is not in the settings' `report_origins`),
    /// e.g. "report not read: origin http://h:8080 is not in report_origins (…)".
    #[serde(default)]
    pub report_refused: Option<String>,
    pub summary: Option<Summary>,
    /// Whether the report's test cases were stored (`null`: not read yet, or a run of an
    /// older version; left out of the JSON then, so older records write back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_cases: Option<super::TestCasesNote>,
    /// A re-run of only the failures: the tests to run (sent as `testplan` in the trigger
    /// body); `null` for a run of the whole suite, left out of the JSON then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_plan: Option<super::TestPlan>,
    pub error_message: Option<String>,
    pub execution_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    /// The result mail; `null` until the run ends.
    pub notification: Option<Notification>,
    /// The deliveries besides the mail (`chat`: one per notification channel that heard
    /// about the run). Left out of the JSON while empty, so older records write back unchanged.
    #[serde(default, skip_serializing_if = "super::Notifications::is_empty")]
    pub notifications: super::Notifications,
    /// Bumped by every write; writes are conditional on it (optimistic concurrency).
    pub revision: i64,
    /// The lane (test environment) it waits in and holds; `default` in records of old versions.
    #[serde(default)]
    pub lane: LaneId,
    /// When it joined its lane's queue; `null` when it started at once. While QUEUED,
    /// `started_at` is the trigger time; it becomes the real start when the run leaves the queue.
    #[serde(default)]
    pub queued_at: Option<DateTime<Utc>>,
    /// Its place in the lane's queue order, given by the store (kept after it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub queue_seq: Option<i64>,
    /// Started by the build webhook (a test item with `trigger_on_new_build`), not by a person.
    #[serde(default)]
    pub started_by_webhook: bool,
}

/// The execution name of run `id` (unique per run, as Step Functions requires).
pub fn execution_id_of(run_id: RunId) -> String {
    format!("run-{run_id}")
}

impl Run {
    /// A new run: PENDING, every step PENDING.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: RunId,
        item: &super::TestItem,
        build: &super::Build,
        set: &super::ParameterSet,
        triggered_by: &Email,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            test_item_id: TestItemId::from_stored(item.id),
            test_item_name: item.name.to_string(),
            build_info_id: BuildId::from_stored(build.id),
            build: RunBuild {
                job_name: build.job_name.clone(),
                build_number: build.build_number,
                package_path: build.package_path.clone(),
            },
            parameter_set_id: ParameterSetId::from_stored(set.id),
            parameter_set_version: set.version,
            environment_id: item.environment_id,
            test_server_url: None,
            params: set.params.as_map().clone(),
            triggered_by: triggered_by.clone(),
            status: RunStatus::Pending,
            outcome: None,
            task_id: None,
            package_url: None,
            package_size: None,
            package_sha256: None,
            report_url: None,
            report_refused: None,
            summary: None,
            test_cases: None,
            test_plan: None,
            error_message: None,
            execution_id: execution_id_of(id),
            started_at: now,
            finished_at: None,
            steps: Step::all_pending(),
            notification: None,
            notifications: super::Notifications::default(),
            revision: 1,
            lane: super::lane_of(item),
            queued_at: None,
            queue_seq: None,
            started_by_webhook: false,
        }
    }

    /// The record of this new run waiting in its lane's queue at place `seq` (the store's order).
    pub fn queued(&self, seq: i64) -> Self {
        Self {
            status: RunStatus::Queued,
            queued_at: Some(self.started_at),
            queue_seq: Some(seq),
            ..self.clone()
        }
    }

    /// The next revision of this QUEUED run, leaving the queue to start at `now`.
    pub fn leave_queue(&self, now: DateTime<Utc>) -> Self {
        Self {
            status: RunStatus::Pending,
            started_at: now,
            revision: self.revision + 1,
            ..self.clone()
        }
    }

    pub fn step(&self, name: StepName) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub fn step_mut(&mut self, name: StepName) -> &mut Step {
        if let Some(i) = self.steps.iter().position(|s| s.name == name) {
            &mut self.steps[i]
        } else {
            self.steps.push(Step::pending(name));
            let last = self.steps.len() - 1;
            &mut self.steps[last]
        }
    }

    /// Marks a step running (again, on a retry) and moves the run to `status`.
    pub fn begin_step(&mut self, name: StepName, status: RunStatus, now: DateTime<Utc>) {
        self.status = status;
        let step = self.step_mut(name);
        if step.started_at.is_none() {
            step.started_at = Some(now);
        }
        step.status = StepStatus::Running;
        step.finished_at = None;
        step.error = None;
    }

    pub fn finish_step(
        &mut self,
        name: StepName,
        status: StepStatus,
        error: Option<String>,
        now: DateTime<Utc>,
    ) {
        let step = self.step_mut(name);
        step.status = status;
        step.finished_at = Some(now);
        step.error = error;
    }

    /// The step that failed: the first one running or failed, else the first pending.
    pub fn failing_step(&self) -> Option<StepName> {
        self.steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Running | StepStatus::Failed))
            .or_else(|| self.steps.iter().find(|s| s.status == StepStatus::Pending))
            .map(|s| s.name)
    }

    /// The test server's error when the run failed while the test server was deploying the
    /// package (MONITOR failed, the last phase polled `pending` or `running:deploy`): the
    /// words "Deploy failed on the test server" fit it better than "error at MONITOR".
    pub fn deploy_failure(&self) -> Option<&str> {
        if self.status != RunStatus::Failed {
            return None;
        }
        let monitor = self.step(StepName::Monitor)?;
        if monitor.status != StepStatus::Failed {
            return None;
        }
        let poll: super::PollDetails = self.details();
        match poll.phase.as_deref() {
            Some("pending" | "running:deploy") => Some(
                monitor
                    .error
                    .as_deref()
                    .or(self.error_message.as_deref())
                    .unwrap_or(""),
            ),
            _ => None,
        }
    }

    /// Ends the run: `Failed` with the error on the failing step, or `Completed`; steps
    /// that never ran become SKIPPED. A run already terminal (e.g. CANCELLED) is kept as it is.
    pub fn finish(&mut self, failure: Option<(&str, &str)>, now: DateTime<Utc>) {
        if self.status.is_terminal() {
            return;
        }
        match failure {
            Some((error, cause)) => {
                let message = if cause.is_empty() {
                    error.to_owned()
                } else {
                    cause.to_owned()
                };
                if let Some(step) = self.failing_step() {
                    let s = self.step_mut(step);
                    if s.status != StepStatus::Failed {
                        s.status = StepStatus::Failed;
                        s.finished_at = Some(now);
                        s.error = Some(message.clone());
                    }
                    s.details.insert(
                        super::run_details::ERROR_NAME_KEY.into(),
                        Value::from(error),
                    );
                }
                self.status = RunStatus::Failed;
                self.error_message = Some(message);
            }
            None => self.status = RunStatus::Completed,
        }
        // NOTIFY runs after the run has ended; the other steps that never ran are skipped.
        for s in &mut self.steps {
            if s.status == StepStatus::Pending && s.name != StepName::Notify {
                s.status = StepStatus::Skipped;
            }
        }
        self.finished_at = Some(now);
        self.refresh_outcome();
    }

    /// Sets `outcome` from the status and summary as they are now.
    pub fn refresh_outcome(&mut self) {
        self.outcome = RunOutcome::of(self);
    }

    /// Ends the run CANCELLED by `who`: running and pending steps become CANCELLED, the mail
    /// is skipped. `false` when the run had already ended.
    pub fn cancel(&mut self, who: &str, now: DateTime<Utc>) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = RunStatus::Cancelled;
        self.error_message = Some(format!("cancelled by {who}"));
        self.finished_at = Some(now);
        for s in &mut self.steps {
            if matches!(s.status, StepStatus::Pending | StepStatus::Running) {
                s.status = StepStatus::Cancelled;
                if s.started_at.is_some() {
                    s.finished_at = Some(now);
                }
            }
        }
        self.notification = Some(Notification {
            status: NotificationStatus::Skipped,
            sent_at: None,
            error: Some("the run was cancelled; no result mail".into()),
            recipients: Vec::new(),
            attempts: 0,
        });
        self.refresh_outcome();
        true
    }

    /// A new run `id` of the same item, build and parameter snapshot as `self`.
    pub fn rerun(&self, id: RunId, triggered_by: &Email, now: DateTime<Utc>) -> Self {
        let mut run = Self {
            id,
            execution_id: execution_id_of(id),
            triggered_by: triggered_by.clone(),
            started_at: now,
            revision: 1,
            queued_at: None,
            queue_seq: None,
            started_by_webhook: false,
            // The whole suite (a re-run of only the failures gets its plan from the service).
            test_plan: None,
            ..self.clone()
        };
        run.reset_progress();
        run
    }

    fn reset_progress(&mut self) {
        self.status = RunStatus::Pending;
        self.outcome = None;
        self.task_id = None;
        self.test_server_url = None;
        self.package_url = None;
        self.package_size = None;
        self.package_sha256 = None;
        self.report_url = None;
        self.report_refused = None;
        self.summary = None;
        self.test_cases = None;
        self.error_message = None;
        self.finished_at = None;
        self.notification = None;
        self.steps = Step::all_pending();
    }
}

/// A lane's lock: held by its active run until released (finalize, cancel, the sweeper, a
/// force-release). The lease is how long a healthy run may take; a run past it is the
/// sweeper's to fail, and a lapsed lease never frees the lane by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLock {
    pub lane: LaneId,
    pub run_id: i64,
    pub lease_until: DateTime<Utc>,
}

#[cfg(test)]
pub(crate) mod tests;
