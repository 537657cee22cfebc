//! The store conformance suite: every adapter must pass all of it.
//! Each check takes a fresh, empty store.

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::domain::{Email, NewBuild, Session};

mod audit;
mod builds;
mod channels;
mod config;
mod environments;
pub mod import;
mod lanes;
mod round_trips;
pub mod runs;
mod sessions;
mod test_cases;
mod test_items;
mod timestamps;
mod unreadable;
pub use audit::*;
pub use builds::*;
pub use channels::*;
pub use config::*;
pub use environments::*;
pub use import::{
    an_import_keeps_ids_and_a_second_changes_nothing,
    an_import_replaces_a_different_record_and_keeps_uniqueness,
};
pub use lanes::*;
pub use round_trips::*;
pub use runs::*;
pub use sessions::*;
pub use test_cases::*;
pub use test_items::*;
pub use timestamps::*;
pub use unreadable::*;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123Z")
        .unwrap()
        .to_utc()
}

pub fn new_build(job: &str, number: i64) -> NewBuild {
    NewBuild::from_webhook(&json!({"JOB_NAME": job, "BUILD_NUMBER": number.to_string(),
        "PACKAGE_PATH": format!("CDN/pass/{job}-{number}/el7"), "BUILD_USER": "jenkins"}))
    .unwrap()
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

fn session(addr: &str, sid: &str, expires_at: DateTime<Utc>) -> Session {
    Session {
        email: email(addr),
        session_id: sid.into(),
        is_admin: sid.starts_with("admin"),
        token_sha256: format!("hash-{sid}"),
        created_at: t0(),
        expires_at,
    }
}

/// Runs every check, each on a fresh store from `make_store`; `webhooks_in_flight` bounds
/// how many of the 1,000 racing webhooks are inside the store at once.
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr, $make_raw:expr, $webhooks_in_flight:expr) => {
        /// 1,000 identical webhooks at once (issue 12).
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_thousand_identical_webhooks_make_one_build() {
            let Some(store) = $make_store.await else { return };
            conformance::a_thousand_identical_webhooks_make_one_build(store, $webhooks_in_flight).await;
        }
        /// A store with a way to write records past its checks.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn unreadable_records_are_left_out_of_lists() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::unreadable_records_are_left_out_of_lists(store, raw).await;
        }
        /// A run record that cannot be read does not keep its lane.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_lane_is_released_by_run_id_when_its_run_cannot_be_read() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::a_lane_is_released_by_run_id_when_its_run_cannot_be_read(store, raw).await;
        }
        /// A channel record that cannot be read is left out of the list.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn an_unreadable_channel_is_left_out_of_the_list() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::an_unreadable_channel_is_left_out_of_the_list(store, raw).await;
        }
        /// A repeated webhook repairs a build stored under the old rules.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn repeat_webhook_repairs_an_unreadable_stored_build() {
            let Some((store, raw)) = $make_raw.await else { return };
            conformance::repeat_webhook_repairs_an_unreadable_stored_build(store, raw).await;
        }
        $crate::conformance_tests!(@each $make_store;
            ids_are_sequential_per_sequence,
            a_given_back_id_is_handed_out_again,
            build_round_trips,
            repeat_insert_returns_the_first_build,
            concurrent_identical_inserts_create_one_build,
            builds_list_newest_first_with_pages_and_job_filter,
            jobs_list_their_highest_build,
            a_build_is_found_by_its_job_and_number,
            one_session_per_email_and_role,
            expired_sessions_are_not_listed,
            login_attempts_are_checked_and_counted_atomically,
            first_parameter_set_is_the_default_and_names_are_unique,
            concurrent_first_sets_make_one_default,
            updates_bump_version_and_keep_history,
            default_and_in_use_sets_are_not_deleted,
            test_items_round_trip_and_are_unique_per_job,
            a_new_build_starts_only_its_jobs_enabled_trigger_items,
            environments_round_trip_and_names_are_unique,
            environments_in_use_are_not_deleted,
            an_environment_deleted_while_items_join_it_leaves_no_dangling_item,
            job_selections_save_conditionally,
            latest_build_is_the_highest_number,
            settings_default_then_versioned_saves,
            run_lock_admits_one_run_at_a_time,
            run_lock_lease_is_renewed_by_its_holder_only,
            concurrent_starts_have_one_winner,
            lanes_hold_one_run_each_independently,
            concurrent_admissions_queue_at_distinct_places,
            the_head_claims_a_freed_lane_exactly_once,
            a_cancelled_queued_run_leaves_the_queue,
            identical_triggers_admit_one_run_until_it_ends,
            runs_round_trip_and_update_by_revision,
            runs_list_by_status_and_item,
            execution_records_round_trip_and_running_ones_are_listed,
            execution_history_is_appended_and_read_page_by_page,
            accepted_values_re_read_equal,
            timestamps_read_back_to_the_millisecond,
            test_cases_round_trip_every_field,
            test_case_pages_visit_every_case_once,
            replacing_test_cases_leaves_no_leftovers,
            the_most_cases_a_run_keeps_round_trip,
            test_history_is_newest_first_paged_and_of_its_item_only,
            flaky_tests_are_replaced_by_id_and_listed_most_recent_first,
            audit_entries_append_in_order_and_list_by_actor_and_target,
            channels_read_back_whole_and_are_replaced_and_deleted,
            an_import_keeps_ids_and_a_second_changes_nothing,
            an_import_replaces_a_different_record_and_keeps_uniqueness,
        );
    };
    (@each $make_store:expr; $($name:ident),* $(,)?) => {

        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make_store.await else { return };
                conformance::$name(store).await;
            }
        )*
    };
}
