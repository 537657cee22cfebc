//! What varies between the cloud and the embedded target: storage, behind small traits.
//! Every adapter passes the same conformance suite (`shared/tests/integration/conformance`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AuditEntry, Build, BuildNumber, Channel, ChannelFields, ChannelId, Email, Environment,
    EnvironmentFields, EnvironmentId, FlakyTest, JobName, JobSelection, JobSummary, LaneId,
    LoginFailures, NewAuditEntry, NewBuild, ParameterSet, ParameterSetVersion, Params, Run,
    RunLock, RunStatus, Session, Settings, TestCase, TestId, TestItem, TestItemFields,
    TestResultOfRun, TestStatus,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: duplicate, lock held, stale version. Rendered as 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The back end failed; the cause is for logs, never for response bodies.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back: a bug or a hand-edited store.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The embedded executor's records live in the same stores: their failures keep the text
/// and whether trying again may help.
impl From<StoreError> for statemachine::ExecutionStoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(_) => Self::Corrupt(e.to_string()),
            StoreError::Conflict(_) | StoreError::Unavailable(_) => {
                Self::Unavailable(e.to_string())
            }
        }
    }
}

/// A page of a list, in that list's order, and the key to pass for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only says "there is more".
    pub fn from_overfetch(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }
}

#[async_trait]
pub trait BuildStore: Send + Sync {
    /// Stores the build unless one with the same (job, number) exists. Returns the stored
    /// build and `true` when this call created it. Exactly one caller creates, even when
    /// many race.
    async fn insert_build(&self, new: &NewBuild, now: DateTime<Utc>) -> StoreResult<(Build, bool)>;
    async fn get_build(&self, id: i64) -> StoreResult<Option<Build>>;
    /// Builds newest first (by id), optionally of one job, with ids below `before_id`.
    async fn list_builds(
        &self,
        job: Option<&JobName>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Build, i64>>;
    /// Build `number` of `job`, if Jenkins posted it.
    async fn find_build(&self, job: &JobName, number: BuildNumber) -> StoreResult<Option<Build>>;
    /// The job's highest-numbered build.
    async fn latest_build(&self, job: &JobName) -> StoreResult<Option<Build>>;
    /// Jobs by name, each with its highest-numbered build, names after `after_name`.
    async fn list_jobs(
        &self,
        after_name: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<JobSummary, String>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Saves the session, replacing the session of the same email *and role* only: a user
    /// login never ends the admin session of the same address.
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, email: &Email, is_admin: bool) -> StoreResult<Option<Session>>;
    /// Deletes the email's session of one role, or of both (`None`); `true` when there was one.
    async fn delete_session(&self, email: &Email, is_admin: Option<bool>) -> StoreResult<bool>;
    /// Sessions that are live at `now`, by email, then the user session before the admin one.
    async fn list_sessions(&self, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;
}

#[async_trait]
pub trait LoginFailureStore: Send + Sync {
    async fn get_login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>>;
    /// Checks and counts one admin login attempt for `key` at `now` in one atomic store
    /// operation: `Ok(record after it)` when fewer than `max` were counted in the current
    /// window, else `Err(record)` (locked; nothing counted). Of many concurrent callers
    /// exactly `max` per window get `Ok`. Closed windows are expired (TTL) or deleted.
    async fn take_login_attempt(
        &self,
        key: &str,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<LoginFailures, LoginFailures>>;
    /// Gives back one attempt taken at `now` (a login that succeeded); never below zero.
    async fn give_back_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait IdCounters: Send + Sync {
    /// The next integer id of the named sequence, starting at 1; never repeats an id in
    /// use (see [`Self::give_back_id`]).
    async fn next_id(&self, sequence: &str) -> StoreResult<i64>;

    /// Undoes the `next_id` that returned `id` when it is still the sequence's latest (no
    /// later id was taken): the next `next_id` hands `id` out again. True when it did. The
    /// caller must have written nothing under `id` (a trigger its lane refused).
    async fn give_back_id(&self, sequence: &str, id: i64) -> StoreResult<bool>;
}

/// What a delete of a parameter set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetDeletion {
    Deleted,
    NotFound,
    /// The default set is never deleted.
    IsDefault,
    /// A test item refers to it.
    InUse,
}

#[async_trait]
pub trait ParameterSetStore: Send + Sync {
    /// Creates version 1 of a set with a new id. The first set created while no default
    /// exists becomes the default. `Conflict` when the name is taken.
    async fn create_parameter_set(
        &self,
        name: &str,
        description: &str,
        params: &Params,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ParameterSet>;
    async fn get_parameter_set(&self, id: i64) -> StoreResult<Option<ParameterSet>>;
    async fn default_parameter_set(&self) -> StoreResult<Option<ParameterSet>>;
    /// Sets by id, ascending, ids after `after_id`.
    async fn list_parameter_sets(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<ParameterSet, i64>>;
    /// Writes `next` (its `version` one above the stored one) if the stored version is still
    /// `next.version - 1`, keeping the stored version in the history. `None` when the set does
    /// not exist; `Conflict` when the version moved meanwhile or the new name is taken.
    /// `is_default` is not changed here.
    async fn update_parameter_set(&self, next: &ParameterSet) -> StoreResult<Option<ParameterSet>>;
    /// Makes `id` the one default set. `false` when it does not exist.
    async fn set_default_parameter_set(&self, id: i64) -> StoreResult<bool>;
    async fn delete_parameter_set(&self, id: i64) -> StoreResult<SetDeletion>;
    /// Every version of the set, newest first, the current one included.
    async fn list_parameter_set_versions(&self, id: i64) -> StoreResult<Vec<ParameterSetVersion>>;
}

#[async_trait]
pub trait TestItemStore: Send + Sync {
    /// `Conflict` when (name, job_name) is taken or the parameter set or the environment
    /// does not exist.
    async fn create_test_item(
        &self,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<TestItem>;
    async fn get_test_item(&self, id: i64) -> StoreResult<Option<TestItem>>;
    /// Items by id, ascending, ids after `after_id`.
    async fn list_test_items(
        &self,
        after_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestItem, i64>>;
    /// `None` when the item does not exist; `Conflict` as for create.
    async fn update_test_item(
        &self,
        id: i64,
        fields: &TestItemFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<TestItem>>;
    async fn delete_test_item(&self, id: i64) -> StoreResult<bool>;
    /// The enabled items of `job` with `trigger_on_new_build`, by id: what a new build of
    /// the job starts. Asked on every new build, so it reads only those items (an index of
    /// them by job), never the whole list; an unreadable one is left out.
    async fn new_build_trigger_items(&self, job: &JobName) -> StoreResult<Vec<TestItem>>;
}

/// What a delete of an environment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentDeletion {
    Deleted,
    NotFound,
    /// A test item refers to it.
    InUse,
}

#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Creates an environment with a new id. `Conflict` when the name is taken.
    async fn create_environment(
        &self,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Environment>;
    async fn get_environment(&self, id: EnvironmentId) -> StoreResult<Option<Environment>>;
    /// Environments by id, ascending, ids after `after_id`.
    async fn list_environments(
        &self,
        after_id: Option<EnvironmentId>,
        limit: usize,
    ) -> StoreResult<Page<Environment, EnvironmentId>>;
    /// Replaces the fields; `None` when it does not exist, `Conflict` when the new name is taken.
    async fn update_environment(
        &self,
        id: EnvironmentId,
        fields: &EnvironmentFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Environment>>;
    /// Deletes it unless a test item refers to it (checked atomically with the delete).
    async fn delete_environment(&self, id: EnvironmentId) -> StoreResult<EnvironmentDeletion>;
}

/// The most notification channels kept (a list answers them all, without paging).
pub const MAX_CHANNELS: usize = 100;

#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Creates a channel with a new id.
    async fn create_channel(
        &self,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Channel>;
    async fn get_channel(&self, id: ChannelId) -> StoreResult<Option<Channel>>;
    /// Every channel, by id (a record that cannot be read is logged and left out).
    async fn list_channels(&self) -> StoreResult<Vec<Channel>>;
    /// Replaces the fields; `None` when it does not exist.
    async fn update_channel(
        &self,
        id: ChannelId,
        fields: &ChannelFields,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Channel>>;
    /// `false` when it did not exist.
    async fn delete_channel(&self, id: ChannelId) -> StoreResult<bool>;
}

#[async_trait]
pub trait JobSelectionStore: Send + Sync {
    async fn get_job_selection(&self, job: &JobName) -> StoreResult<Option<JobSelection>>;
    /// Every selection, by job name.
    async fn list_job_selections(&self) -> StoreResult<Vec<JobSelection>>;
    /// Saves the selection. With `only_if_build_id`, only while the stored selection still
    /// points at that build (`Conflict` otherwise, also when none is stored).
    async fn put_job_selection(
        &self,
        selection: &JobSelection,
        only_if_build_id: Option<i64>,
    ) -> StoreResult<()>;
    async fn delete_job_selection(&self, job: &JobName) -> StoreResult<bool>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The settings and their version; defaults and version 0 before the first save.
    async fn get_settings(&self) -> StoreResult<(Settings, i64)>;
    /// Saves if the stored version is still `expected_version`; returns the new version.
    /// `Conflict` when someone saved meanwhile.
    async fn put_settings(&self, settings: &Settings, expected_version: i64) -> StoreResult<i64>;
}

/// What [`RunStore::admit_run`] did with a new run.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Stored as given, holding its lane's lock: start its execution.
    Started,
    /// Stored QUEUED at this 1-based place of its lane's queue.
    Queued { position: usize },
    /// Nothing written: the lane is busy (its lock, if one is held) and queueing was not asked
    /// for, or the queue is full ([`crate::domain::MAX_QUEUED_PER_LANE`]).
    Busy {
        lock: Option<RunLock>,
        queue_full: bool,
    },
    /// Nothing written: with queueing, the same person's live run of the same item and
    /// build (`twin`) is already active or queued.
    Duplicate { twin: Box<Run> },
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores the new `run` (PENDING) in one atomic decision on its lane (`run.lane`):
    /// lane free (no lock) and its queue empty → the run takes the lock until `lease_until`
    /// (`Started`); otherwise, with `queue`, the run is stored as `run.queued(seq)` at the
    /// end of the lane's queue (`Queued`), else nothing is written (`Busy`). Of many
    /// concurrent calls on a free lane exactly one starts; the queued ones get distinct places.
    /// Whether a live (not terminal) run of the same test item and build by the same
    /// person exists, on any lane, is part of the same decision (with or without `queue`):
    /// then nothing is written (`Duplicate`), so of concurrent identical calls exactly one
    /// is admitted.
    async fn admit_run(
        &self,
        run: &Run,
        queue: bool,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Admission>;
    /// The lane's QUEUED runs, first in line first.
    async fn queued_runs(&self, lane: &LaneId) -> StoreResult<Vec<Run>>;
    /// `started` (`head.leave_queue(now)`) takes its lane's lock until `lease_until` and
    /// leaves the queue, atomically: only while the lane has no lock and the stored run is
    /// still QUEUED at `started.revision - 1`. `false` (nothing written) otherwise. Of
    /// concurrent claims of a lane exactly one wins.
    async fn claim_lane(&self, started: &Run, lease_until: DateTime<Utc>) -> StoreResult<bool>;
    /// Writes `cancelled` (a QUEUED run's next revision, CANCELLED) and takes it out of its
    /// lane's queue, atomically: `false` (nothing written) when the stored run is not QUEUED
    /// at `cancelled.revision - 1` (it started or changed meanwhile); `Conflict` when the
    /// lane kept changing under it (nothing written either: try again).
    async fn cancel_queued_run(&self, cancelled: &Run) -> StoreResult<bool>;
    async fn get_run(&self, id: i64) -> StoreResult<Option<Run>>;
    /// Writes `run` if the stored revision is `run.revision - 1` (`Conflict` otherwise).
    async fn update_run(&self, run: &Run) -> StoreResult<()>;
    /// Runs newest first, optionally only those with `status`, ids below `before_id`.
    async fn list_runs(
        &self,
        status: Option<RunStatus>,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>>;
    async fn list_runs_of_item(
        &self,
        test_item_id: i64,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<Run, i64>>;
    /// The lane's lock, when a run holds it (a lapsed lease is still held).
    async fn get_run_lock(&self, lane: &LaneId) -> StoreResult<Option<RunLock>>;
    /// Releases the lane's lock if `run_id` holds it; `true` when it did.
    async fn release_run_lock(&self, lane: &LaneId, run_id: i64) -> StoreResult<bool>;
    /// Releases the lock `run_id` holds, on whichever lane, without needing its record to
    /// parse (the last resort of a run whose record is unreadable); the lane it released.
    async fn release_lock_of_run(&self, run_id: i64) -> StoreResult<Option<LaneId>>;
    /// Sets the lease of the lane's lock to `lease_until` if `run_id` holds it; `true` when it did.
    async fn renew_run_lock(
        &self,
        lane: &LaneId,
        run_id: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// The test cases of completed runs (at most `MAX_CASES_PER_RUN` per run), kept with the
/// run's item, build, parameter-set version and environment for histories and flakiness.
#[async_trait]
pub trait TestCaseStore: Send + Sync {
    /// Stores the cases of `run` (a completed run), replacing any stored for it before:
    /// the notify step may run again.
    async fn put_test_cases(&self, run: &Run, cases: &[TestCase]) -> StoreResult<()>;
    /// A page of a run's cases in id order, after `after`, only of `status` when given.
    async fn list_test_cases(
        &self,
        run_id: i64,
        status: Option<TestStatus>,
        after: Option<&TestId>,
        limit: usize,
    ) -> StoreResult<Page<TestCase, TestId>>;
    /// Every stored case of a run, in id order (empty when none were stored).
    async fn all_test_cases(&self, run_id: i64) -> StoreResult<Vec<TestCase>>;
    /// One test's result in each run of the item that has it, newest run first; only
    /// runs older than `before_run` when given.
    async fn test_history(
        &self,
        item_id: i64,
        test: &TestId,
        before_run: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<TestResultOfRun, i64>>;
    /// Records `tests` as flaky in the item, replacing the entries of the same ids.
    async fn put_flaky_tests(&self, item_id: i64, tests: &[FlakyTest]) -> StoreResult<()>;
    /// The item's flaky entries, the most recently seen first (then by id), at most `limit`.
    async fn list_flaky_tests(&self, item_id: i64, limit: usize) -> StoreResult<Vec<FlakyTest>>;
}

/// Which audit entries a list wants: by actor, by target, or both (exact matches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub target: Option<String>,
}

/// The audit trail: append-only (there is no update or delete).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entry`; the store gives it the next id.
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<AuditEntry>;
    /// A page of entries matching `filter`, newest first, older than id `before` when given.
    /// A page may hold fewer than `limit` entries (even none) while `next` says there is
    /// more to look through: a store that filters as it reads stops after a bounded read.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Page<AuditEntry, i64>>;
}

/// What an import of one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Imported {
    /// The store had no record with that id.
    Created,
    /// The store held the same id with other content, now replaced by the imported one.
    Replaced,
    /// The store already held exactly this record: nothing written.
    Unchanged,
}

/// The id sequences of [`IdCounters`], each with the records that take their ids from it.
pub mod sequences {
    pub const BUILDS: &str = "builds";
    pub const PARAMETER_SETS: &str = "parameter_sets";
    pub const TEST_ITEMS: &str = "test_items";
    pub const ENVIRONMENTS: &str = "environments";
    pub const RUNS: &str = "runs";
}

/// Writes records as they are, ids included (`crat import`, moving a store to another back
/// end). Each put is idempotent: a record equal to the stored one writes nothing
/// (`Unchanged`), a new id is created, a different one replaced; uniqueness rules still
/// hold (`Conflict` when another id holds the name, or a referenced record is missing),
/// and the record's own guards and references move with it. Locks, queues and sessions
/// are not part of it.
#[async_trait]
pub trait ImportStore: Send + Sync {
    async fn import_build(&self, build: &Build) -> StoreResult<Imported>;
    /// The set as it is now, with every stored version (the current one among them).
    async fn import_parameter_set(
        &self,
        set: &ParameterSet,
        versions: &[ParameterSetVersion],
    ) -> StoreResult<Imported>;
    async fn import_environment(&self, environment: &Environment) -> StoreResult<Imported>;
    /// Its parameter set and environment must exist (imported before it).
    async fn import_test_item(&self, item: &TestItem) -> StoreResult<Imported>;
    async fn import_settings(&self, settings: &Settings, version: i64) -> StoreResult<Imported>;
    /// The run record only: a run that was not terminal takes no lock and joins no queue.
    async fn import_run(&self, run: &Run) -> StoreResult<Imported>;
    /// Moves the sequence so that its next id is above `at_least`; never moves it back.
    async fn advance_counter(&self, sequence: &str, at_least: i64) -> StoreResult<()>;
}

/// Everything CRAT stores.
///
/// Timestamps: every time a store is given reads back to the millisecond. Digits below
/// the millisecond may be dropped (truncated, never rounded: the SQLite store keeps
/// exactly three, as fixed-width text it compares in SQL) or kept (DynamoDB and records
/// held as JSON keep nanoseconds); so callers compare stored times at millisecond
/// precision, never finer. The conformance suite checks this on every record kind
/// (`timestamps_read_back_to_the_millisecond`).
pub trait Store:
    BuildStore
    + SessionStore
    + LoginFailureStore
    + IdCounters
    + ParameterSetStore
    + TestItemStore
    + EnvironmentStore
    + ChannelStore
    + JobSelectionStore
    + SettingsStore
    + RunStore
    + TestCaseStore
    + AuditStore
    + ImportStore
    + statemachine::ExecutionStore
{
}

impl<T> Store for T where
    T: BuildStore
        + SessionStore
        + LoginFailureStore
        + IdCounters
        + ParameterSetStore
        + TestItemStore
        + EnvironmentStore
        + ChannelStore
        + ChannelStore
        + JobSelectionStore
        + SettingsStore
        + RunStore
        + TestCaseStore
        + AuditStore
        + ImportStore
        + statemachine::ExecutionStore
{
}
