//! Every item's keys: the partition and sort key builders and the constant keys. Keys
//! are spelled here only.
//!
//! # Table design
//!
//! Table keys `PK` (S) and `SK` (S); billing PAY_PER_REQUEST. Two global secondary
//! indexes, projection ALL: `GSI1` (`GSI1PK`, `GSI1SK`) and `GSI2` (`GSI2PK`, `GSI2SK`),
//! all strings. TTL attribute `ttl` (epoch seconds). DynamoDB deletes expired items
//! late (and DynamoDB-compatible test servers never do), so expiry is always checked
//! in code as well.
//!
//! | item | PK | SK | GSI1PK / GSI1SK | GSI2PK / GSI2SK | other attributes |
//! |---|---|---|---|---|---|
//! | id counter | `COUNTER#<sequence>` | `COUNTER` | | | `value` N (ADD 1, starts at 1) |
//! | build | `BUILD#<id>` | `BUILD` | `BUILDS` / id zero-padded to 20 digits | `JOB#<job_name>` / id zero-padded | `id`, `job_name`, `build_number`, `build_user` (absent when none), `package_path`, `created_at` |
//! | build uniqueness guard | `BUILDKEY#<build_number>#<job_name>` | `BUILDKEY` | | | `build_id` |
//! | job | `JOB#<job_name>` | `JOB` | `JOBS` / job_name | | `job_name`, `latest_build_id`, `latest_build_number` |
//! | session (one per role) | `SESSION#<email>` | `SESSION#ADMIN` or `SESSION#USER` | `SESSIONS` / `<email>#<0 user, 1 admin>` | | `email`, `session_id`, `is_admin`, `token_sha256`, `created_at`, `expires_at`, `ttl` |
//! | failed logins | `LOGINFAIL#<key>` | `LOGINFAIL` | | | `count` N, `window_start`, `ttl` (window end) |
//! | parameter set | `PSET#<id>` | `PSET` | `PSETS` / id zero-padded | | `id`, `name`, `description`, `params_json` (S: the params object as JSON), `is_default` (BOOL), `version`, `created_at`, `updated_at`, `updated_by` (absent when none), `ref_count` (N: test items referring to it) |
//! | parameter set version | `PSET#<id>` | `VERSION#<version zero-padded to 10>` | | | `parameter_set_id`, `version`, `name`, `description`, `params_json`, `updated_at`, `updated_by` |
//! | set name guard | `PSETNAME#<name>` | `PSETNAME` | | | `set_id` |
//! | default set pointer | `PSETDEFAULT` | `PSETDEFAULT` | | | `set_id` |
//! | test item | `ITEM#<id>` | `ITEM` | `ITEMS` / id zero-padded | | `id`, `name`, `job_name`, `parameter_set_id` (absent when none), `description`, `enabled` (BOOL), `notify_emails` (L of S), `created_at`, `updated_at` |
//! | test item guard | `ITEMKEY#<name>#<job_name>` | `ITEMKEY` | | | `item_id` |
//! | job selection | `JOBSEL#<job_name>` | `JOBSEL` | `JOBSELS` / job_name | | `job_name`, `build_id`, `build_number`, `auto_sync`, `sync_on_new_build` (BOOL), `last_synced_at`, `updated_by`, `updated_at` |
//! | settings | `SETTINGS` | `SETTINGS` | | | `settings_json` (S: the settings as JSON), `version` N |
//! | run | `RUN#<id>` | `RUN` | `RUNS` / id zero-padded | `ITEMRUNS#<test_item_id>` / id zero-padded | `id`, `test_item_id`, `status` (S, for list filters), `revision` N, `run_json` (S: the whole run as JSON) |
//! | run lock | `RUNLOCK` | `RUNLOCK` | | | `run_id` N, `lease_until` (S), `lease_until_ns` (N: epoch nanoseconds, for the condition), `ttl` (lease end, rounded up) |
//! | execution record | `EXEC#<id>` | `EXEC` | `EXECS_RUNNING` / id (while running) | | `record_json` (without history) |
//! | execution event | `EXEC#<id>` | `EV#<event id zero-padded to 20>` | | | `event_json` |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::Item;
use super::table::{GsiSchema, PK, SK};
use crate::domain::{Email, JobName, Session, TestItem};

// ---- id counters ----------------------------------------------------------------------

pub(super) const COUNTER_SK: &str = "COUNTER";
pub(super) const BUILD_SEQUENCE: &str = "builds";
pub(super) const PSET_SEQUENCE: &str = "parameter_sets";
pub(super) const ITEM_SEQUENCE: &str = "test_items";

pub(super) fn counter_pk(sequence: &str) -> String {
    format!("COUNTER#{sequence}")
}

// ---- builds and jobs ------------------------------------------------------------------

pub(super) const BUILD_SK: &str = "BUILD";
/// The GSI1 partition of all builds.
pub(super) const BUILDS: &str = "BUILDS";
pub(super) const BUILD_GUARD_SK: &str = "BUILDKEY";
pub(super) const JOB_SK: &str = "JOB";
/// The GSI1 partition of all jobs.
pub(super) const JOBS: &str = "JOBS";

pub(super) fn build_pk(id: i64) -> String {
    format!("BUILD#{id}")
}

/// The uniqueness guard of (build number, job).
pub(super) fn build_guard_pk(build_number: impl std::fmt::Display, job: &JobName) -> String {
    format!("BUILDKEY#{build_number}#{job}")
}

/// A job's item, and the GSI2 partition of its builds.
pub(super) fn job_pk(job: &str) -> String {
    format!("JOB#{job}")
}

// ---- sessions and login failures ------------------------------------------------------

/// The GSI1 partition of all sessions.
pub(super) const SESSIONS: &str = "SESSIONS";
/// The sort key of the one session per email kept before sessions were per role; such
/// items are ignored and expire by TTL.
pub(super) const LEGACY_SESSION_SK: &str = "SESSION";
const ADMIN_SESSION_SK: &str = "SESSION#ADMIN";
const USER_SESSION_SK: &str = "SESSION#USER";
pub(super) const LOGIN_FAILURES_SK: &str = "LOGINFAIL";

pub(super) fn session_pk(email: &Email) -> String {
    format!("SESSION#{email}")
}

/// One session per role under the email's partition.
pub(super) fn session_sk(is_admin: bool) -> &'static str {
    if is_admin {
        ADMIN_SESSION_SK
    } else {
        USER_SESSION_SK
    }
}

/// A session's GSI1 sort key: by email, then role (user before admin).
pub(super) fn session_index_sk(session: &Session) -> String {
    format!("{}#{}", session.email, u8::from(session.is_admin))
}

pub(super) fn login_failures_pk(k: &str) -> String {
    format!("LOGINFAIL#{k}")
}

// ---- parameter sets -------------------------------------------------------------------

pub(super) const PSET_SK: &str = "PSET";
/// The GSI1 partition of all parameter sets.
pub(super) const PSETS: &str = "PSETS";
pub(super) const PSET_NAME_SK: &str = "PSETNAME";
/// The default-set pointer's PK and SK.
pub(super) const PSET_DEFAULT: &str = "PSETDEFAULT";
pub(super) const VERSION_PREFIX: &str = "VERSION#";

pub(super) fn pset_pk(id: i64) -> String {
    format!("PSET#{id}")
}

pub(super) fn pset_name_pk(name: &str) -> String {
    format!("PSETNAME#{name}")
}

/// A version's sort key; zero-padded so versions sort in order.
pub(super) fn pset_version_sk(version: i64) -> String {
    format!("{VERSION_PREFIX}{version:010}")
}

// ---- test items and job selections ----------------------------------------------------

pub(super) const ITEM_SK: &str = "ITEM";
/// The GSI1 partition of all test items.
pub(super) const ITEMS: &str = "ITEMS";
pub(super) const ITEM_KEY_SK: &str = "ITEMKEY";
pub(super) const JOB_SELECTION_SK: &str = "JOBSEL";
/// The GSI1 partition of all job selections.
pub(super) const JOB_SELECTIONS: &str = "JOBSELS";

pub(super) fn item_pk(id: i64) -> String {
    format!("ITEM#{id}")
}

/// The (name, job) guard of a test item. Service names never contain `#`, job names may:
/// the name goes first so the key is unambiguous.
pub(super) fn item_key_pk(item: &TestItem) -> String {
    format!("ITEMKEY#{}#{}", item.name, item.job_name)
}

pub(super) fn job_selection_pk(job: &JobName) -> String {
    format!("JOBSEL#{job}")
}

// ---- settings -------------------------------------------------------------------------

/// The settings record's PK and SK.
pub(super) const SETTINGS: &str = "SETTINGS";

// ---- runs and the run lock ------------------------------------------------------------

pub(super) const RUN_SK: &str = "RUN";
/// The GSI1 partition of all runs.
pub(super) const RUNS: &str = "RUNS";
/// The run lock's PK and SK.
pub(super) const RUN_LOCK: &str = "RUNLOCK";

pub(super) fn run_pk(id: i64) -> String {
    format!("RUN#{id}")
}

/// The GSI2 partition of one test item's runs.
pub(super) fn item_runs_pk(test_item_id: i64) -> String {
    format!("ITEMRUNS#{test_item_id}")
}

// ---- embedded-executor records --------------------------------------------------------

pub(super) const EXEC_SK: &str = "EXEC";
/// The sparse GSI1 partition of the running executions.
pub(super) const EXECS_RUNNING: &str = "EXECS_RUNNING";

pub(super) fn exec_pk(id: &str) -> String {
    format!("EXEC#{id}")
}

pub(super) fn event_sk(id: u64) -> String {
    format!("EV#{id:020}")
}

// ---- whole keys -----------------------------------------------------------------------

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// An id as a sort key that orders like the number (ids are positive).
pub(super) fn padded(id: i64) -> String {
    format!("{id:020}")
}

/// An item's partition key, to name it in logs.
pub(super) fn item_pk_of(item: &Item) -> String {
    item.get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| "<no PK>".to_owned())
}

/// An item's whole key (`PK/SK`), to name it in logs.
pub(super) fn item_key_of(item: &Item) -> String {
    let sk = item.get(SK).and_then(|v| v.as_s().ok());
    format!(
        "{}/{}",
        item_pk_of(item),
        sk.map_or("<no SK>", String::as_str)
    )
}

/// The id an index row sorts by (its zero-padded sort key), for a page cursor.
pub(super) fn index_id(item: &Item, gsi: GsiSchema) -> i64 {
    item.get(gsi.sort_key)
        .and_then(|v| v.as_s().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
