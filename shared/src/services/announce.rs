//! The chat part of the notify task: after the mail, tell every enabled channel that
//! covers the run's item and whose rule wants it. Each channel is tried on its own
//! (concurrently, with its own retries), the outcome is recorded per channel on the run
//! (`notifications.chat`), and nothing here changes the run's outcome. A channel already
//! recorded for the run is not told again (a retried task, a restart).

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::chat_send::{self, SendResult};
use crate::chat::{ChatFacts, run_message};
use crate::deps::Deps;
use crate::domain::{Channel, ChatDelivery, ChatStatus, Run, RunOutcome};
use crate::tasks::{ErrorName, RunRef, TaskError, excerpt, update_run};

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnnounceOutput {
    pub sent: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The outcome of the item's run before `run` (not a cancelled one), for `changed`.
async fn previous_outcome(deps: &Deps, run: &Run) -> Result<Option<RunOutcome>, TaskError> {
    let mut before = Some(run.id.get());
    // A bounded look back: 5 pages of 50 runs.
    for _ in 0..5 {
        let page = deps
            .store
            .list_runs_of_item(run.test_item_id.get(), before, 50)
            .await?;
        for other in &page.items {
            match other.outcome {
                Some(RunOutcome::Cancelled) | None => {}
                Some(o) => return Ok(Some(o)),
            }
        }
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    Ok(None)
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn announce(deps: &Deps, input: RunRef) -> Result<AnnounceOutput, TaskError> {
    let run = deps.store.get_run(input.run_id).await?.ok_or_else(|| {
        TaskError::new(
            ErrorName::RunEnded,
            format!("run {} does not exist", input.run_id),
        )
    })?;
    let Some(outcome) = run.outcome.filter(|_| run.status.is_terminal()) else {
        return Err(TaskError::new(
            ErrorName::ConfigError,
            format!("run {} has not ended; nothing to announce yet", run.id),
        ));
    };
    let done = |c: &Channel| run.notifications.chat.iter().any(|d| d.channel_id == c.id);
    let channels: Vec<Channel> = deps
        .store
        .list_channels()
        .await?
        .into_iter()
        .filter(|c| c.fields.enabled && c.covers(run.test_item_id) && !done(c))
        .collect();
    if channels.is_empty() {
        return Ok(AnnounceOutput::default());
    }
    let previous = if channels
        .iter()
        .any(|c| c.fields.rule == crate::domain::ChannelRule::Changed)
    {
        previous_outcome(deps, &run).await?
    } else {
        None
    };
    let settings =
        crate::services::environments::on_run_test_server(deps, deps.settings().await?, &run)
            .await?;
    let changes = crate::mail::record_cases::changes_for_mail(deps, &run).await;
    let facts = ChatFacts::of(
        &run,
        changes.as_ref(),
        &settings.project_name,
        deps.config
            .public_url
            .as_ref()
            .map(|u| format!("{}/runs/{}", u.trim_end_matches('/'), run.id)),
        crate::mail::notify::mail_report_link(
            run.report_url.as_deref(),
            run.report_refused.is_some(),
            settings.report_base_url.as_ref().map(|b| b.as_str()),
        ),
    );
    let run_json = serde_json::to_value(&run).unwrap_or_default();

    let deliveries = join_all(channels.iter().map(|channel| {
        let facts = &facts;
        let run_json = &run_json;
        async move {
            let f = &channel.fields;
            if !f.rule.announces(outcome, previous) {
                let why = format!(
                    "rule {}: not announced (outcome {}{})",
                    f.rule.as_str(),
                    outcome.as_str(),
                    previous
                        .map(|p| format!(", previous {}", p.as_str()))
                        .unwrap_or_default()
                );
                return (channel, skipped(channel, why));
            }
            let Ok(url) = f.url.url() else {
                return (
                    channel,
                    failed(channel, 0, "the stored URL no longer parses".into()),
                );
            };
            let SendResult {
                attempts, outcome, ..
            } = chat_send::send(deps, f.kind, |now| {
                run_message(
                    f.kind,
                    &url,
                    f.secret.as_ref(),
                    f.language,
                    facts,
                    run_json,
                    now,
                )
            })
            .await;
            let delivery = match outcome {
                Ok(_) => ChatDelivery {
                    channel_id: channel.id,
                    status: ChatStatus::Sent,
                    attempts,
                    error: None,
                    sent_at: Some(deps.clock.now()),
                },
                Err(why) => failed(channel, attempts, why),
            };
            (channel, delivery)
        }
    }))
    .await;

    let mut out = AnnounceOutput::default();
    for (channel, d) in &deliveries {
        deps.metrics.chat(channel.fields.kind, d.status);
        match d.status {
            ChatStatus::Sent => out.sent += 1,
            ChatStatus::Failed => {
                out.failed += 1;
                tracing::warn!(channel_id = %channel.id, kind = %channel.fields.kind, attempts = d.attempts,
                    error = d.error.as_deref().unwrap_or_default(), "chat notification not delivered");
            }
            ChatStatus::Skipped => out.skipped += 1,
        }
    }
    update_run(deps, input.run_id, |r| {
        for (_, d) in &deliveries {
            if !r
                .notifications
                .chat
                .iter()
                .any(|e| e.channel_id == d.channel_id)
            {
                r.notifications.chat.push(d.clone());
            }
        }
        Ok(())
    })
    .await?;
    tracing::info!(
        sent = out.sent,
        failed = out.failed,
        skipped = out.skipped,
        "chat notifications done"
    );
    Ok(out)
}

fn skipped(channel: &Channel, why: String) -> ChatDelivery {
    ChatDelivery {
        channel_id: channel.id,
        status: ChatStatus::Skipped,
        attempts: 0,
        error: Some(why),
        sent_at: None,
    }
}

fn failed(channel: &Channel, attempts: u32, why: String) -> ChatDelivery {
    ChatDelivery {
        channel_id: channel.id,
        status: ChatStatus::Failed,
        attempts,
        error: Some(excerpt(&why)),
        sent_at: None,
    }
}
