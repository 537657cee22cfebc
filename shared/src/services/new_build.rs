//! Start on a new build: a webhook that records a new build (201, not a repeat) triggers
//! every enabled test item of that job with `trigger_on_new_build`, for that build (queued
//! when its lane is busy). The run records that the webhook started it.

use super::error::ServiceResult;
use super::lanes::AdmittedRun;
use super::runs::{TriggerInput, trigger_as};
use crate::deps::Deps;
use crate::domain::{Build, BuildId, Email, Settings, TestItem, TestItemId};

/// Who a webhook-started run is for when neither the build's user nor the item names
/// anyone: a reserved address (`.invalid`), to which no mail is ever sent.
pub const NOBODY: &str = "nobody@webhook.invalid";

/// The build's `BUILD_USER` when it is an address of an allowed domain, else the item's
/// first `notify_emails` entry, else [`NOBODY`] (the run goes; its mail is skipped).
pub fn triggered_by(build: &Build, item: &TestItem, settings: &Settings) -> Email {
    build
        .build_user
        .as_deref()
        .and_then(|raw| Email::parse("BUILD_USER", raw).ok())
        .filter(|e| e.domain_allowed(&settings.allowed_email_domains))
        .or_else(|| item.notify_emails.first().cloned())
        .unwrap_or_else(nobody)
}

fn nobody() -> Email {
    Email::from_stored("triggered_by", NOBODY).unwrap_or_else(|_| unreachable!("a valid address"))
}

/// Triggers every enabled item of `build`'s job that asks for it. A refusal of one item
/// (settings incomplete, a duplicate) is logged; the others still go.
#[tracing::instrument(skip_all, fields(build_id = build.id, job = %build.job_name))]
pub async fn trigger_items_of(state: &Deps, build: &Build) -> ServiceResult<Vec<AdmittedRun>> {
    let items = state.store.new_build_trigger_items(&build.job_name).await?;
    if items.is_empty() {
        return Ok(Vec::new()); // the usual case: no settings read, no more store calls
    }
    let settings = state.settings().await?;
    let mut started = Vec::new();
    for item in items {
        let by = triggered_by(build, &item, &settings);
        let input = TriggerInput {
            build_info_id: Some(BuildId::from_stored(build.id)),
            queue: Some(true),
        };
        match trigger_as(state, &by, TestItemId::from_stored(item.id), input, true).await {
            Ok(run) => started.push(run),
            Err(e) => {
                tracing::warn!(item = %item.name, error = %e, "new build did not trigger the item")
            }
        }
    }
    Ok(started)
}
