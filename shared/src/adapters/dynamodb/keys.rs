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
//! | test item | `ITEM#<id>` | `ITEM` | `ITEMS` / id zero-padded | `NEWBUILD#<job_name>` / id zero-padded, only while enabled with `trigger_on_new_build` | `id`, `name`, `job_name`, `parameter_set_id` (absent when none), `environment_id` (absent when none: the default), `description`, `enabled` (BOOL), `notify_emails` (L of S), `trigger_on_new_build` (BOOL), `created_at`, `updated_at` |
//! | test item guard | `ITEMKEY#<name>#<job_name>` | `ITEMKEY` | | | `item_id` |
//! | environment | `ENV#<id>` | `ENV` | `ENVS` / id zero-padded | | `id`, `name`, `external_test_server_url`, `report_origins` (L of S), `description`, `enabled` (BOOL), `created_at`, `updated_at`, `ref_count` (N: test items referring to it) |
//! | environment name guard | `ENVNAME#<name>` | `ENVNAME` | | | `environment_id` |
//! | job selection | `JOBSEL#<job_name>` | `JOBSEL` | `JOBSELS` / job_name | | `job_name`, `build_id`, `build_number`, `auto_sync`, `sync_on_new_build` (BOOL), `last_synced_at`, `updated_by`, `updated_at` |
//! | settings | `SETTINGS` | `SETTINGS` | | | `settings_json` (S: the settings as JSON), `version` N |
//! | run | `RUN#<id>` | `RUN` | `RUNS` / id zero-padded | `ITEMRUNS#<test_item_id>` / id zero-padded | `id`, `test_item_id`, `status` (S, for list filters), `revision` N, `lane` (S: read without decoding the run, to release its lane), `run_json` (S: the whole run as JSON) |
//! | run lock | `RUNLOCK` | `RUNLOCK` | | | `run_id` N, `lease_until` (S), `lease_until_ns` (N: epoch nanoseconds, for the condition), `ttl` (lease end, rounded up), `guard` (S: the holder's duplicate guard PK) |
//! | run duplicate guard (while the run is active or queued) | `RUNGUARD#<test_item_id>#<build_info_id>#<triggered_by>` | `RUNGUARD` | | | `run_id` N |
//! | execution record | `EXEC#<id>` | `EXEC` | `EXECS_RUNNING` / id (while running) | | `record_json` (without history) |
//! | execution event | `EXEC#<id>` | `EV#<event id zero-padded to 20>` | | | `event_json` |
//! | a run's test cases, head | `RUN#<id>` | `TESTS` | | | `generation` (S: names the chunks in use), `count` N |
//! | a run's test cases, chunk | `RUN#<id>` | `TESTS#<generation>#<last test id in it>` | | | `cases_json` (S: a JSON array of cases in id order, at most 300 KB) |
//! | one test's result in one run | `TESTHIST#<test_item_id>#<test id>` | run id zero-padded | | | `result_json` (S: the TestResultOfRun) |
//! | a flaky test of an item | `FLAKY#<test_item_id>` | test id | `FLAKY#<test_item_id>` / `<last_seen_at, epoch ns, 20 digits>#<test id inverted>` (most recent first, then by id) | | `flaky_json` (S: the FlakyTest) |
//! | notification channel | `CHANNEL#<id>` | `CHANNEL` | `CHANNELS` / id zero-padded | | `id`, `doc` (S: the fields as JSON, the secret inside), `created_at`, `updated_at` |
//! | audit entry (append-only: written once, never updated or deleted) | `AUDIT#<id>` | `AUDIT` | `AUDIT` / id zero-padded | `AUDITBY#<actor>` / id zero-padded | `id`, `actor`, `target` (S, for the target filter), `entry_json` (S: the AuditEntry) |

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
pub(super) const ENV_SEQUENCE: &str = "environments";
pub(super) const AUDIT_SEQUENCE: &str = "audit";
pub(super) const CHANNEL_SEQUENCE: &str = "channels";

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

/// The GSI2 partition of a job's items that a new build starts (sparse: only enabled
/// items with `trigger_on_new_build` carry it).
pub(super) fn new_build_items_pk(job: &JobName) -> String {
    format!("NEWBUILD#{job}")
}

pub(super) fn job_selection_pk(job: &JobName) -> String {
    format!("JOBSEL#{job}")
}

// ---- environments ---------------------------------------------------------------------

pub(super) const ENV_SK: &str = "ENV";
/// The GSI1 partition of all environments.
pub(super) const ENVS: &str = "ENVS";
pub(super) const ENV_NAME_SK: &str = "ENVNAME";

pub(super) fn env_pk(id: i64) -> String {
    format!("ENV#{id}")
}

/// The uniqueness guard of an environment name.
pub(super) fn env_name_pk(name: &str) -> String {
    format!("ENVNAME#{name}")
}

// ---- settings -------------------------------------------------------------------------

/// The settings record's PK and SK.
pub(super) const SETTINGS: &str = "SETTINGS";

// ---- runs and the run lock ------------------------------------------------------------

pub(super) const RUN_SK: &str = "RUN";
/// The GSI1 partition of all runs.
pub(super) const RUNS: &str = "RUNS";
/// The run lock's PK and SK: the default lane's item (other lanes' PK adds `#<lane>`).
pub(super) const RUN_LOCK: &str = "RUNLOCK";

/// The lane item's PK: the single run lock of earlier versions is the default lane's, so
/// a lock held across the upgrade keeps holding.
pub(super) fn lane_pk(lane: &crate::domain::LaneId) -> String {
    if lane.is_default() {
        RUN_LOCK.to_owned()
    } else {
        format!("{RUN_LOCK}#{lane}")
    }
}

pub(super) const RUN_GUARD_SK: &str = "RUNGUARD";

/// The guard that one person has one live run of an item's build: taken when the run is
/// admitted, dropped when it leaves its lane (or, left over, by the next identical trigger).
pub(super) fn run_guard_pk(run: &crate::domain::Run) -> String {
    format!(
        "RUNGUARD#{}#{}#{}",
        run.test_item_id, run.build_info_id, run.triggered_by
    )
}

/// The partition of a lane's queue entries (SK: the padded queue place).
pub(super) fn queue_pk(lane: &crate::domain::LaneId) -> String {
    format!("QUEUE#{lane}")
}

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

// ---- test cases, history, flaky tests ------------------------------------------------

/// The SK of a run's test-case head (under the run's PK); chunks are `TESTS#<gen>#<last id>`.
pub(super) const TESTS_HEAD_SK: &str = "TESTS";

/// The SK prefix of one generation of a run's case chunks.
pub(super) fn test_chunk_prefix(generation: &str) -> String {
    format!("{TESTS_HEAD_SK}#{generation}#")
}

/// One test's history partition in an item (SK: the padded run id).
pub(super) fn test_history_pk(test_item_id: i64, test: &crate::domain::TestId) -> String {
    format!("TESTHIST#{test_item_id}#{test}")
}

/// An item's flaky tests (SK: the test id), and their GSI1 partition.
pub(super) fn flaky_pk(test_item_id: i64) -> String {
    format!("FLAKY#{test_item_id}")
}

/// The characters a test id may hold, in byte order.
const TEST_ID_ALPHABET: &[u8] =
    b"-.0123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// A flaky entry's GSI1 sort key: read newest first (descending), entries seen at the same
/// time come by id ascending, since the id is written with its alphabet reversed and ended
/// by `~` (above every character of it), which reverses the order of ids.
pub(super) fn flaky_index_sk(last_seen_ns: i64, test: &crate::domain::TestId) -> String {
    let last = TEST_ID_ALPHABET.len() - 1;
    let inverted: String = test
        .as_str()
        .bytes()
        .map(|b| {
            let i = TEST_ID_ALPHABET.iter().position(|a| *a == b).unwrap_or(0);
            char::from(TEST_ID_ALPHABET[last - i])
        })
        .collect();
    format!("{:020}#{inverted}~", last_seen_ns.max(0))
}

// ---- notification channels ---------------------------------------------------------

pub(super) const CHANNEL_SK: &str = "CHANNEL";
/// The GSI1 partition of every channel.
pub(super) const CHANNELS: &str = "CHANNELS";

pub(super) fn channel_pk(id: i64) -> String {
    format!("CHANNEL#{id}")
}

// ---- audit trail ----------------------------------------------------------------------

pub(super) const AUDIT_SK: &str = "AUDIT";
/// The GSI1 partition of every audit entry.
pub(super) const AUDIT: &str = "AUDIT";

pub(super) fn audit_pk(id: i64) -> String {
    format!("AUDIT#{id}")
}

/// The GSI2 partition of one actor's audit entries.
pub(super) fn audit_by_pk(actor: &str) -> String {
    format!("AUDITBY#{actor}")
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

#[cfg(test)]
mod tests {
    //! The keys are stored data: a changed format would orphan every item written before.
    //! These pin each one to the table in this module's opening comment.

    use super::*;
    use crate::domain::{BuildNumber, ServiceName};

    #[test]
    fn keys_keep_their_stored_format() {
        let job = JobName::parse("job_name", "team/CDN#1").unwrap();
        let email = Email::parse("email", "qa@example.com").unwrap();
        assert_eq!(counter_pk("builds"), "COUNTER#builds");
        assert_eq!(build_pk(42), "BUILD#42");
        assert_eq!(
            build_guard_pk(BuildNumber::from_stored(7), &job),
            "BUILDKEY#7#team/CDN#1"
        );
        assert_eq!(job_pk(job.as_str()), "JOB#team/CDN#1");
        assert_eq!(session_pk(&email), "SESSION#qa@example.com");
        assert_eq!(
            (session_sk(true), session_sk(false)),
            ("SESSION#ADMIN", "SESSION#USER")
        );
        assert_eq!(login_failures_pk("admin"), "LOGINFAIL#admin");
        assert_eq!(pset_pk(3), "PSET#3");
        assert_eq!(pset_name_pk("base"), "PSETNAME#base");
        assert_eq!(pset_version_sk(12), "VERSION#0000000012");
        assert_eq!(item_pk(5), "ITEM#5");
        assert_eq!(job_selection_pk(&job), "JOBSEL#team/CDN#1");
        assert_eq!(env_pk(4), "ENV#4");
        assert_eq!(env_name_pk("staging #2"), "ENVNAME#staging #2");
        assert_eq!(
            (ENV_SK, ENVS, ENV_NAME_SK, ENV_SEQUENCE),
            ("ENV", "ENVS", "ENVNAME", "environments")
        );
        assert_eq!(run_pk(9), "RUN#9");
        assert_eq!(item_runs_pk(5), "ITEMRUNS#5");
        assert_eq!(exec_pk("x-1"), "EXEC#x-1");
        assert_eq!(event_sk(3), "EV#00000000000000000003");
        assert_eq!(padded(42), "00000000000000000042");
        let id = crate::domain::TestId::parse("id", "a1").unwrap();
        assert_eq!(test_chunk_prefix("g"), "TESTS#g#");
        assert_eq!(test_history_pk(5, &id), "TESTHIST#5#a1");
        assert_eq!(flaky_pk(5), "FLAKY#5");
        assert_eq!(flaky_index_sk(7, &id), "00000000000000000007#Mw~");
        let constants = [
            COUNTER_SK,
            BUILD_SK,
            BUILDS,
            BUILD_GUARD_SK,
            JOB_SK,
            JOBS,
            SESSIONS,
            LEGACY_SESSION_SK,
            LOGIN_FAILURES_SK,
            PSET_SK,
            PSETS,
            PSET_NAME_SK,
            PSET_DEFAULT,
            ITEM_SK,
            ITEMS,
            ITEM_KEY_SK,
            JOB_SELECTION_SK,
            JOB_SELECTIONS,
            SETTINGS,
            RUN_SK,
            RUNS,
            RUN_LOCK,
            EXEC_SK,
            EXECS_RUNNING,
        ];
        assert_eq!(
            constants,
            [
                "COUNTER",
                "BUILD",
                "BUILDS",
                "BUILDKEY",
                "JOB",
                "JOBS",
                "SESSIONS",
                "SESSION",
                "LOGINFAIL",
                "PSET",
                "PSETS",
                "PSETNAME",
                "PSETDEFAULT",
                "ITEM",
                "ITEMS",
                "ITEMKEY",
                "JOBSEL",
                "JOBSELS",
                "SETTINGS",
                "RUN",
                "RUNS",
                "RUNLOCK",
                "EXEC",
                "EXECS_RUNNING",
            ]
        );
    }

    #[test]
    fn flaky_entries_seen_together_read_by_id_when_read_newest_first() {
        let sk =
            |t: i64, id: &str| flaky_index_sk(t, &crate::domain::TestId::parse("id", id).unwrap());
        let mut keys = vec![
            sk(1, "b"),
            sk(2, "a"),
            sk(2, "ab"),
            sk(2, "-"),
            sk(2, "z9"),
            sk(2, "Z"),
        ];
        keys.sort();
        keys.reverse();
        assert_eq!(
            keys,
            [
                sk(2, "-"),
                sk(2, "Z"),
                sk(2, "a"),
                sk(2, "ab"),
                sk(2, "z9"),
                sk(1, "b")
            ]
        );
    }

    #[test]
    fn session_index_sorts_by_email_then_role() {
        let session = |admin: bool| Session {
            email: Email::parse("email", "qa@example.com").unwrap(),
            session_id: "s".into(),
            is_admin: admin,
            token_sha256: "h".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            expires_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(session_index_sk(&session(false)), "qa@example.com#0");
        assert_eq!(session_index_sk(&session(true)), "qa@example.com#1");
    }

    #[test]
    fn a_test_item_guard_puts_the_name_first() {
        let item = TestItem {
            id: 1,
            name: ServiceName::parse("name", "cds").unwrap(),
            job_name: JobName::parse("job_name", "a#b").unwrap(),
            parameter_set_id: None,
            environment_id: None,
            description: String::new(),
            enabled: true,
            notify_emails: Vec::new(),
            trigger_on_new_build: false,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(item_key_pk(&item), "ITEMKEY#cds#a#b");
    }
}
