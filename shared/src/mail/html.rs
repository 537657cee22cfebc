//! The HTML part of the result mails, as maud templates: checked at compile time, and
//! every value spliced in is escaped by maud (only `&nbsp;` spacers are pre-escaped).
//! Mail clients ignore stylesheets, so every style is inline; the layout is tables.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::compose::{
    AMBER, CHART_CID, GREEN, GREY, MailContext, RED, format_duration, http_url, multi_line,
    one_line, pass_rate, step_status_label, subject_for, truncate_chars,
};
use super::facts::{
    FailureFacts, build_facts, counts, failing_step_label, failure_facts, summary_note,
};
use crate::domain::run::{RunStatus, StepName, StepStatus};

const FONT: &str = "font-family:Arial,Helvetica,sans-serif;";
const MONO: &str = "font-family:Consolas,Menlo,'Courier New',monospace;";
const NBSP: PreEscaped<&str> = PreEscaped("&nbsp;");

/// The page around every mail: a coloured band with the kicker and headline, the
/// sections, the footer.
fn page(ctx: &MailContext, band: &str, headline: &str, content: Markup) -> String {
    let w = ctx.words();
    let run = ctx.run;
    let kicker = format!(
        "{} · {} · {} #{}",
        one_line(ctx.project_name),
        one_line(&run.test_item_name),
        one_line(&run.build.job_name),
        run.build.build_number
    );
    html! {
        (DOCTYPE)
        html lang=(w.lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (subject_for(ctx)) }
            }
            body style="margin:0;padding:0;background:#f3f4f6;" {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;" {
                    tr { td align="center" style="padding:24px 12px;" {
                        table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0"
                            style={ "width:100%;max-width:640px;background:#ffffff;border:1px solid #e5e7eb;" (FONT) "color:#1f2937;" } {
                            tr { td bgcolor=(band) style={ "background:" (band) ";color:#ffffff;padding:18px 24px;" (FONT) } {
                                div style="font-size:13px;color:#ffffff;" { (kicker) }
                                div style="font-size:22px;font-weight:bold;color:#ffffff;margin-top:4px;" { (headline) }
                            } }
                            (content)
                            tr { td style={ "padding:14px 24px;border-top:1px solid #e5e7eb;font-size:12px;color:#6b7280;" (FONT) } {
                                ((w.footer)(&one_line(ctx.project_name), run.id.get()))
                            } }
                        }
                    } }
                }
            }
        }
    }
    .into_string()
}

fn section(title: &str, inner: Markup) -> Markup {
    html! {
        tr { td style={ "padding:18px 24px 4px 24px;" (FONT) } {
            div style="font-size:15px;font-weight:bold;color:#111827;margin:0 0 8px 0;" { (title) }
            (inner)
        } }
    }
}

/// A two-column table of plain-text facts.
fn facts_table(facts: &[(&str, String)]) -> Markup {
    html! {
        table role="presentation" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
            @for (label, value) in facts {
                tr {
                    td valign="top" style="padding:4px 12px 4px 0;color:#6b7280;white-space:nowrap;font-size:14px;" { (label) }
                    td valign="top" style="padding:4px 0;font-size:14px;word-break:break-word;" { (value) }
                }
            }
        }
    }
}

/// An `<a>` for http(s) URLs, else the text in monospace; `None` → a dash.
fn link(link: Option<&str>) -> Markup {
    html! {
        @match link.map(|l| (l, http_url(l))) {
            Some((raw, Some(url))) => a href=(url) style="color:#1d4ed8;text-decoration:underline;" { (raw) },
            Some((raw, None)) => span style=(MONO) { (one_line(raw)) },
            None => "—",
        }
    }
}

fn button(link: Option<&str>, text: &str, colour: &str) -> Option<Markup> {
    let url = http_url(link?)?;
    Some(html! {
        a href=(url) style={ "display:inline-block;background:" (colour) ";color:#ffffff;text-decoration:none;font-weight:bold;font-size:14px;padding:10px 18px;border-radius:4px;" (FONT) } { (text) }
    })
}

fn links_section(ctx: &MailContext, primary_colour: &str) -> Markup {
    let w = ctx.words();
    let report_button = ctx
        .report_refused
        .is_none()
        .then(|| button(ctx.report_link.as_deref(), w.open_report, primary_colour))
        .flatten();
    let buttons: Vec<Markup> = report_button
        .into_iter()
        .chain(button(ctx.run_link.as_deref(), w.run_details, GREY))
        .collect();
    let report = match (&ctx.report_refused, ctx.report_link.as_deref()) {
        (Some(why), Some(raw)) => html! {
            span style=(MONO) { (one_line(raw)) } br;
            span style={ "color:" (AMBER) ";" } { (one_line(why)) }
        },
        _ => link(ctx.report_link.as_deref()),
    };
    let inner = html! {
        @if !buttons.is_empty() {
            p style="margin:0 0 12px 0;" {
                @for (i, b) in buttons.iter().enumerate() {
                    @if i > 0 { (NBSP) (NBSP) }
                    (b)
                }
            }
        }
        table role="presentation" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
            @for (label, value) in [(w.report, report), (w.run_page, link(ctx.run_link.as_deref()))] {
                tr {
                    td valign="top" style="padding:4px 12px 4px 0;color:#6b7280;font-size:14px;" { (label) }
                    td valign="top" style="padding:4px 0;font-size:14px;word-break:break-all;" { (value) }
                }
            }
        }
    };
    section(w.links, inner)
}

/// What changed since the previous run: the new failures by name (with the first line of
/// each message), how many more, then the fixed and still-failing counts.
fn changes_section(ctx: &MailContext) -> Option<Markup> {
    let w = ctx.words();
    let changes = ctx.changes?;
    let title = if changes.new_failures_total == 0 {
        (w.no_new_failures_since)(changes.previous_run_id)
    } else {
        (w.new_failures_since)(changes.previous_run_id)
    };
    let more = changes.unlisted();
    let inner = html! {
        @if !changes.new_failures.is_empty() {
            table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
                @for t in &changes.new_failures {
                    tr { td style={ "padding:5px 0;border-bottom:1px solid #f3f4f6;font-size:14px;border-left:3px solid " (RED) ";padding-left:8px;word-break:break-word;" } {
                        div style="font-weight:bold;" { (truncate_chars(&one_line(&t.name), 200)) }
                        @if let Some(m) = t.message.as_deref().map(one_line).filter(|m| !m.is_empty()) {
                            div style={ "font-size:12px;color:#6b7280;" (MONO) } { (m) }
                        }
                    } }
                }
            }
        }
        @if more > 0 {
            p style="margin:6px 0 0 0;font-size:13px;" {
                @match ctx.run_link.as_deref().and_then(http_url) {
                    Some(url) => a href=(url) style="color:#1d4ed8;text-decoration:underline;" { ((w.and_more)(more)) },
                    None => ((w.and_more)(more)),
                }
            }
        }
        p style="margin:8px 0 0 0;font-size:14px;" {
            span style="color:#6b7280;" { (w.fixed) } (NBSP) " "
            span style={ "font-weight:bold;color:" (GREEN) ";" } { (changes.fixed) }
            (NBSP) (NBSP) " · " (NBSP) (NBSP)
            span style="color:#6b7280;" { (w.still_failing) } (NBSP) " "
            span style={ "font-weight:bold;color:" (RED) ";" } { (changes.still_failing) }
        }
    };
    Some(section(&title, inner))
}

/// The success mail: headline, what changed since the previous run, the chart beside the legend and pass rate, links, build.
pub(super) fn success(ctx: &MailContext, chart: Option<(u32, u32)>) -> String {
    let w = ctx.words();
    let (band, headline) = match ctx.summary {
        Some(s) if s.total == 0 => (GREY, w.headline_no_tests.to_owned()),
        Some(s) if s.failed + s.broken == 0 && s.passed == s.total => {
            (GREEN, (w.headline_all_passed)(s.total))
        }
        Some(s) if s.failed + s.broken == 0 => (GREEN, (w.headline_none_failed)(s.passed, s.total)),
        Some(s) => (AMBER, (w.headline_some_failed)(s.passed, s.total)),
        None => (GREY, w.headline_summary_unavailable.to_owned()),
    };
    let results = match ctx.summary {
        Some(s) => {
            let legend = html! {
                div style={ "font-size:30px;font-weight:bold;color:" (band) ";" } { (pass_rate(s)) }
                div style="font-size:13px;color:#6b7280;margin:2px 0 12px 0;" { ((w.pass_rate_of)(s.passed, s.total)) }
                table role="presentation" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
                    @for ((label, (_, colour)), n) in w.statuses.iter().zip(super::chart::COLORS).zip(counts(s)) {
                        tr {
                            td width="22" style="width:22px;min-width:22px;padding:5px 0;" {
                                table role="presentation" width="14" cellpadding="0" cellspacing="0" border="0" { tr {
                                    td width="14" height="14" bgcolor=(colour)
                                        style={ "width:14px;min-width:14px;height:14px;background:" (colour) ";font-size:0;line-height:0;" } { (NBSP) }
                                } }
                            }
                            td style="padding:5px 16px 5px 0;font-size:14px;text-transform:capitalize;" { (label) }
                            td align="right" style="padding:5px 0;font-size:14px;font-weight:bold;" { (n) }
                        }
                    }
                    tr {
                        td {}
                        td style="padding:7px 16px 5px 0;font-size:14px;border-top:1px solid #e5e7eb;" { (w.total) }
                        td align="right" style="padding:7px 0 5px 0;font-size:14px;font-weight:bold;border-top:1px solid #e5e7eb;" { (s.total) }
                    }
                }
            };
            html! {
                @match chart {
                    // Two inline blocks: side by side when there is room, stacked on a phone.
                    Some((cw, ch)) => div style="font-size:0;" {
                        div style="display:inline-block;vertical-align:middle;padding:0 28px 8px 0;" {
                            img src={ "cid:" (CHART_CID) } width=(cw) height=(ch) alt=((w.chart_alt)(counts(s)))
                                style={ "display:block;border:0;width:" (cw) "px;height:" (ch) "px;max-width:100%;" };
                        }
                        div style="display:inline-block;vertical-align:middle;padding:0 0 8px 0;font-size:14px;" { (legend) }
                    },
                    None => (legend),
                }
                @if let Some(ms) = s.duration_ms {
                    p style="margin:8px 0 0 0;font-size:14px;" {
                        span style="color:#6b7280;" { (w.test_duration) } (NBSP) " " (format_duration(ms, &w.units))
                    }
                }
            }
        }
        None => html! {
            div style={ "background:#fff8e1;border-left:4px solid " (AMBER) ";padding:10px 14px;font-size:14px;" } {
                (w.summary_unavailable_before)
                span style=(MONO) { (summary_note(ctx)) }
                (w.summary_unavailable_after)
            }
        },
    };
    let content = html! {
        @if let Some(changes) = changes_section(ctx) { (changes) }
        (section(w.results, results))
        (links_section(ctx, band))
        (section(w.build_section, facts_table(&build_facts(ctx))))
    };
    page(ctx, band, &headline, content)
}

fn error_box(text: &str) -> Markup {
    html! {
        div style={ "background:#fdecea;border-left:4px solid " (RED) ";padding:10px 14px;margin:0 0 10px 0;" (MONO) "font-size:13px;white-space:pre-wrap;word-break:break-word;" } {
            (multi_line(text))
        }
    }
}

/// The failure mail: the failing step and errors, the test server's last word, the
/// steps, links, build.
pub(super) fn failure(ctx: &MailContext) -> String {
    let w = ctx.words();
    let run = ctx.run;
    let f: FailureFacts = failure_facts(run, w);
    let band = if run.status == RunStatus::Failed {
        RED
    } else {
        GREY
    };
    let mut facts = vec![(w.failing_step, failing_step_label(ctx, &f))];
    if let Some(name) = &f.error_name {
        facts.push((w.error_type, one_line(name)));
    }
    let what = html! {
        (facts_table(&facts))
        div style="height:10px;line-height:10px;font-size:0;" { (NBSP) }
        @if f.error.is_none() && f.step_error.is_none() {
            (error_box(w.no_error_recorded))
        }
        @if let Some(e) = &f.error { (error_box(e)) }
        @if let Some(se) = &f.step_error {
            div style="font-size:13px;color:#6b7280;margin:4px 0;" { (w.step_error) }
            (error_box(se))
        }
    };
    let cell =
        "padding:6px 10px 6px 0;font-size:13px;vertical-align:top;border-bottom:1px solid #f3f4f6;";
    let th = "padding:6px 10px 6px 0;text-align:left;font-size:12px;color:#6b7280;border-bottom:1px solid #e5e7eb;";
    let hms = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string())
    };
    let steps = html! {
        table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
            tr { @for c in w.step_columns { th style=(th) { (c) } } }
            // Not NOTIFY: this mail is that step, still running as it is written.
            @for s in run.steps.iter().filter(|s| s.name != StepName::Notify) {
                @let colour = match s.status {
                    StepStatus::Succeeded => GREEN,
                    StepStatus::Failed => RED,
                    StepStatus::Running => AMBER,
                    _ => GREY,
                };
                tr {
                    td style=(cell) { (s.name.as_str()) }
                    td style={ (cell) "color:" (colour) ";font-weight:bold;" } { (step_status_label(s.status)) }
                    td style={ (cell) "white-space:nowrap;" } { (hms(s.started_at)) }
                    td style={ (cell) "white-space:nowrap;" } { (hms(s.finished_at)) }
                    td style={ (cell) "word-break:break-word;" } {
                        @if let Some(e) = &s.error { (truncate_chars(&one_line(e), 160)) }
                    }
                }
            }
        }
        div style="font-size:12px;color:#6b7280;margin-top:4px;" { (w.times_in_utc) }
    };
    let content = html! {
        (section(w.what_went_wrong, what))
        @if !f.external.is_empty() {
            (section(w.test_server, html! {
                table role="presentation" cellpadding="0" cellspacing="0" border="0" style=(FONT) {
                    @for (label, value) in &f.external {
                        tr {
                            td valign="top" style="padding:4px 12px 4px 0;color:#6b7280;white-space:nowrap;font-size:14px;" { (label) }
                            td valign="top" style={ "padding:4px 0;font-size:13px;" (MONO) "white-space:pre-wrap;word-break:break-word;" } { (multi_line(value)) }
                        }
                    }
                }
            }))
        }
        (section(w.steps, steps))
        (links_section(ctx, GREY))
        (section(w.build_section, facts_table(&build_facts(ctx))))
    };
    page(ctx, band, &f.headline, content)
}
