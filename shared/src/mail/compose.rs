//! The result mails as lettre [`Message`]s: the success mail (HTML with counts, pass rate
//! and the inline pie chart, plus a plain-text alternative) and the failure mail (the
//! failing step, the errors and the build info, HTML plus plain text).
//!
//! Every outside value (names, paths, error texts, addresses, links) is HTML-escaped
//! before it reaches the HTML; links become `href`s only when they are http(s) URLs;
//! the subject is built from one-line values (control characters become spaces) and is
//! at most [`SUBJECT_MAX_CHARS`] characters long, so no CR/LF reaches a header.
//!
//! MIME structure of the success mail with a chart:
//! ```text
//! multipart/alternative
//! ├── text/plain; charset=utf-8
//! └── multipart/related
//!     ├── text/html; charset=utf-8        (<img src="cid:chart@crat">)
//!     └── image/png                       (Content-ID: <chart@crat>, Content-Disposition: inline)
//! ```
//! Without a chart (no summary, or a failure mail): `multipart/alternative` of
//! `text/plain` and `text/html`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::Email;
use crate::domain::run::{Run, RunStatus, Step, StepName, StepStatus, Summary};
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::Value;

/// The Content-ID of the inline chart image (`cid:chart@crat` in the HTML).
pub const CHART_CID: &str = "chart@crat";
/// The subject never gets longer than this (in characters).
pub const SUBJECT_MAX_CHARS: usize = 200;
/// The chart is shown at its natural size, but never wider than this (CSS pixels).
const CHART_MAX_DISPLAY_WIDTH: u32 = 320;
/// Fallback display size when the chart's PNG header cannot be read.
const CHART_FALLBACK_SIZE: u32 = 240;

/// The legend labels, in the chart's slice order (colours from [`crate::mail::chart::COLORS`]).
const STATUS_LABELS: [&str; 5] = ["passed", "failed", "broken", "skipped", "unknown"];

/// (label, colour) in the chart's slice order: the legend swatches match the slices.
fn legend_colours() -> impl Iterator<Item = (&'static str, &'static str)> {
    STATUS_LABELS
        .into_iter()
        .zip(crate::mail::chart::COLORS)
        .map(|(label, (_, colour))| (label, colour))
}

const GREEN: &str = "#2e7d32";
const AMBER: &str = "#b26a00";
const RED: &str = "#c62828";
const GREY: &str = "#546e7a";
const FONT: &str = "font-family:Arial,Helvetica,sans-serif;";
const MONO: &str = "font-family:Consolas,Menlo,'Courier New',monospace;";

/// Everything a result mail is made of.
pub struct MailContext<'a> {
    /// `settings.project_name`, e.g. "CRAT".
    pub project_name: &'a str,
    pub run: &'a Run,
    /// The run's page, e.g. `{public url}/runs/{id}`; may be `None`.
    pub run_link: Option<String>,
    /// The report URL (`run.report_url`, possibly rebased on `report_base_url`).
    pub report_link: Option<String>,
    /// Why the report was not read (its origin is not in `report_origins`): the link is
    /// then shown as text with this reason, never as a link or button.
    pub report_refused: Option<String>,
    /// `None`: the mail says "summary unavailable" with `summary_note`.
    pub summary: Option<&'a Summary>,
    /// Why the summary is unavailable, shown in the mail.
    pub summary_note: Option<String>,
    /// The pie chart (an inline CID image) when a summary exists.
    pub chart_png: Option<Vec<u8>>,
    /// `EMAIL_FROM`: a bare address or `Name <address>`.
    pub from: &'a str,
    /// The triggering user and the item's `notify_emails` (de-duplicated by the caller).
    pub to: Vec<Email>,
    /// `settings.notify_cc`.
    pub cc: Vec<Email>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// `field` is `from`, `to` or `cc`.
    #[error("invalid {field} address {value:?}: {reason}")]
    Address {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("the mail has no recipients (to and cc are both empty)")]
    NoRecipients,
    #[error("cannot build the mail: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The addresses of `list` the mailer can use (lettre's rules), and `address: reason` for
/// each one it cannot (stored before input was checked as strictly): those are skipped and
/// logged, so one bad address never stops the mail to the others.
pub fn mailable(
    field: &str,
    list: Vec<Email>,
) -> (Vec<Email>, Vec<crate::mail::transport::NotSent>) {
    let mut ok = Vec::with_capacity(list.len());
    let mut bad = Vec::new();
    for email in list {
        match email.as_str().parse::<lettre::Address>() {
            Ok(_) => ok.push(email),
            Err(e) => {
                let shown = truncate_chars(&one_line(email.as_str()), 100);
                tracing::warn!(field, address = %shown, error = %e, "address skipped: the mailer cannot use it");
                bad.push(crate::mail::transport::NotSent {
                    address: shown,
                    reason: format!("not a usable address ({e})"),
                });
            }
        }
    }
    (ok, bad)
}

/// The mail for a COMPLETED run: counts, pass rate, the chart, the report link.
pub fn success_mail(ctx: &MailContext) -> Result<Message, ComposeError> {
    let chart = ctx
        .summary
        .and(ctx.chart_png.as_deref())
        .filter(|png| !png.is_empty());
    let html = success_html(ctx, chart.map(png_display_size));
    let text = success_text(ctx);
    let html_part = SinglePart::html(html);
    let body = match chart {
        Some(png) => MultiPart::alternative()
            .singlepart(SinglePart::plain(text))
            .multipart(
                MultiPart::related().singlepart(html_part).singlepart(
                    Attachment::new_inline_with_name(CHART_CID.to_owned(), "chart.png".to_owned())
                        .body(
                            png.to_vec(),
                            ContentType::parse("image/png").expect("valid"),
                        ),
                ),
            ),
        None => MultiPart::alternative()
            .singlepart(SinglePart::plain(text))
            .singlepart(html_part),
    };
    build(ctx, "result", body)
}

/// The mail for a FAILED run (also a sweeper timeout, or a cancelled run): the failing
/// step, the errors, the external test server's last word, the build info. No chart.
pub fn failure_mail(ctx: &MailContext) -> Result<Message, ComposeError> {
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(failure_text(ctx)))
        .singlepart(SinglePart::html(failure_html(ctx)));
    build(ctx, "failure", body)
}

/// `[CRAT] cds CDN_CORE #101 — 98/100 passed`, `… — FAILED at DOWNLOAD`,
/// `… — completed, summary unavailable`. One line, at most [`SUBJECT_MAX_CHARS`] characters.
pub fn subject_for(ctx: &MailContext) -> String {
    let run = ctx.run;
    let head = one_line(&format!(
        "[{}] {} {} #{}",
        one_line(ctx.project_name),
        one_line(&run.test_item_name),
        one_line(&run.build.job_name),
        run.build.build_number
    ));
    let tail = match run.status {
        RunStatus::Completed => match ctx.summary {
            Some(s) if s.total == 0 => "completed, no tests reported".to_owned(),
            Some(s) => format!("{}/{} passed", s.passed, s.total),
            None => "completed, summary unavailable".to_owned(),
        },
        RunStatus::Failed => match failed_step(run) {
            Some(step) => format!("FAILED at {}", step_label(step.name)),
            None => "FAILED".to_owned(),
        },
        other => other.as_str().to_owned(),
    };
    let sep = " — ";
    let room = SUBJECT_MAX_CHARS.saturating_sub(tail.chars().count() + sep.chars().count());
    format!("{}{sep}{tail}", truncate_chars(&head, room.max(1)))
}

/// Escapes `& < > " '` so that any text is safe in HTML content and quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Human duration: `850 ms`, `4.2 s`, `42 s`, `1 min 15 s`, `2 h 5 min`.
pub fn format_duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => format!("{}.{} s", s, (ms % 1000) / 100),
        10_000..60_000 => format!("{s} s"),
        60_000..3_600_000 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60_000..3_600_000 => format!("{} min {} s", s / 60, s % 60),
        _ if (s / 60).is_multiple_of(60) => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, (s / 60) % 60),
    }
}

/// `98.0%`, or `—` when no test ran.
pub fn pass_rate(s: &Summary) -> String {
    if s.total == 0 {
        "—".to_owned()
    } else {
        format!("{:.1}%", s.passed as f64 * 100.0 / s.total as f64)
    }
}

// ---------------------------------------------------------------------------------------
// Message assembly

static MESSAGE_SEQ: AtomicU64 = AtomicU64::new(0);

fn build(ctx: &MailContext, kind: &str, body: MultiPart) -> Result<Message, ComposeError> {
    if ctx.to.is_empty() && ctx.cc.is_empty() {
        return Err(ComposeError::NoRecipients);
    }
    let mut from: Mailbox = ctx.from.trim().parse().map_err(|e| ComposeError::Address {
        field: "from",
        value: truncate_chars(&one_line(ctx.from), 100),
        reason: format!("{e}"),
    })?;
    if from.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        let name = one_line(ctx.project_name);
        from.name = (!name.is_empty()).then(|| truncate_chars(&name, 64));
    }
    let id = format!(
        "<crat.run-{}.{kind}.{}.{}@{}>",
        ctx.run.id,
        Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        MESSAGE_SEQ.fetch_add(1, Ordering::Relaxed),
        from.email.domain()
    );
    let mut builder = Message::builder()
        .from(from)
        .subject(subject_for(ctx))
        .message_id(Some(id))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-CRAT-Run-Id"),
            ctx.run.id.to_string(),
        ));
    for (field, list) in [("to", &ctx.to), ("cc", &ctx.cc)] {
        for email in list {
            let address =
                email
                    .as_str()
                    .parse::<lettre::Address>()
                    .map_err(|e| ComposeError::Address {
                        field,
                        value: truncate_chars(&one_line(email.as_str()), 100),
                        reason: format!("{e}"),
                    })?;
            let mbox = Mailbox::new(None, address);
            builder = if field == "to" {
                builder.to(mbox)
            } else {
                builder.cc(mbox)
            };
        }
    }
    Ok(builder.multipart(body)?)
}

/// The size to show the chart at: its PNG size (read from the IHDR chunk), scaled down
/// to [`CHART_MAX_DISPLAY_WIDTH`].
fn png_display_size(png: &[u8]) -> (u32, u32) {
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (w, h) =
        if png.len() >= 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR" {
            (be(&png[16..20]), be(&png[20..24]))
        } else {
            (0, 0)
        };
    if w == 0 || h == 0 {
        return (CHART_FALLBACK_SIZE, CHART_FALLBACK_SIZE);
    }
    if w <= CHART_MAX_DISPLAY_WIDTH {
        (w, h)
    } else {
        let scaled = (u64::from(h) * u64::from(CHART_MAX_DISPLAY_WIDTH) / u64::from(w)).max(1);
        (
            CHART_MAX_DISPLAY_WIDTH,
            u32::try_from(scaled).unwrap_or(CHART_MAX_DISPLAY_WIDTH),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Values

/// Control characters (CR, LF, TAB, ...) and line/paragraph separators become spaces,
/// runs of whitespace collapse to one, and the ends are trimmed.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() || c == '\u{2028}' || c == '\u{2029}' {
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

/// Multi-line text for the plain-text part: newlines and tabs are kept, other control
/// characters become spaces, CRLF/CR become LF.
fn multi_line(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' => '\n',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// `Some(url)` when `s` is an absolute http(s) URL with a host (normalised by `url`).
fn http_url(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| u.to_string())
}

fn step_label(name: StepName) -> &'static str {
    match name {
        StepName::Download => "DOWNLOAD",
        StepName::Trigger => "TRIGGER",
        StepName::Monitor => "MONITOR",
        StepName::Notify => "NOTIFY",
    }
}

fn step_status_label(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "PENDING",
        StepStatus::Running => "RUNNING",
        StepStatus::Succeeded => "SUCCEEDED",
        StepStatus::Failed => "FAILED",
        StepStatus::Skipped => "SKIPPED",
        StepStatus::Cancelled => "CANCELLED",
    }
}

/// The step whose status is FAILED.
fn failed_step(run: &Run) -> Option<&Step> {
    run.steps.iter().find(|s| s.status == StepStatus::Failed)
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn detail_str<'s>(step: &'s Step, key: &str) -> Option<&'s str> {
    step.details
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The run's duration, when it has finished.
fn run_time(run: &Run) -> Option<String> {
    let finished = run.finished_at?;
    let ms = (finished - run.started_at).num_milliseconds();
    u64::try_from(ms).ok().map(format_duration_ms)
}

/// The build and run facts both mails show, as (label, value) pairs of plain text.
fn build_facts(ctx: &MailContext) -> Vec<(&'static str, String)> {
    let run = ctx.run;
    let mut facts = vec![
        ("Project", one_line(ctx.project_name)),
        ("Test item", one_line(&run.test_item_name)),
        ("Job", one_line(&run.build.job_name)),
        ("Build", format!("#{}", run.build.build_number)),
        ("Package path", one_line(&run.build.package_path)),
    ];
    if let Some(file) = run
        .step(StepName::Download)
        .and_then(|s| detail_str(s, "file_name"))
    {
        facts.push(("Package", one_line(file)));
    }
    facts.push(("Run", format!("#{}", run.id)));
    facts.push(("Triggered by", one_line(&run.triggered_by)));
    facts.push(("Started", fmt_time(run.started_at)));
    if let Some(f) = run.finished_at {
        facts.push(("Finished", fmt_time(f)));
    }
    if let Some(d) = run_time(run) {
        facts.push(("Run time", d));
    }
    facts
}

/// (label, text, error-ish) facts about the failure.
struct FailureFacts {
    headline: String,
    step: Option<&'static str>,
    error_name: Option<String>,
    error: Option<String>,
    step_error: Option<String>,
    /// The external test server's last word: MONITOR's error and details.
    external: Vec<(&'static str, String)>,
}

fn failure_facts(run: &Run) -> FailureFacts {
    let failed = failed_step(run);
    let headline = match (run.status, failed) {
        (RunStatus::Failed, Some(step)) => format!("FAILED at {}", step_label(step.name)),
        (status, Some(step)) => format!("{} at {}", status.as_str(), step_label(step.name)),
        (status, None) => status.as_str().to_owned(),
    };
    let error = run
        .error_message
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let step_error = failed
        .and_then(|s| s.error.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty() && Some(*s) != error.as_deref())
        .map(str::to_owned);
    let error_name = failed
        .and_then(|s| detail_str(s, "error_name"))
        .map(str::to_owned);
    let mut external = Vec::new();
    if let Some(monitor) = run.step(StepName::Monitor) {
        let shown_elsewhere =
            |e: &str| Some(e) == error.as_deref() || Some(e) == step_error.as_deref();
        if let Some(e) = monitor
            .error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty() && !shown_elsewhere(e))
        {
            external.push(("Error", e.to_owned()));
        }
        for (key, label) in [
            ("error", "Error"),
            ("external_error", "Error"),
            ("last_error", "Last problem"),
            ("phase", "Last phase"),
            ("last_poll_at", "Last poll"),
            ("polls", "Polls"),
            ("report_url_refused", "Refused report URL"),
        ] {
            let value = match monitor.details.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            if !shown_elsewhere(&value) && !external.iter().any(|(_, v)| *v == value) {
                external.push((label, value));
            }
        }
    }
    FailureFacts {
        headline,
        step: failed.map(|s| step_label(s.name)),
        error_name,
        error,
        step_error,
        external,
    }
}

// ---------------------------------------------------------------------------------------
// HTML

fn html_page(ctx: &MailContext, band: &str, kicker: &str, headline: &str, content: &str) -> String {
    let title = escape_html(&subject_for(ctx));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n</head>\n\
         <body style=\"margin:0;padding:0;background:#f3f4f6;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#f3f4f6;\">\n\
         <tr><td align=\"center\" style=\"padding:24px 12px;\">\n\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"width:100%;max-width:640px;background:#ffffff;border:1px solid #e5e7eb;{FONT}color:#1f2937;\">\n\
         <tr><td bgcolor=\"{band}\" style=\"background:{band};color:#ffffff;padding:18px 24px;{FONT}\">\n\
         <div style=\"font-size:13px;color:#ffffff;\">{kicker}</div>\n\
         <div style=\"font-size:22px;font-weight:bold;color:#ffffff;margin-top:4px;\">{headline}</div>\n\
         </td></tr>\n\
         {content}\
         <tr><td style=\"padding:14px 24px;border-top:1px solid #e5e7eb;font-size:12px;color:#6b7280;{FONT}\">\
         Sent by {project} after deploy-and-test run #{id}. This is an automatic message.</td></tr>\n\
         </table>\n</td></tr>\n</table>\n</body>\n</html>\n",
        project = escape_html(&one_line(ctx.project_name)),
        id = ctx.run.id,
    )
}

fn section(title: &str, inner: &str) -> String {
    format!(
        "<tr><td style=\"padding:18px 24px 4px 24px;{FONT}\">\n\
         <div style=\"font-size:15px;font-weight:bold;color:#111827;margin:0 0 8px 0;\">{}</div>\n{inner}</td></tr>\n",
        escape_html(title)
    )
}

/// A two-column table of plain-text facts (escaped here).
fn facts_table(facts: &[(&str, String)]) -> String {
    let mut rows = String::new();
    for (label, value) in facts {
        let _ = writeln!(
            rows,
            "<tr><td valign=\"top\" style=\"padding:4px 12px 4px 0;color:#6b7280;white-space:nowrap;font-size:14px;\">{}</td>\
             <td valign=\"top\" style=\"padding:4px 0;font-size:14px;word-break:break-word;\">{}</td></tr>",
            escape_html(label),
            escape_html(value)
        );
    }
    format!(
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"{FONT}\">\n{rows}</table>\n"
    )
}

/// An `<a>` for http(s) URLs, else the escaped text; `None` → a dash.
fn link_html(link: Option<&str>, text: &str) -> String {
    match link.map(|l| (l, http_url(l))) {
        Some((_, Some(url))) => format!(
            "<a href=\"{}\" style=\"color:#1d4ed8;text-decoration:underline;\">{}</a>",
            escape_html(&url),
            escape_html(text)
        ),
        Some((raw, None)) => format!(
            "<span style=\"{MONO}\">{}</span>",
            escape_html(&one_line(raw))
        ),
        None => "—".to_owned(),
    }
}

fn button_html(link: Option<&str>, text: &str, colour: &str) -> Option<String> {
    let url = http_url(link?)?;
    Some(format!(
        "<a href=\"{}\" style=\"display:inline-block;background:{colour};color:#ffffff;text-decoration:none;\
         font-weight:bold;font-size:14px;padding:10px 18px;border-radius:4px;{FONT}\">{}</a>",
        escape_html(&url),
        escape_html(text)
    ))
}

fn links_section(ctx: &MailContext, primary_colour: &str) -> String {
    let mut buttons = Vec::new();
    if ctx.report_refused.is_none()
        && let Some(b) = button_html(
            ctx.report_link.as_deref(),
            "Open the test report",
            primary_colour,
        )
    {
        buttons.push(b);
    }
    if let Some(b) = button_html(ctx.run_link.as_deref(), "Run details", GREY) {
        buttons.push(b);
    }
    let mut inner = String::new();
    if !buttons.is_empty() {
        let _ = writeln!(
            inner,
            "<p style=\"margin:0 0 12px 0;\">{}</p>",
            buttons.join("&nbsp;&nbsp;")
        );
    }
    let report = match (&ctx.report_refused, ctx.report_link.as_deref()) {
        (Some(why), Some(link)) => format!(
            "<span style=\"{MONO}\">{}</span><br><span style=\"color:{AMBER};\">{}</span>",
            escape_html(&one_line(link)),
            escape_html(&one_line(why))
        ),
        _ => link_html(
            ctx.report_link.as_deref(),
            ctx.report_link.as_deref().unwrap_or(""),
        ),
    };
    let facts = [
        ("Report", report),
        (
            "Run page",
            link_html(
                ctx.run_link.as_deref(),
                ctx.run_link.as_deref().unwrap_or(""),
            ),
        ),
    ];
    inner.push_str(&format!("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"{FONT}\">\n"));
    for (label, value) in facts {
        let _ = writeln!(
            inner,
            "<tr><td valign=\"top\" style=\"padding:4px 12px 4px 0;color:#6b7280;font-size:14px;\">{label}</td>\
             <td valign=\"top\" style=\"padding:4px 0;font-size:14px;word-break:break-all;\">{value}</td></tr>"
        );
    }
    inner.push_str("</table>\n");
    section("Links", &inner)
}

fn counts(s: &Summary) -> [u64; 5] {
    [s.passed, s.failed, s.broken, s.skipped, s.unknown]
}

fn success_html(ctx: &MailContext, chart: Option<(u32, u32)>) -> String {
    let run = ctx.run;
    let (band, headline) = match ctx.summary {
        Some(s) if s.total == 0 => (GREY, "Completed — no tests reported".to_owned()),
        Some(s) if s.failed + s.broken == 0 && s.passed == s.total => {
            (GREEN, format!("All {} tests passed", s.total))
        }
        Some(s) if s.failed + s.broken == 0 => (
            GREEN,
            format!("{} of {} tests passed, none failed", s.passed, s.total),
        ),
        Some(s) => (AMBER, format!("{} of {} tests passed", s.passed, s.total)),
        None => (GREY, "Completed — summary unavailable".to_owned()),
    };
    let kicker = format!(
        "{} · {} · {} #{}",
        escape_html(&one_line(ctx.project_name)),
        escape_html(&one_line(&run.test_item_name)),
        escape_html(&one_line(&run.build.job_name)),
        run.build.build_number
    );

    let mut content = String::new();
    match ctx.summary {
        Some(s) => {
            let mut legend = String::new();
            for ((label, colour), n) in legend_colours().zip(counts(s)) {
                let _ = writeln!(
                    legend,
                    "<tr><td width=\"22\" style=\"width:22px;min-width:22px;padding:5px 0;\">\
                     <table role=\"presentation\" width=\"14\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>\
                     <td width=\"14\" height=\"14\" bgcolor=\"{colour}\" style=\"width:14px;min-width:14px;height:14px;background:{colour};font-size:0;line-height:0;\">&nbsp;</td>\
                     </tr></table></td>\
                     <td style=\"padding:5px 16px 5px 0;font-size:14px;text-transform:capitalize;\">{label}</td>\
                     <td align=\"right\" style=\"padding:5px 0;font-size:14px;font-weight:bold;\">{n}</td></tr>"
                );
            }
            let _ = writeln!(
                legend,
                "<tr><td></td><td style=\"padding:7px 16px 5px 0;font-size:14px;border-top:1px solid #e5e7eb;\">Total</td>\
                 <td align=\"right\" style=\"padding:7px 0 5px 0;font-size:14px;font-weight:bold;border-top:1px solid #e5e7eb;\">{}</td></tr>",
                s.total
            );
            let rate = format!(
                "<div style=\"font-size:30px;font-weight:bold;color:{band};\">{}</div>\
                 <div style=\"font-size:13px;color:#6b7280;margin:2px 0 12px 0;\">pass rate ({} of {} passed)</div>",
                escape_html(&pass_rate(s)),
                s.passed,
                s.total
            );
            let legend_table = format!(
                "{rate}<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"{FONT}\">\n{legend}</table>\n"
            );
            let row = match chart {
                Some((w, h)) => {
                    let alt = format!(
                        "Pie chart of the test results: {} passed, {} failed, {} broken, {} skipped, {} unknown",
                        s.passed, s.failed, s.broken, s.skipped, s.unknown
                    );
                    // Two inline blocks: side by side when there is room, stacked on a phone.
                    format!(
                        "<div style=\"font-size:0;\">\
                         <div style=\"display:inline-block;vertical-align:middle;padding:0 28px 8px 0;\">\
                         <img src=\"cid:{CHART_CID}\" width=\"{w}\" height=\"{h}\" alt=\"{}\" \
                         style=\"display:block;border:0;width:{w}px;height:{h}px;max-width:100%;\"></div>\
                         <div style=\"display:inline-block;vertical-align:middle;padding:0 0 8px 0;font-size:14px;\">{legend_table}</div>\
                         </div>\n",
                        escape_html(&alt)
                    )
                }
                None => legend_table,
            };
            let mut inner = row;
            if let Some(ms) = s.duration_ms {
                let _ = writeln!(
                    inner,
                    "<p style=\"margin:8px 0 0 0;font-size:14px;\"><span style=\"color:#6b7280;\">Test duration</span>&nbsp; {}</p>",
                    escape_html(&format_duration_ms(ms))
                );
            }
            content.push_str(&section("Results", &inner));
        }
        None => {
            let note = ctx
                .summary_note
                .as_deref()
                .map(one_line)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "the report has no readable summary".to_owned());
            let inner = format!(
                "<div style=\"background:#fff8e1;border-left:4px solid {AMBER};padding:10px 14px;font-size:14px;\">\
                 The run completed and a report exists, but its summary is unavailable: \
                 <span style=\"{MONO}\">{}</span>. Open the report for the results.</div>\n",
                escape_html(&note)
            );
            content.push_str(&section("Results", &inner));
        }
    }
    content.push_str(&links_section(ctx, band));
    content.push_str(&section("Build", &facts_table(&build_facts(ctx))));
    html_page(ctx, band, &kicker, &escape_html(&headline), &content)
}

fn error_box(text: &str) -> String {
    format!(
        "<div style=\"background:#fdecea;border-left:4px solid {RED};padding:10px 14px;margin:0 0 10px 0;\
         {MONO}font-size:13px;white-space:pre-wrap;word-break:break-word;\">{}</div>\n",
        escape_html(&multi_line(text))
    )
}

fn failure_html(ctx: &MailContext) -> String {
    let run = ctx.run;
    let f = failure_facts(run);
    let band = if run.status == RunStatus::Failed {
        RED
    } else {
        GREY
    };
    let kicker = format!(
        "{} · {} · {} #{}",
        escape_html(&one_line(ctx.project_name)),
        escape_html(&one_line(&run.test_item_name)),
        escape_html(&one_line(&run.build.job_name)),
        run.build.build_number
    );
    let mut inner = String::new();
    let mut facts = vec![(
        "Failing step",
        f.step
            .map_or_else(|| format!("— (run {})", run.status.as_str()), str::to_owned),
    )];
    if let Some(name) = &f.error_name {
        facts.push(("Error type", one_line(name)));
    }
    inner.push_str(&facts_table(&facts));
    inner.push_str("<div style=\"height:10px;line-height:10px;font-size:0;\">&nbsp;</div>\n");
    match (&f.error, &f.step_error) {
        (None, None) => inner.push_str(&error_box("no error message was recorded")),
        (e, se) => {
            if let Some(e) = e {
                inner.push_str(&error_box(e));
            }
            if let Some(se) = se {
                inner.push_str(&format!(
                    "<div style=\"font-size:13px;color:#6b7280;margin:4px 0;\">Step error</div>\n{}",
                    error_box(se)
                ));
            }
        }
    }
    let mut content = section("What went wrong", &inner);
    if !f.external.is_empty() {
        let mut ext = String::new();
        for (label, value) in &f.external {
            let _ = writeln!(
                ext,
                "<tr><td valign=\"top\" style=\"padding:4px 12px 4px 0;color:#6b7280;white-space:nowrap;font-size:14px;\">{}</td>\
                 <td valign=\"top\" style=\"padding:4px 0;font-size:13px;{MONO}white-space:pre-wrap;word-break:break-word;\">{}</td></tr>",
                escape_html(label),
                escape_html(&multi_line(value))
            );
        }
        content.push_str(&section(
            "Test server",
            &format!("<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"{FONT}\">\n{ext}</table>\n"),
        ));
    }
    content.push_str(&section("Steps", &steps_table(run)));
    content.push_str(&links_section(ctx, GREY));
    content.push_str(&section("Build", &facts_table(&build_facts(ctx))));
    html_page(ctx, band, &kicker, &escape_html(&f.headline), &content)
}

fn steps_table(run: &Run) -> String {
    let th = "padding:6px 10px 6px 0;text-align:left;font-size:12px;color:#6b7280;border-bottom:1px solid #e5e7eb;";
    let mut rows = format!(
        "<tr><th style=\"{th}\">Step</th><th style=\"{th}\">Status</th><th style=\"{th}\">Started</th>\
         <th style=\"{th}\">Finished</th><th style=\"{th}\">Error</th></tr>\n"
    );
    for s in &run.steps {
        let colour = match s.status {
            StepStatus::Succeeded => GREEN,
            StepStatus::Failed => RED,
            StepStatus::Running => AMBER,
            _ => GREY,
        };
        let td = "padding:6px 10px 6px 0;font-size:13px;vertical-align:top;border-bottom:1px solid #f3f4f6;";
        let _ = writeln!(
            rows,
            "<tr><td style=\"{td}\">{}</td><td style=\"{td}color:{colour};font-weight:bold;\">{}</td>\
             <td style=\"{td}white-space:nowrap;\">{}</td><td style=\"{td}white-space:nowrap;\">{}</td>\
             <td style=\"{td}word-break:break-word;\">{}</td></tr>",
            step_label(s.name),
            step_status_label(s.status),
            s.started_at
                .map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string()),
            s.finished_at
                .map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string()),
            s.error
                .as_deref()
                .map_or(String::new(), |e| escape_html(&truncate_chars(
                    &one_line(e),
                    160
                ))),
        );
    }
    format!(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"{FONT}\">\n{rows}</table>\n\
         <div style=\"font-size:12px;color:#6b7280;margin-top:4px;\">Times in UTC.</div>\n"
    )
}

// ---------------------------------------------------------------------------------------
// Plain text

fn text_facts(out: &mut String, facts: &[(&str, String)]) {
    let width = facts
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in facts {
        let _ = writeln!(
            out,
            "  {:<width$} {value}",
            format!("{label}:"),
            width = width
        );
    }
}

fn text_links(out: &mut String, ctx: &MailContext) {
    let show = |l: Option<&str>| {
        l.map(one_line)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "—".to_owned())
    };
    text_facts(
        out,
        &[
            (
                "Report",
                match (&ctx.report_refused, ctx.report_link.as_deref()) {
                    (Some(why), Some(link)) => {
                        format!("{} ({})", one_line(link), one_line(why))
                    }
                    _ => show(ctx.report_link.as_deref()),
                },
            ),
            ("Run page", show(ctx.run_link.as_deref())),
        ],
    );
}

fn success_text(ctx: &MailContext) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject_for(ctx));
    match ctx.summary {
        Some(s) => {
            let _ = writeln!(
                out,
                "Results: {} of {} passed (pass rate {})",
                s.passed,
                s.total,
                pass_rate(s)
            );
            let mut facts: Vec<(&str, String)> = STATUS_LABELS
                .into_iter()
                .zip(counts(s))
                .map(|(label, n)| (label, n.to_string()))
                .collect();
            facts.push(("total", s.total.to_string()));
            if let Some(ms) = s.duration_ms {
                facts.push(("duration", format_duration_ms(ms)));
            }
            text_facts(&mut out, &facts);
        }
        None => {
            let note = ctx
                .summary_note
                .as_deref()
                .map(one_line)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "the report has no readable summary".to_owned());
            let _ = writeln!(
                out,
                "The run completed and a report exists, but its summary is unavailable: {note}.\nOpen the report for the results."
            );
        }
    }
    out.push('\n');
    text_links(&mut out, ctx);
    out.push_str("\nBuild\n");
    text_facts(&mut out, &build_facts(ctx));
    let _ = writeln!(
        out,
        "\n-- \nSent by {} after deploy-and-test run #{}. This is an automatic message.",
        one_line(ctx.project_name),
        ctx.run.id
    );
    out
}

fn failure_text(ctx: &MailContext) -> String {
    let run = ctx.run;
    let f = failure_facts(run);
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject_for(ctx));
    let mut facts = vec![(
        "Failing step",
        f.step
            .map_or_else(|| format!("— (run {})", run.status.as_str()), str::to_owned),
    )];
    if let Some(name) = &f.error_name {
        facts.push(("Error type", one_line(name)));
    }
    text_facts(&mut out, &facts);
    let indent = |s: &str| {
        multi_line(s)
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match (&f.error, &f.step_error) {
        (None, None) => out.push_str("\nError:\n    no error message was recorded\n"),
        (e, se) => {
            if let Some(e) = e {
                let _ = writeln!(out, "\nError:\n{}", indent(e));
            }
            if let Some(se) = se {
                let _ = writeln!(out, "\nStep error:\n{}", indent(se));
            }
        }
    }
    if !f.external.is_empty() {
        out.push_str("\nTest server\n");
        let ext: Vec<(&str, String)> = f.external.iter().map(|(l, v)| (*l, one_line(v))).collect();
        text_facts(&mut out, &ext);
    }
    out.push_str("\nSteps (UTC)\n");
    for s in &run.steps {
        let _ = write!(
            out,
            "  {:<9} {:<10} {} → {}",
            step_label(s.name),
            step_status_label(s.status),
            s.started_at
                .map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string()),
            s.finished_at
                .map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string()),
        );
        if let Some(e) = s.error.as_deref().filter(|e| !e.trim().is_empty()) {
            let _ = write!(out, "  {}", truncate_chars(&one_line(e), 160));
        }
        out.push('\n');
    }
    out.push('\n');
    text_links(&mut out, ctx);
    out.push_str("\nBuild\n");
    text_facts(&mut out, &build_facts(ctx));
    let _ = writeln!(
        out,
        "\n-- \nSent by {} after deploy-and-test run #{}. This is an automatic message.",
        one_line(ctx.project_name),
        run.id
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(format_duration_ms(0), "0 ms");
        assert_eq!(format_duration_ms(850), "850 ms");
        assert_eq!(format_duration_ms(4_250), "4.2 s");
        assert_eq!(format_duration_ms(42_900), "42 s");
        assert_eq!(format_duration_ms(75_000), "1 min 15 s");
        assert_eq!(format_duration_ms(120_000), "2 min");
        assert_eq!(format_duration_ms(7_500_000), "2 h 5 min");
        assert_eq!(format_duration_ms(7_200_000), "2 h");
    }

    #[test]
    fn escaping_and_one_line_values() {
        assert_eq!(
            escape_html("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(one_line(" a\r\nBcc: x\t\u{2028}y\u{0} "), "a Bcc: x y");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(http_url("javascript:alert(1)"), None);
        assert_eq!(http_url("file:///etc/passwd"), None);
        assert_eq!(
            http_url("https://r.example.com/a b").as_deref(),
            Some("https://r.example.com/a%20b")
        );
    }

    #[test]
    fn chart_size_comes_from_the_png_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&480u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(png_display_size(&png), (320, 320));
        png[16..20].copy_from_slice(&200u32.to_be_bytes());
        png[20..24].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(png_display_size(&png), (200, 100));
        assert_eq!(png_display_size(b"not a png"), (240, 240));
    }
}
