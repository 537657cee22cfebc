//! Team chat notifications (issue 15), the pure part: what each platform's HTTP request
//! looks like ([`run_message`], [`test_message`]), how it is signed ([`sign`]), and how
//! to read the platform's answer ([`read_answer`]). Sending and retrying are the caller's.

mod platforms;
pub mod sign;
pub mod words;

#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::run::{Run, RunOutcome, RunStatus, StepStatus, Summary};
use crate::domain::{ChannelKind, ChannelSecret, MailLanguage, NotifyDetails};
use crate::mail::changes::TestChanges;

pub use platforms::{LIMITS, Limits};
pub use words::ChatWords;

/// The most new failures a chat message lists by name (the rest are "and M more").
pub const MAX_LISTED: usize = 10;
/// The longest error text a message quotes (bytes).
const MAX_ERROR_BYTES: usize = 1_000;
/// The longest name (project, item, job) a message shows (bytes).
const MAX_FACT_BYTES: usize = 300;
/// The longest failure line (name and message) a message lists (bytes).
const MAX_FAILURE_BYTES: usize = 300;
/// The longest excerpt of a platform's answer kept (bytes).
pub const MAX_ANSWER_BYTES: usize = 300;

/// What a chat message says about a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFacts {
    pub project: String,
    pub test_item: String,
    pub job_name: String,
    pub build_number: i64,
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub summary: Option<Summary>,
    /// (test name, first line of its message), at most [`MAX_LISTED`].
    pub new_failures: Vec<(String, Option<String>)>,
    /// How many new failures there are in all (listed or not).
    pub new_failures_total: u64,
    pub duration: Option<Duration>,
    /// For a run that ended in an error: the step that failed and why.
    pub failed_step: Option<String>,
    pub error: Option<String>,
    pub report_link: Option<String>,
    pub run_link: Option<String>,
}

impl ChatFacts {
    pub fn of(
        run: &Run,
        changes: Option<&TestChanges>,
        project: &str,
        run_link: Option<String>,
        report_link: Option<String>,
    ) -> Self {
        // Only ended runs are announced; one that is not (yet) is worded as an error rather
        // than as a success nobody saw.
        let outcome = run
            .outcome
            .or_else(|| RunOutcome::of(run))
            .unwrap_or(RunOutcome::Error);
        let (new_failures, new_failures_total) = match changes {
            Some(c) => (
                c.new_failures
                    .iter()
                    .take(MAX_LISTED)
                    .map(|t| {
                        let message = t.message.as_deref().map(one_line).filter(|m| !m.is_empty());
                        (one_line(&t.name), message)
                    })
                    .collect(),
                c.new_failures_total,
            ),
            None => (Vec::new(), 0),
        };
        let duration = run
            .finished_at
            .and_then(|f| (f - run.started_at).to_std().ok());
        let (failed_step, error) = if outcome == RunOutcome::Error {
            error_facts(run)
        } else {
            (None, None)
        };
        Self {
            project: one_line(project),
            test_item: one_line(&run.test_item_name),
            job_name: one_line(run.build.job_name.as_str()),
            build_number: run.build.build_number.get(),
            run_id: run.id.get(),
            outcome,
            summary: run.summary.clone(),
            new_failures,
            new_failures_total,
            duration,
            failed_step,
            error,
            report_link,
            run_link,
        }
    }

    /// The pass rate, `passed / total`, as `95.0%` (`None` without tests).
    pub fn pass_rate(&self) -> Option<String> {
        self.summary
            .as_ref()
            .filter(|s| s.total > 0)
            .map(|s| format!("{:.1}%", s.passed as f64 * 100.0 / s.total as f64))
    }
}

/// The failing step and the best error text of a run that ended in an error.
fn error_facts(run: &Run) -> (Option<String>, Option<String>) {
    let failed = run.steps.iter().find(|s| s.status == StepStatus::Failed);
    let nonempty = |s: Option<&str>| {
        s.map(one_line)
            .filter(|s| !s.is_empty())
            .map(|s| truncate_utf8(&s, MAX_ERROR_BYTES).to_owned())
    };
    let error = nonempty(run.deploy_failure())
        .or_else(|| nonempty(run.error_message.as_deref()))
        .or_else(|| nonempty(failed.and_then(|s| s.error.as_deref())))
        .or_else(|| {
            // A completed run whose report could not be read says why.
            (run.status == RunStatus::Completed)
                .then(|| run.details::<NotifyDetails>().summary_unavailable)
                .flatten()
                .and_then(|s| nonempty(Some(&s)))
        });
    (failed.map(|s| s.name.as_str().to_owned()), error)
}

/// One HTTP POST to a platform.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// Where to POST; DingTalk's carries the signature in its query.
    pub url: url::Url,
    /// Including `content-type`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

// The URL carries the platform's credential (access_token, key, the hook's path): never
// printed whole.
impl std::fmt::Debug for ChatRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRequest")
            .field("host", &self.url.host_str())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The request announcing a run. `run_json` is the run's API JSON (the `webhook` kind
/// posts it as it is).
pub fn run_message(
    kind: ChannelKind,
    url: &url::Url,
    secret: Option<&ChannelSecret>,
    language: MailLanguage,
    facts: &ChatFacts,
    run_json: &serde_json::Value,
    now: DateTime<Utc>,
) -> ChatRequest {
    let message = platforms::Message::of_run(facts, ChatWords::of(language));
    platforms::request(kind, url, secret, &message, Some(run_json), now)
}

/// A short "CRAT test message for <project>" (the channel's Test button).
pub fn test_message(
    kind: ChannelKind,
    url: &url::Url,
    secret: Option<&ChannelSecret>,
    language: MailLanguage,
    project: &str,
    now: DateTime<Utc>,
) -> ChatRequest {
    let message = platforms::Message::test(&one_line(project), ChatWords::of(language));
    platforms::request(kind, url, secret, &message, None, now)
}

/// Why a platform did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRefusal {
    /// Worth retrying later (5xx, 429, the platform's rate limit).
    pub transient: bool,
    /// The platform's code and message, at most [`MAX_ANSWER_BYTES`] bytes.
    pub message: String,
}

impl std::fmt::Display for ChatRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChatRefusal {}

/// The platform's display name in messages about its answers.
fn platform_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Feishu => "Feishu",
        ChannelKind::Dingtalk => "DingTalk",
        ChannelKind::Wecom => "WeCom",
        ChannelKind::Slack => "Slack",
        ChannelKind::Teams => "Teams",
        ChannelKind::Webhook => "webhook",
    }
}

/// How the platform answered: `Ok(a short excerpt of what it said)` or why it refused.
/// DingTalk, WeCom and Feishu answer 200 also when they refuse; their code decides.
pub fn read_answer(kind: ChannelKind, status: u16, body: &[u8]) -> Result<String, ChatRefusal> {
    let text = String::from_utf8_lossy(body);
    let text = one_line(&text);
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let name = platform_name(kind);
    let refuse = |transient: bool, what: String| ChatRefusal {
        transient,
        message: truncate_utf8(&what, MAX_ANSWER_BYTES).to_owned(),
    };
    let said = |status: u16| {
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        }
    };
    let ok = (200..300).contains(&status);
    if status == 429 || (500..600).contains(&status) {
        return Err(refuse(true, format!("{name} answered {}", said(status))));
    }
    // (code, message) of the platforms that answer in JSON with a code.
    let coded = |code_keys: &[&str], msg_keys: &[&str]| {
        let j = json.as_ref()?;
        let code = code_keys.iter().find_map(|k| j.get(*k)?.as_i64())?;
        let msg = msg_keys
            .iter()
            .find_map(|k| j.get(*k)?.as_str())
            .map(one_line)
            .unwrap_or_default();
        Some((code, msg))
    };
    let by_code = |code_name: &str, codes: Option<(i64, String)>, rate_limits: &[i64]| match codes {
        Some((0, _)) if ok => Ok(truncate_utf8(&said(status), MAX_ANSWER_BYTES).to_owned()),
        Some((code, msg)) => Err(refuse(
            rate_limits.contains(&code),
            format!("{name} {code_name} {code}: {msg} (HTTP {status})"),
        )),
        None => Err(refuse(
            false,
            format!("{name} gave no {code_name}: {}", said(status)),
        )),
    };
    match kind {
        ChannelKind::Feishu => by_code(
            "code",
            coded(&["code", "StatusCode"], &["msg", "StatusMessage"]),
            &[9499, 11232],
        ),
        ChannelKind::Dingtalk => by_code("errcode", coded(&["errcode"], &["errmsg"]), &[130101]),
        ChannelKind::Wecom => by_code("errcode", coded(&["errcode"], &["errmsg"]), &[45009]),
        ChannelKind::Teams => {
            if ok {
                Ok(truncate_utf8(&said(status), MAX_ANSWER_BYTES).to_owned())
            } else {
                // Workflows answers {"error":{"code":..,"message":..}} when it can.
                let detail = json
                    .as_ref()
                    .and_then(|j| j.get("error"))
                    .map(|e| {
                        let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                        let msg = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                        one_line(&format!("{code}: {msg}"))
                    })
                    .unwrap_or_else(|| said(status));
                Err(refuse(
                    false,
                    format!("{name} refused (HTTP {status}): {detail}"),
                ))
            }
        }
        ChannelKind::Slack | ChannelKind::Webhook => {
            if ok {
                Ok(truncate_utf8(&said(status), MAX_ANSWER_BYTES).to_owned())
            } else {
                Err(refuse(false, format!("{name} refused: {}", said(status))))
            }
        }
    }
}

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a character boundary.
pub fn truncate_utf8(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` in at most `max_bytes` bytes, ending in `…` when something was cut.
pub(crate) fn clip_bytes(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_owned();
    }
    let cut = truncate_utf8(s, max_bytes.saturating_sub(ELLIPSIS.len()));
    format!("{cut}{ELLIPSIS}")
}

/// `s` in at most `max_chars` characters, ending in `…` when something was cut (Slack
/// counts characters, not bytes).
pub(crate) fn clip_chars(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push_str(ELLIPSIS);
    out
}

const ELLIPSIS: &str = "…";

/// Text on one line: runs of whitespace and control characters become one space.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}
