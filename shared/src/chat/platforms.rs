//! Each platform's message: one [`Message`] (plain text parts) laid out as the platform's
//! JSON, within its documented limits. A message too big for a limit lists fewer failures
//! (the rest become "and M more"), and only then is cut.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::words::ChatWords;
use super::{
    ChatFacts, ChatRequest, MAX_ERROR_BYTES, MAX_FACT_BYTES, MAX_FAILURE_BYTES, clip_bytes,
    clip_chars, sign,
};
use crate::domain::run::RunOutcome;
use crate::domain::{ChannelKind, ChannelSecret};
use crate::mail::compose::format_duration;

/// The platforms' documented limits this module keeps to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Feishu: the whole request body (bytes; the platform says 20 KB).
    pub feishu_body: usize,
    /// DingTalk: the markdown text (bytes).
    pub dingtalk_text: usize,
    /// WeCom: the markdown content (UTF-8 bytes).
    pub wecom_content: usize,
    /// Slack: a header block's plain_text (characters).
    pub slack_header_chars: usize,
    /// Slack: a section's mrkdwn text (characters).
    pub slack_section_chars: usize,
    /// Slack: blocks per message.
    pub slack_blocks: usize,
    /// Teams: the whole request body (bytes; the platform says 28 KB).
    pub teams_body: usize,
}

pub const LIMITS: Limits = Limits {
    // A little under 20 KiB / 28 KiB: the platforms count the body as they received it.
    feishu_body: 20_000,
    dingtalk_text: 20_000,
    wecom_content: 4_096,
    slack_header_chars: 150,
    slack_section_chars: 3_000,
    slack_blocks: 50,
    teams_body: 28_000,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Good,
    Bad,
    Muted,
    Info,
}

/// What a message says, as plain text (each layout escapes for its platform).
pub(super) struct Message {
    title: String,
    tone: Tone,
    facts: Vec<(&'static str, String)>,
    error: Option<(&'static str, String)>,
    text: Option<String>,
    failures_heading: Option<String>,
    /// The failures that may be listed, each already cut to [`MAX_FAILURE_BYTES`].
    failures: Vec<String>,
    failures_total: u64,
    and_more: fn(u64) -> String,
    see_run_page: &'static str,
    run_link: Option<String>,
    links: Vec<(&'static str, String)>,
}

impl Message {
    pub(super) fn of_run(f: &ChatFacts, w: &ChatWords) -> Self {
        let outcome = w.outcome(f.outcome);
        let clip = |s: &str| clip_bytes(s, MAX_FACT_BYTES);
        let mut facts = vec![
            (w.project, clip(&f.project)),
            (w.test_item, clip(&f.test_item)),
            (w.job, format!("{} #{}", clip(&f.job_name), f.build_number)),
            (w.run, format!("#{}", f.run_id)),
        ];
        match (&f.summary, f.pass_rate()) {
            (Some(s), Some(rate)) => facts.push((
                w.results,
                format!(
                    "{} · {}",
                    (w.pass_rate)(&rate),
                    (w.counts)(
                        [s.passed, s.failed, s.broken, s.skipped, s.unknown],
                        s.total
                    )
                ),
            )),
            (Some(_), None) => facts.push((w.results, w.no_tests.to_owned())),
            (None, _) if f.outcome == RunOutcome::Error && f.failed_step.is_none() => {
                facts.push((w.results, w.summary_unavailable.to_owned()));
            }
            (None, _) => {}
        }
        if let Some(d) = f.duration {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            facts.push((w.duration, format_duration(ms, &w.units)));
        }
        if let Some(step) = &f.failed_step {
            facts.push((w.failed_step, step.clone()));
        }
        let failures: Vec<String> = f
            .new_failures
            .iter()
            .map(|(name, message)| {
                let line = match message {
                    Some(m) => format!("{name} — {m}"),
                    None => name.clone(),
                };
                clip_bytes(&line, MAX_FAILURE_BYTES)
            })
            .collect();
        let failures_total = f.new_failures_total.max(failures.len() as u64);
        let mut links = Vec::new();
        if let Some(r) = &f.report_link {
            links.push((w.open_report, r.clone()));
        }
        if let Some(r) = &f.run_link {
            links.push((w.open_run, r.clone()));
        }
        Self {
            title: format!("[{}] {} — {outcome}", clip(&f.project), clip(&f.test_item)),
            tone: match f.outcome {
                RunOutcome::Passed => Tone::Good,
                RunOutcome::TestsFailed | RunOutcome::Error => Tone::Bad,
                RunOutcome::Cancelled => Tone::Muted,
            },
            facts,
            error: f
                .error
                .as_deref()
                .map(|e| (w.error, clip_bytes(e, MAX_ERROR_BYTES))),
            text: None,
            failures_heading: (failures_total > 0).then(|| (w.new_failures)(failures_total)),
            failures,
            failures_total,
            and_more: w.and_more,
            see_run_page: w.see_run_page,
            run_link: f.run_link.clone(),
            links,
        }
    }

    pub(super) fn test(project: &str, w: &ChatWords) -> Self {
        Self {
            title: (w.test_title)(project),
            tone: Tone::Info,
            facts: vec![(w.project, project.to_owned())],
            error: None,
            text: Some(w.test_text.to_owned()),
            failures_heading: None,
            failures: Vec::new(),
            failures_total: 0,
            and_more: w.and_more,
            see_run_page: w.see_run_page,
            run_link: None,
            links: Vec::new(),
        }
    }

    fn unlisted(&self, listed: usize) -> u64 {
        self.failures_total.saturating_sub(listed as u64)
    }
}

/// Escapes what markdown would read as formatting in a value.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Slack's mrkdwn: only `&`, `<` and `>` are control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The first `listed` failures and the "and M more" line, each a list item in `item`'s form.
fn failure_lines(m: &Message, listed: usize, escape: fn(&str) -> String) -> Vec<String> {
    let mut lines: Vec<String> = m.failures[..listed.min(m.failures.len())]
        .iter()
        .map(|f| escape(f))
        .collect();
    let more = m.unlisted(listed);
    if more > 0 {
        lines.push(format!("{} — {}", (m.and_more)(more), m.see_run_page));
    }
    lines
}

/// The markdown body DingTalk, WeCom and Feishu show (without the title for Feishu, whose
/// card has a header). `break_` separates lines: DingTalk joins single newlines.
fn markdown(m: &Message, listed: usize, title: Option<String>, break_: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = title {
        parts.push(t);
    }
    if let Some(t) = &m.text {
        parts.push(md(t));
    }
    for (label, value) in &m.facts {
        parts.push(format!("**{}**: {}", md(label), md(value)));
    }
    if let Some((label, e)) = &m.error {
        parts.push(format!("**{}**: {}", md(label), md(e)));
    }
    if let Some(h) = &m.failures_heading {
        parts.push(format!("**{}**", md(h)));
        let mut lines = failure_lines(m, listed, md);
        if let (Some(last), Some(link)) = (lines.last_mut(), &m.run_link)
            && m.unlisted(listed) > 0
        {
            let more = (m.and_more)(m.unlisted(listed));
            *last = format!("{} — [{}]({link})", md(&more), md(m.see_run_page));
        }
        parts.extend(lines.into_iter().map(|l| format!("- {l}")));
    }
    if !m.links.is_empty() {
        let links: Vec<String> = m
            .links
            .iter()
            .map(|(label, url)| format!("[{}]({url})", md(label)))
            .collect();
        parts.push(links.join(" · "));
    }
    parts.join(break_)
}

/// The largest number of failures (at most all of them) whose rendering `size` fits in
/// `limit`, and that rendering; with none listed when even that is too big.
fn fit<T>(m: &Message, limit: usize, build: impl Fn(usize) -> (usize, T)) -> (usize, T) {
    let mut listed = m.failures.len();
    loop {
        let (size, out) = build(listed);
        if size <= limit || listed == 0 {
            return (listed, out);
        }
        listed -= 1;
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    // A Value's keys are strings, so its text form is the JSON itself.
    v.to_string().into_bytes()
}

const JSON: (&str, &str) = ("content-type", "application/json");

pub(super) fn request(
    kind: ChannelKind,
    url: &url::Url,
    secret: Option<&ChannelSecret>,
    m: &Message,
    run_json: Option<&Value>,
    now: DateTime<Utc>,
) -> ChatRequest {
    let mut headers = vec![(JSON.0, JSON.1.to_owned())];
    let mut url = url.clone();
    let body = match kind {
        ChannelKind::Feishu => feishu(m, secret, now),
        ChannelKind::Dingtalk => {
            if let Some(s) = secret {
                sign_dingtalk(&mut url, s, now);
            }
            dingtalk(m)
        }
        ChannelKind::Wecom => wecom(m),
        ChannelKind::Slack => slack(m),
        ChannelKind::Teams => teams(m),
        ChannelKind::Webhook => {
            let body = match run_json {
                Some(run) => json_bytes(run),
                None => json_bytes(&json!({
                    "event": "test",
                    "title": m.title,
                    "text": m.text,
                    "sent_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })),
            };
            if let Some(s) = secret {
                headers.push(("x-crat-signature", sign::webhook(s.expose(), &body)));
            }
            body
        }
    };
    ChatRequest { url, headers, body }
}

fn feishu(m: &Message, secret: Option<&ChannelSecret>, now: DateTime<Utc>) -> Vec<u8> {
    let template = match m.tone {
        Tone::Good => "green",
        Tone::Bad => "red",
        Tone::Muted => "grey",
        Tone::Info => "blue",
    };
    let signed = secret.map(|s| {
        let ts = now.timestamp();
        (ts.to_string(), sign::feishu(s.expose(), ts))
    });
    let build = |listed: usize| {
        let mut elements = vec![json!({
            "tag": "div",
            "text": {"tag": "lark_md", "content": markdown(m, listed, None, "\n")},
        })];
        if !m.links.is_empty() {
            let buttons: Vec<Value> = m
                .links
                .iter()
                .map(|(label, url)| {
                    json!({
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": label},
                        "type": "default",
                        "url": url,
                    })
                })
                .collect();
            elements.push(json!({"tag": "action", "actions": buttons}));
        }
        let mut body = json!({
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": true},
                "header": {
                    "title": {"tag": "plain_text", "content": clip_bytes(&m.title, 500)},
                    "template": template,
                },
                "elements": elements,
            },
        });
        if let (Some((ts, sign)), Some(o)) = (&signed, body.as_object_mut()) {
            o.insert("timestamp".into(), json!(ts));
            o.insert("sign".into(), json!(sign));
        }
        let bytes = json_bytes(&body);
        (bytes.len(), bytes)
    };
    fit(m, LIMITS.feishu_body, build).1
}

/// Adds DingTalk's `timestamp` and `sign` to the query, in place of any already there.
fn sign_dingtalk(url: &mut url::Url, secret: &ChannelSecret, now: DateTime<Utc>) {
    let ts = now.timestamp_millis();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "timestamp" && k != "sign")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // query_pairs_mut encodes each value once (base64's + / = become %2B %2F %3D).
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &kept {
        q.append_pair(k, v);
    }
    q.append_pair("timestamp", &ts.to_string());
    q.append_pair("sign", &sign::dingtalk(secret.expose(), ts));
}

fn dingtalk(m: &Message) -> Vec<u8> {
    let title = format!("**{}**", md(&m.title));
    let (_, text) = fit(m, LIMITS.dingtalk_text, |listed| {
        let t = markdown(m, listed, Some(title.clone()), "\n\n");
        (t.len(), t)
    });
    json_bytes(&json!({
        "msgtype": "markdown",
        "markdown": {
            // The title is what the notification preview shows.
            "title": clip_bytes(&m.title, 200),
            "text": clip_bytes(&text, LIMITS.dingtalk_text),
        },
    }))
}

fn wecom(m: &Message) -> Vec<u8> {
    let color = match m.tone {
        Tone::Good => "info",
        Tone::Bad => "warning",
        Tone::Muted | Tone::Info => "comment",
    };
    let title = format!("<font color=\"{color}\">**{}**</font>", md(&m.title));
    let (_, content) = fit(m, LIMITS.wecom_content, |listed| {
        let t = markdown(m, listed, Some(title.clone()), "\n");
        (t.len(), t)
    });
    json_bytes(&json!({
        "msgtype": "markdown",
        "markdown": {"content": clip_bytes(&content, LIMITS.wecom_content)},
    }))
}

fn slack(m: &Message) -> Vec<u8> {
    let section = |text: String| {
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip_chars(&text, LIMITS.slack_section_chars)},
        })
    };
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": clip_chars(&m.title, LIMITS.slack_header_chars),
            "emoji": false,
        },
    })];
    let mut facts: Vec<String> = Vec::new();
    if let Some(t) = &m.text {
        facts.push(slack_escape(t));
    }
    facts.extend(
        m.facts
            .iter()
            .map(|(l, v)| format!("*{}*: {}", slack_escape(l), slack_escape(v))),
    );
    blocks.push(section(facts.join("\n")));
    if let Some((label, e)) = &m.error {
        blocks.push(section(format!(
            "*{}*: {}",
            slack_escape(label),
            slack_escape(e)
        )));
    }
    if let Some(h) = &m.failures_heading {
        let (_, list) = fit(m, LIMITS.slack_section_chars, |listed| {
            let mut lines = vec![format!("*{}*", slack_escape(h))];
            let mut items = failure_lines(m, listed, slack_escape);
            if let (Some(last), Some(link)) = (items.last_mut(), &m.run_link)
                && m.unlisted(listed) > 0
            {
                let more = (m.and_more)(m.unlisted(listed));
                *last = format!("{} — <{link}|{}>", slack_escape(&more), m.see_run_page);
            }
            lines.extend(items.into_iter().map(|l| format!("• {l}")));
            let t = lines.join("\n");
            (t.chars().count(), t)
        });
        blocks.push(section(list));
    }
    if !m.links.is_empty() {
        let links: Vec<String> = m
            .links
            .iter()
            .map(|(label, url)| format!("<{url}|{}>", slack_escape(label)))
            .collect();
        blocks.push(section(links.join(" · ")));
    }
    blocks.truncate(LIMITS.slack_blocks);
    json_bytes(&json!({
        // The notification's and screen readers' text.
        "text": clip_chars(&m.title, LIMITS.slack_section_chars),
        "blocks": blocks,
    }))
}

fn teams(m: &Message) -> Vec<u8> {
    let color = match m.tone {
        Tone::Good => "Good",
        Tone::Bad => "Attention",
        Tone::Muted | Tone::Info => "Default",
    };
    let build = |listed: usize| {
        let mut body = vec![json!({
            "type": "TextBlock",
            "text": md(&m.title),
            "size": "Large",
            "weight": "Bolder",
            "color": color,
            "wrap": true,
        })];
        if let Some(t) = &m.text {
            body.push(json!({"type": "TextBlock", "text": md(t), "wrap": true}));
        }
        let facts: Vec<Value> = m
            .facts
            .iter()
            .map(|(l, v)| json!({"title": l, "value": md(v)}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
        if let Some((label, e)) = &m.error {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("**{}**: {}", md(label), md(e)),
                "color": "Attention",
                "wrap": true,
            }));
        }
        if let Some(h) = &m.failures_heading {
            body.push(json!({
                "type": "TextBlock", "text": md(h), "weight": "Bolder", "wrap": true,
            }));
            let items: Vec<String> = failure_lines(m, listed, md)
                .into_iter()
                .map(|l| format!("- {l}"))
                .collect();
            body.push(json!({"type": "TextBlock", "text": items.join("\n"), "wrap": true}));
        }
        let actions: Vec<Value> = m
            .links
            .iter()
            .map(|(label, url)| json!({"type": "Action.OpenUrl", "title": label, "url": url}))
            .collect();
        let mut card = json!({
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": body,
        });
        if let (false, Some(o)) = (actions.is_empty(), card.as_object_mut()) {
            o.insert("actions".into(), Value::Array(actions));
        }
        let bytes = json_bytes(&json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        }));
        (bytes.len(), bytes)
    };
    fit(m, LIMITS.teams_body, build).1
}
