//! Types that parse, and the pure rules over them.

pub mod audit;
pub mod build;
pub mod channel;
pub mod config_values;
pub mod email;
mod email_schema;
pub mod environment;
pub mod field;
pub mod flaky_test;
pub mod ids;
pub mod job_version;
pub mod lane;
pub mod mail_language;
pub mod parameter_set;
#[cfg(test)]
mod round_trips;
pub mod run;
pub mod run_details;
pub mod run_estimate;
pub mod session;
pub mod settings;
pub mod test_case;
pub mod test_item;
pub mod test_plan;
pub mod timing;

pub use audit::{AuditAction, AuditEntry, NewAuditEntry};
pub use build::{Build, BuildNumber, JobName, JobSummary, NewBuild, PackagePath};
pub use channel::{
    Channel, ChannelFields, ChannelInput, ChannelKind, ChannelRule, ChannelSecret, ChannelView,
    ChatDelivery, ChatStatus, Notifications, WebhookUrl,
};
pub use config_values::{HttpUrl, Origin, ServiceName};
pub use email::Email;
pub use email_schema::{EMAIL_PATTERN, EmailText};
pub use environment::{Environment, EnvironmentFields, TestServer};
pub use field::FieldError;
pub use flaky_test::{FlakyReason, FlakyTest, MAX_FLAKY_LISTED};
pub use ids::{BuildId, ChannelId, EnvironmentId, ParameterSetId, RunId, TestItemId};
pub use job_version::{JobSelection, JobVersion};
pub use lane::{LaneId, MAX_QUEUED_PER_LANE, lane_of, lane_of_environment};
pub use mail_language::MailLanguage;
pub use parameter_set::{ParameterSet, ParameterSetVersion, Params};
pub use run::{
    Notification, NotificationStatus, Run, RunBuild, RunLock, RunOutcome, RunStatus, Step,
    StepName, StepStatus, Summary, TaskId, execution_id_of,
};
pub use run_details::{DownloadDetails, NotifyDetails, PollDetails, StepDetails, TriggerDetails};
pub use session::{
    LOGIN_WINDOW, LoginFailures, MAX_LOGIN_FAILURES, MAX_LOGIN_FAILURES_GLOBAL,
    MAX_LOGIN_FAILURES_PER_IP, Session, SessionInfo,
};
pub use settings::{
    HISTORY_EVENTS_PER_POLL_CYCLE, MAX_POLL_CYCLES, STEP_FUNCTIONS_HISTORY_LIMIT, Settings,
};
pub use test_case::{
    TestCase, TestCasesNote, TestChange, TestDiff, TestId, TestResultOfRun, TestStatus,
};
pub use test_item::{TestItem, TestItemFields};
pub use test_plan::{PlanRefusal, PlannedTest, TestPlan};
