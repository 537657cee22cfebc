//! The notify Task function: after finalize, reads the Allure summary and the test cases of
//! a completed run and sends the result (or failure) mail — once. A mail failure is recorded on the run's
//! `notification` and retried by the state machine, and never changes the run's outcome.

use crate::Deps;
use crate::domain::{
    Email, Notification, NotificationStatus, NotifyDetails, Run, RunStatus, StepName, StepStatus,
};
use crate::services::environments::on_run_test_server;
use crate::tasks::ErrorName;
use crate::tasks::{RunRef, TaskError, excerpt, update_run};
use serde::{Deserialize, Serialize};

use crate::mail::compose::{MailContext, failure_mail, mailable, success_mail};
use crate::mail::summary::read_summary;
use crate::mail::transport::NotSent;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct NotifyOutput {
    pub status: NotificationStatus,
}

fn done(n: &Notification) -> bool {
    matches!(
        n.status,
        NotificationStatus::Sent | NotificationStatus::Skipped
    )
}

/// The recipients: who triggered the run and the item's extra addresses (to), the
/// settings' `notify_cc` (cc), without duplicates.
async fn recipients(
    deps: &Deps,
    run: &Run,
    cc: &[Email],
) -> Result<(Vec<Email>, Vec<Email>), TaskError> {
    // A webhook-started run for nobody in particular mails only the item's addresses.
    let for_nobody =
        run.started_by_webhook && run.triggered_by.as_str() == crate::services::new_build::NOBODY;
    let mut to: Vec<Email> = Vec::new();
    if !for_nobody {
        to.push(run.triggered_by.clone());
    }
    if let Some(item) = deps.store.get_test_item(run.test_item_id.get()).await? {
        for e in item.notify_emails {
            if !to.contains(&e) {
                to.push(e);
            }
        }
    }
    let cc = cc.iter().filter(|e| !to.contains(e)).cloned().collect();
    Ok((to, cc))
}

/// The report link people can open: `report_base_url` (when set) in place of the test
/// server's scheme, host and port.
fn report_link(report_url: &str, base: Option<&str>) -> String {
    match (base, url::Url::parse(report_url)) {
        (Some(base), Ok(u)) => {
            let tail = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            };
            format!("{}{tail}", base.trim_end_matches('/'))
        }
        _ => report_url.to_owned(),
    }
}

/// The mail's report link: a refused (unread) report is shown exactly as the test server
/// gave it, since rebasing it onto `report_base_url` would make it look vetted.
pub(crate) fn mail_report_link(
    report_url: Option<&str>,
    refused: bool,
    base: Option<&str>,
) -> Option<String> {
    report_url.map(|u| {
        if refused {
            u.to_owned()
        } else {
            report_link(u, base)
        }
    })
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &Deps, input: RunRef) -> Result<NotifyOutput, TaskError> {
    let outcome = notify(deps, input).await;
    // Each attempt's outcome (a transient failure the state machine retries counts once each).
    match &outcome {
        Ok(out) if !out.repeated => deps.metrics.mail(out.status),
        Ok(_) => {}
        Err(_) => deps.metrics.mail(NotificationStatus::Failed),
    }
    outcome.map(|out| NotifyOutput { status: out.status })
}

/// What one notify attempt did (`repeated`: the mail was already done by an earlier one).
struct Attempt {
    status: NotificationStatus,
    repeated: bool,
}

async fn notify(deps: &Deps, input: RunRef) -> Result<Attempt, TaskError> {
    let state = deps;
    let run = state.store.get_run(input.run_id).await?.ok_or_else(|| {
        TaskError::new(
            ErrorName::RunEnded,
            format!("run {} does not exist", input.run_id),
        )
    })?;
    if let Some(n) = run.notification.as_ref().filter(|n| done(n)) {
        // Once, also after a restart.
        return Ok(Attempt {
            status: n.status,
            repeated: true,
        });
    }
    if !run.status.is_terminal() {
        return Err(TaskError::new(
            ErrorName::ConfigError,
            format!("run {} has not ended; nothing to report yet", run.id),
        ));
    }
    // The report origins of the run's environment (the settings' for the default one).
    let settings = on_run_test_server(state, state.settings().await?, &run).await?;
    let now = state.clock.now();
    let mut run = update_run(state, input.run_id, |r| {
        if r.notification.as_ref().is_none_or(|n| !done(n)) {
            r.begin_step(StepName::Notify, r.status, now);
        }
        Ok(())
    })
    .await?;

    // The summary of a completed run: stored once, whatever the mail does.
    if run.status == RunStatus::Completed && run.summary.is_none() {
        // The origin rule is checked again here with the settings of now (poll checked it
        // with those of then): only `report_origins` (default: the test server's) are read.
        let refused = run
            .report_url
            .as_deref()
            .and_then(|u| settings.report_refusal(u));
        let read = match (&run.report_url, &refused) {
            (None, _) => Err("the test server gave no report link".to_owned()),
            (Some(_), Some(why)) => Err(why.clone()),
            (Some(report), None) => {
                let timeout = std::time::Duration::from_secs(u64::from(
                    settings.poll_request_timeout_seconds,
                ));
                read_summary(
                    &deps.http,
                    report,
                    &settings.allowed_report_origins(),
                    timeout,
                )
                .await
                .map_err(|e| e.to_string())
            }
        };
        run = update_run(state, input.run_id, |r| {
            if r.report_url.is_some() {
                r.report_refused = refused.clone();
            }
            match &read {
                Ok((summary, source)) => {
                    r.summary = Some(summary.clone());
                    r.edit_details(|d: &mut NotifyDetails| {
                        d.summary_source = Some(source.to_string());
                    });
                }
                Err(why) => r.edit_details(|d: &mut NotifyDetails| {
                    d.summary_unavailable = Some(excerpt(why));
                }),
            }
            r.refresh_outcome();
            Ok(())
        })
        .await?;
    }

    // The test cases of a completed run: recorded once, compared for the mail each time.
    let run = super::record_cases::record_once(deps, &settings, run).await?;
    let changes = super::record_cases::changes_for_mail(deps, &run).await;

    let (to, cc) = recipients(deps, &run, &settings.notify_cc).await?;
    // One address the mailer cannot use is skipped (and noted), never the whole mail.
    let (to, mut skipped) = mailable("to", to);
    let (cc, bad_cc) = mailable("cc", cc);
    skipped.extend(bad_cc);
    let addresses: Vec<String> = to
        .iter()
        .chain(cc.iter())
        .map(ToString::to_string)
        .collect();
    let attempts = run.notification.as_ref().map_or(0, |n| n.attempts) + 1;
    let record = |status: NotificationStatus,
                  error: Option<String>,
                  receipt: Option<String>,
                  not_sent: Vec<NotSent>| {
        let addresses = addresses.clone();
        let skipped = skipped.clone();
        move |r: &mut Run| {
            let now = state.clock.now();
            let not_sent: Vec<NotSent> = skipped.iter().chain(not_sent.iter()).cloned().collect();
            let refused: Vec<&str> = not_sent.iter().map(|n| n.address.as_str()).collect();
            let note = (!not_sent.is_empty()).then(|| {
                let each: Vec<String> = not_sent.iter().map(ToString::to_string).collect();
                format!("not sent to {}", each.join("; "))
            });
            r.notification = Some(Notification {
                status,
                sent_at: (status == NotificationStatus::Sent).then_some(now),
                error: error.clone().or(note),
                recipients: addresses
                    .iter()
                    .filter(|a| !refused.contains(&a.as_str()))
                    .cloned()
                    .collect(),
                attempts: if status == NotificationStatus::Skipped {
                    attempts - 1
                } else {
                    attempts
                },
            });
            r.refresh_outcome();
            let step_status = match status {
                NotificationStatus::Sent => StepStatus::Succeeded,
                NotificationStatus::Failed => StepStatus::Failed,
                NotificationStatus::Skipped => StepStatus::Skipped,
            };
            r.finish_step(StepName::Notify, step_status, error.clone(), now);
            r.edit_details(|d: &mut NotifyDetails| {
                if let Some(receipt) = &receipt {
                    d.receipt = Some(excerpt(receipt));
                }
                if !not_sent.is_empty() {
                    d.recipients_not_sent =
                        Some(not_sent.iter().map(|n| excerpt(&n.to_string())).collect());
                }
            });
            Ok(())
        }
    };

    // Skipped (no mailer, nobody to mail) or failed: the run records why, without a receipt.
    let unsent = |status: NotificationStatus, why: String| {
        update_run(
            state,
            input.run_id,
            record(status, Some(why), None, Vec::new()),
        )
    };
    let skipped_because = |why: &str| {
        let recorded = unsent(NotificationStatus::Skipped, why.to_owned());
        async move {
            recorded.await?;
            Ok(Attempt {
                status: NotificationStatus::Skipped,
                repeated: false,
            })
        }
    };
    let Some(mailer) = &deps.mailer else {
        return skipped_because("no mail server is configured (EMAIL_SEND_SERVER)").await;
    };
    if to.is_empty() && cc.is_empty() {
        return skipped_because("no usable recipients").await;
    }

    let from = state
        .config
        .smtp
        .as_ref()
        .map(|s| s.from.clone())
        .unwrap_or_else(|| "crat@localhost.localdomain".into());
    let summary_note = run.details::<NotifyDetails>().summary_unavailable;
    let ctx = MailContext {
        project_name: &settings.project_name,
        run: &run,
        run_link: state
            .config
            .public_url
            .as_ref()
            .map(|u| format!("{}/runs/{}", u.trim_end_matches('/'), run.id)),
        report_link: mail_report_link(
            run.report_url.as_deref(),
            run.report_refused.is_some(),
            settings.report_base_url.as_ref().map(|b| b.as_str()),
        ),
        report_refused: run.report_refused.clone(),
        summary: run.summary.as_ref(),
        summary_note,
        changes: changes.as_ref(),
        chart_png: run
            .summary
            .as_ref()
            .map(|s| crate::mail::chart::pie_chart_png(s, 240)),
        from: &from,
        to: to.clone(),
        cc: cc.clone(),
        language: settings.mail_language,
    };
    let message = if run.status == RunStatus::Completed {
        success_mail(&ctx)
    } else {
        failure_mail(&ctx)
    };
    let message = match message {
        Ok(m) => m,
        Err(e) => {
            let why = e.to_string();
            unsent(NotificationStatus::Failed, why.clone()).await?;
            return Err(TaskError::new(ErrorName::MailFailed, why));
        }
    };
    match mailer.deliver(&message).await {
        Ok(delivery) => {
            update_run(
                state,
                input.run_id,
                record(
                    NotificationStatus::Sent,
                    None,
                    Some(delivery.receipt),
                    delivery.refused,
                ),
            )
            .await?;
            tracing::info!(recipients = addresses.len(), "result mail sent");
            Ok(Attempt {
                status: NotificationStatus::Sent,
                repeated: false,
            })
        }
        Err(e) => {
            let why = e.to_string();
            let name = if e.is_transient() {
                ErrorName::MailTransient
            } else {
                ErrorName::MailFailed
            };
            unsent(NotificationStatus::Failed, why.clone()).await?;
            tracing::warn!(error = %why, attempts, "result mail not sent");
            Err(TaskError::new(name, why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_links_can_be_rebased() {
        assert_eq!(
            report_link("http://10.0.0.5:9000/reports/7/", None),
            "http://10.0.0.5:9000/reports/7/"
        );
        assert_eq!(
            report_link(
                "http://10.0.0.5:9000/reports/7/",
                Some("https://reports.example.com/")
            ),
            "https://reports.example.com/reports/7/"
        );
    }

    /// Review: a refused report is mailed as the raw link, not rebased onto report_base_url.
    #[test]
    fn a_refused_report_link_is_mailed_raw() {
        let raw = "http://reports.elsewhere:8080/r/7/";
        let base = Some("https://reports.example.com/");
        assert_eq!(
            mail_report_link(Some(raw), true, base).as_deref(),
            Some(raw)
        );
        assert_eq!(
            mail_report_link(Some(raw), false, base).as_deref(),
            Some("https://reports.example.com/r/7/")
        );
        assert_eq!(mail_report_link(None, true, base), None);
    }
}
