//! The plain-text part of the result mails: aligned `label: value` lines, in the same
//! words as the HTML.

use std::fmt::Write as _;

use super::compose::{
    MailContext, format_duration, multi_line, one_line, pass_rate, step_status_label, subject_for,
    truncate_chars,
};
use super::facts::{build_facts, counts, failing_step_label, failure_facts, summary_note};

fn facts(out: &mut String, facts: &[(&str, String)]) {
    let width = facts
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in facts {
        let label = format!("{label}:");
        let _ = writeln!(out, "  {label:<width$} {value}");
    }
}

fn links_and_build(out: &mut String, ctx: &MailContext) {
    let w = ctx.words();
    let show = |l: Option<&str>| {
        l.map(one_line)
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "—".to_owned())
    };
    let report = match (&ctx.report_refused, ctx.report_link.as_deref()) {
        (Some(why), Some(link)) => format!("{} ({})", one_line(link), one_line(why)),
        _ => show(ctx.report_link.as_deref()),
    };
    out.push('\n');
    facts(
        out,
        &[
            (w.report, report),
            (w.run_page, show(ctx.run_link.as_deref())),
        ],
    );
    let _ = writeln!(out, "\n{}", w.build_section);
    facts(out, &build_facts(ctx));
    let footer = (w.footer)(&one_line(ctx.project_name), ctx.run.id.get());
    let _ = writeln!(out, "\n-- \n{footer}");
}

/// The new failures by name, how many more, then the fixed and still-failing counts.
fn changes(out: &mut String, ctx: &MailContext) {
    let w = ctx.words();
    let Some(changes) = ctx.changes else { return };
    let title = if changes.new_failures_total == 0 {
        (w.no_new_failures_since)(changes.previous_run_id)
    } else {
        (w.new_failures_since)(changes.previous_run_id)
    };
    let _ = writeln!(out, "{title}");
    for t in &changes.new_failures {
        let _ = writeln!(out, "  - {}", truncate_chars(&one_line(&t.name), 200));
        if let Some(m) = t.message.as_deref().map(one_line).filter(|m| !m.is_empty()) {
            let _ = writeln!(out, "      {m}");
        }
    }
    let more = changes.unlisted();
    if more > 0 {
        let link = ctx
            .run_link
            .as_deref()
            .map(|l| format!(": {}", one_line(l)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}{link}", (w.and_more)(more));
    }
    facts(
        out,
        &[
            (w.fixed, changes.fixed.to_string()),
            (w.still_failing, changes.still_failing.to_string()),
        ],
    );
    out.push('\n');
}

pub(super) fn success(ctx: &MailContext) -> String {
    let w = ctx.words();
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject_for(ctx));
    changes(&mut out, ctx);
    match ctx.summary {
        Some(s) => {
            let _ = writeln!(
                out,
                "{}",
                (w.results_line)(s.passed, s.total, &pass_rate(s))
            );
            let mut lines: Vec<(&str, String)> = w
                .statuses
                .into_iter()
                .zip(counts(s))
                .map(|(label, n)| (label, n.to_string()))
                .collect();
            lines.push((w.total_lower, s.total.to_string()));
            if let Some(ms) = s.duration_ms {
                lines.push((w.duration, format_duration(ms, &w.units)));
            }
            facts(&mut out, &lines);
        }
        None => {
            let _ = writeln!(
                out,
                "{}{}{}",
                w.summary_unavailable_before,
                summary_note(ctx),
                w.summary_unavailable_after
            );
        }
    }
    links_and_build(&mut out, ctx);
    out
}

pub(super) fn failure(ctx: &MailContext) -> String {
    let w = ctx.words();
    let run = ctx.run;
    let f = failure_facts(run, w);
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject_for(ctx));
    let mut head = vec![(w.failing_step, failing_step_label(ctx, &f))];
    if let Some(name) = &f.error_name {
        head.push((w.error_type, one_line(name)));
    }
    facts(&mut out, &head);
    let indent = |s: &str| {
        multi_line(s)
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if f.error.is_none() && f.step_error.is_none() {
        let _ = writeln!(out, "\n{}:\n    {}", w.error, w.no_error_recorded);
    }
    if let Some(e) = &f.error {
        let _ = writeln!(out, "\n{}:\n{}", w.error, indent(e));
    }
    if let Some(se) = &f.step_error {
        let _ = writeln!(out, "\n{}:\n{}", w.step_error, indent(se));
    }
    if !f.external.is_empty() {
        let _ = writeln!(out, "\n{}", w.test_server);
        let ext: Vec<(&str, String)> = f.external.iter().map(|(l, v)| (*l, one_line(v))).collect();
        facts(&mut out, &ext);
    }
    let _ = writeln!(out, "\n{}", w.steps_utc);
    let hms = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("—".to_owned(), |t| t.format("%H:%M:%S").to_string())
    };
    // Not NOTIFY: this mail is that step, still running as it is written.
    for s in run
        .steps
        .iter()
        .filter(|s| s.name != crate::domain::StepName::Notify)
    {
        let _ = write!(
            out,
            "  {:<9} {:<10} {} → {}",
            s.name.as_str(),
            step_status_label(s.status),
            hms(s.started_at),
            hms(s.finished_at),
        );
        if let Some(e) = s.error.as_deref().filter(|e| !e.trim().is_empty()) {
            let _ = write!(out, "  {}", truncate_chars(&one_line(e), 160));
        }
        out.push('\n');
    }
    links_and_build(&mut out, ctx);
    out
}
