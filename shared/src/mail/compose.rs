//! The result mails as lettre [`Message`]s: the success mail (HTML with counts, pass rate
//! and the inline pie chart, plus a plain-text alternative) and the failure mail (the
//! failing step, the errors and the build info, HTML plus plain text).
//!
//! The facts come from `facts`, the HTML from the maud templates in `html` (every outside
//! value is escaped by the template engine), the plain text from `text`, the words from
//! [`super::words`] in the settings' `mail_language`; links become `href`s only when they
//! are http(s) URLs; the subject is built from one-line values (control characters become spaces) and is
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

use std::sync::atomic::{AtomicU64, Ordering};

use super::words::Words;
use crate::domain::run::{Run, RunStatus, Step, StepStatus, Summary};
use crate::domain::{Email, MailLanguage};
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// The Content-ID of the inline chart image (`cid:chart@crat` in the HTML).
pub const CHART_CID: &str = "chart@crat";
/// The subject never gets longer than this (in characters).
pub const SUBJECT_MAX_CHARS: usize = 200;
/// The chart is shown at its natural size, but never wider than this (CSS pixels).
const CHART_MAX_DISPLAY_WIDTH: u32 = 320;
/// Fallback display size when the chart's PNG header cannot be read.
const CHART_FALLBACK_SIZE: u32 = 240;

pub(super) const GREEN: &str = "#2e7d32";
// White text on it reads at 4.9:1 (WCAG AA needs 4.5; the earlier #b26a00 gave 4.2).
pub(super) const AMBER: &str = "#a36100";
pub(super) const RED: &str = "#c62828";
pub(super) const GREY: &str = "#546e7a";

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
    /// What changed since the item's previous run on the same environment (the new
    /// failures first); `None` when the run has no stored test cases or no earlier run to
    /// compare with.
    pub changes: Option<&'a super::changes::TestChanges>,
    /// The pie chart (an inline CID image) when a summary exists.
    pub chart_png: Option<Vec<u8>>,
    /// `EMAIL_FROM`: a bare address or `Name <address>`.
    pub from: &'a str,
    /// The triggering user and the item's `notify_emails` (de-duplicated by the caller).
    pub to: Vec<Email>,
    /// `settings.notify_cc`.
    pub cc: Vec<Email>,
    /// `settings.mail_language`: the subject, HTML and text are written in it.
    pub language: MailLanguage,
}

impl MailContext<'_> {
    pub(super) fn words(&self) -> &'static Words {
        Words::of(self.language)
    }
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
    let html = super::html::success(ctx, chart.map(png_display_size));
    let text = super::text::success(ctx);
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
        .singlepart(SinglePart::plain(super::text::failure(ctx)))
        .singlepart(SinglePart::html(super::html::failure(ctx)));
    build(ctx, "failure", body)
}

/// `[CRAT] cds CDN_CORE #101 — tests failed, 98/100 passed`, `… — passed, 100/100`,
/// `… — error at DOWNLOAD`, `… — deploy failed on the test server`,
/// `… — completed, summary unavailable`. One line, at most [`SUBJECT_MAX_CHARS`] characters.
pub fn subject_for(ctx: &MailContext) -> String {
    let run = ctx.run;
    let words = ctx.words();
    let head = one_line(&format!(
        "[{}] {} {} #{}",
        one_line(ctx.project_name),
        one_line(&run.test_item_name),
        one_line(&run.build.job_name),
        run.build.build_number
    ));
    let tail = match run.status {
        RunStatus::Completed => match ctx.summary {
            Some(s) if s.total == 0 => words.subject_no_tests.to_owned(),
            Some(s) if s.failed + s.broken > 0 => (words.subject_tests_failed)(s.passed, s.total),
            Some(s) => (words.subject_passed)(s.passed, s.total),
            None => words.subject_summary_unavailable.to_owned(),
        },
        RunStatus::Failed if run.deploy_failure().is_some() => {
            words.subject_deploy_failed.to_owned()
        }
        RunStatus::Failed => match failed_step(run) {
            Some(step) => (words.failed_at)(step.name.as_str()),
            None => words.failed.to_owned(),
        },
        other => other.as_str().to_owned(),
    };
    let sep = " — ";
    let room = SUBJECT_MAX_CHARS.saturating_sub(tail.chars().count() + sep.chars().count());
    format!("{}{sep}{tail}", truncate_chars(&head, room.max(1)))
}

/// Human duration: `850 ms`, `4.2 s`, `42 s`, `1 min 15 s`, `2 h 5 min`.
pub fn format_duration_ms(ms: u64) -> String {
    format_duration(ms, &Words::of(MailLanguage::English).units)
}

/// [`format_duration_ms`] with the unit names `[ms, s, min, h]` of a language.
pub fn format_duration(ms: u64, [ms_unit, sec, min, h]: &[&str; 4]) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} {ms_unit}"),
        1_000..10_000 => format!("{}.{} {sec}", s, (ms % 1000) / 100),
        10_000..60_000 => format!("{s} {sec}"),
        60_000..3_600_000 if s.is_multiple_of(60) => format!("{} {min}", s / 60),
        60_000..3_600_000 => format!("{} {min} {} {sec}", s / 60, s % 60),
        _ if (s / 60).is_multiple_of(60) => format!("{} {h}", s / 3600),
        _ => format!("{} {h} {} {min}", s / 3600, (s / 60) % 60),
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
pub(super) fn one_line(s: &str) -> String {
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
pub(super) fn multi_line(s: &str) -> String {
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

pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end().to_owned();
    out.push('…');
    out
}

/// `Some(url)` when `s` is an absolute http(s) URL with a host (normalised by `url`).
pub(super) fn http_url(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| u.to_string())
}

pub(super) fn step_status_label(status: StepStatus) -> &'static str {
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
pub(super) fn failed_step(run: &Run) -> Option<&Step> {
    run.steps.iter().find(|s| s.status == StepStatus::Failed)
}

pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
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
