//! The result mails, parsed back from their bytes (`Message::formatted()`) with a real MIME
//! parser (`mail-parser`): the MIME structure, the facts in the HTML and the text part, the
//! inline chart's Content-ID, the failure details, header and HTML injection, non-ASCII.
//!
//! Here: the MIME helpers, the success mail and the mail's language; the failure mail,
//! escaping and addresses have their modules.

use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use serde_json::{Value, json};
use shared::domain::Email;
use shared::domain::run::{Run, Summary};
use shared::mail::compose::{CHART_CID, MailContext, failure_mail, subject_for, success_mail};

mod addresses;
mod changes;
mod escaping;
mod failure;

const EVIL: &str = "<script>alert(1)</script>\r\nBcc: evil@example.com";

fn step(name: &str, status: &str, error: Option<&str>, details: Value) -> Value {
    json!({
        "name": name, "status": status,
        "started_at": "2026-03-02T10:00:05Z", "finished_at": if status == "PENDING" { Value::Null } else { json!("2026-03-02T10:01:20Z") },
        "details": details, "error": error,
    })
}

/// A run; `patch` overrides top-level fields.
fn run(patch: Value) -> Run {
    let mut v = json!({
        "id": 7, "test_item_id": 3, "test_item_name": "cds", "build_info_id": 123,
        "build": {"job_name": "CDN_CORE", "build_number": 101, "package_path": "CDN/pass/20260302-master-abc/el7"},
        "parameter_set_id": 1, "parameter_set_version": 2, "params": {"service_name": "cds"},
        "triggered_by": "dev@example.com", "status": "COMPLETED", "task_id": "task-9",
        "package_url": "http://pkgs.example.com/CDN/pass/20260302-master-abc/el7/cds-1.2.3.tar.gz",
        "package_size": 1234, "package_sha256": "ab".repeat(32),
        "report_url": "http://tests.example.com:9000/reports/9/",
        "summary": null, "error_message": null, "execution_id": "run-7",
        "started_at": "2026-03-02T10:00:00Z", "finished_at": "2026-03-02T10:01:15Z",
        "steps": [
            step("DOWNLOAD", "SUCCEEDED", None, json!({"file_name": "cds-1.2.3.tar.gz"})),
            step("TRIGGER", "SUCCEEDED", None, json!({})),
            step("MONITOR", "SUCCEEDED", None, json!({"phase": "completed"})),
            step("NOTIFY", "RUNNING", None, json!({})),
        ],
        "notification": null, "revision": 5,
    });
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn summary(passed: u64, failed: u64, broken: u64, skipped: u64, unknown: u64) -> Summary {
    Summary {
        passed,
        failed,
        broken,
        skipped,
        unknown,
        total: passed + failed + broken + skipped + unknown,
        duration_ms: Some(75_000),
    }
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

/// A real 240×240 PNG.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % 255) as u8, 200, 100, 255])
            .collect();
        writer.write_image_data(&data).unwrap();
    }
    out
}

fn ctx<'a>(run: &'a Run, summary: Option<&'a Summary>) -> MailContext<'a> {
    MailContext {
        project_name: "CRAT",
        run,
        run_link: Some("https://crat.example.com/runs/7".into()),
        report_link: Some("https://reports.example.com/reports/9/".into()),
        report_refused: None,
        summary,
        summary_note: None,
        changes: None,
        chart_png: summary.map(|_| png(240, 240)),
        from: "crat@example.com",
        to: vec![email("dev@example.com"), email("lead@example.com")],
        cc: vec![email("qa@example.com")],
        language: shared::domain::MailLanguage::English,
    }
}

fn content_type(p: &MessagePart) -> String {
    let ct = p.content_type().unwrap();
    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
}

/// The MIME tree as a compact string, e.g. `multipart/alternative(text/plain,text/html)`.
fn tree(m: &mail_parser::Message, id: u32) -> String {
    let p = &m.parts[id as usize];
    match &p.body {
        PartType::Multipart(children) => format!(
            "{}({})",
            content_type(p),
            children
                .iter()
                .map(|c| tree(m, *c))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => content_type(p),
    }
}

fn part_of<'m>(m: &'m mail_parser::Message<'m>, ctype: &str) -> &'m MessagePart<'m> {
    m.parts
        .iter()
        .find(|p| content_type(p) == ctype)
        .unwrap_or_else(|| panic!("no {ctype} part"))
}

fn text_of(m: &mail_parser::Message, ctype: &str) -> String {
    part_of(m, ctype)
        .text_contents()
        .unwrap()
        .replace("\r\n", "\n")
}

/// The header section of the raw message (before the first empty line).
fn raw_headers(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.split("\r\n\r\n").next().unwrap().to_owned()
}

/// Removes tags and collapses whitespace.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The number in the legend row whose label is `label` (`passed`, ..., `Total`).
fn legend_count(html: &str, label: &str) -> u64 {
    let start = html
        .find(&format!(">{label}</td>"))
        .unwrap_or_else(|| panic!("no legend row {label}"));
    let row_end = start + html[start..].find("</tr>").unwrap();
    strip_tags(&html[start + 1..row_end])
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

/// The value after `label:` in the plain-text part.
fn text_value<'t>(text: &'t str, label: &str) -> &'t str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{label}:")))
        .unwrap_or_else(|| panic!("no {label}: line in\n{text}"))
        .trim()
}

#[test]
fn success_mail_structure_counts_chart_and_links() {
    let r = run(json!({}));
    let s = summary(95, 2, 1, 1, 1);
    let c = ctx(&r, Some(&s));
    let chart = c.chart_png.clone().unwrap();
    let msg = success_mail(&c).unwrap();
    let raw = msg.formatted();
    let m = MessageParser::default().parse(&raw).unwrap();

    assert_eq!(
        tree(&m, 0),
        "multipart/alternative(text/plain,multipart/related(text/html,image/png))"
    );
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — tests failed, 95/100 passed"
    );
    assert_eq!(subject_for(&c), m.subject().unwrap());
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.address.as_deref(), Some("crat@example.com"));
    assert_eq!(from.name.as_deref(), Some("CRAT"));
    let to: Vec<_> = m
        .to()
        .unwrap()
        .iter()
        .map(|a| a.address.clone().unwrap().into_owned())
        .collect();
    assert_eq!(to, ["dev@example.com", "lead@example.com"]);
    assert_eq!(
        m.cc().unwrap().first().unwrap().address.as_deref(),
        Some("qa@example.com")
    );
    assert!(m.message_id().unwrap().contains("run-7"));
    let envelope: Vec<String> = msg
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        envelope,
        ["dev@example.com", "lead@example.com", "qa@example.com"]
    );

    // The image: inline, its Content-ID referenced by the HTML, the exact bytes.
    let img = part_of(&m, "image/png");
    assert_eq!(img.content_id(), Some(CHART_CID));
    assert_eq!(img.content_disposition().unwrap().ctype(), "inline");
    assert_eq!(img.contents(), chart.as_slice());
    let html = text_of(&m, "text/html");
    assert!(html.contains(&format!("src=\"cid:{CHART_CID}\"")), "{html}");
    assert!(html.contains("width=\"240\" height=\"240\""), "{html}");
    assert!(html.contains(
        "alt=\"Pie chart of the test results: 95 passed, 2 failed, 1 broken, 1 skipped, 1 unknown\""
    ));

    // The legend swatches use the chart's colours.
    for (_, colour) in shared::mail::chart::COLORS {
        assert!(html.contains(&format!("background:{colour}")), "{colour}");
    }
    // The facts in the HTML.
    for (label, n) in [
        ("passed", 95),
        ("failed", 2),
        ("broken", 1),
        ("skipped", 1),
        ("unknown", 1),
        ("Total", 100),
    ] {
        assert_eq!(legend_count(&html, label), n, "{label}");
    }
    let visible = strip_tags(&html);
    for fact in [
        "95.0%",
        "CRAT",
        "Test item cds",
        "Job CDN_CORE",
        "Build #101",
        "Package path CDN/pass/20260302-master-abc/el7",
        "Package cds-1.2.3.tar.gz",
        "Test duration 1 min 15 s",
        "Triggered by dev@example.com",
        "Started 2026-03-02 10:00:00 UTC",
    ] {
        assert!(visible.contains(fact), "{fact:?} not in {visible}");
    }
    assert!(html.contains("href=\"https://reports.example.com/reports/9/\""));
    assert!(html.contains("href=\"https://crat.example.com/runs/7\""));
    // Simple, self-contained HTML: no script, no stylesheet, no remote image.
    for bad in ["<script", "<link", "src=\"http", "javascript:"] {
        assert!(!html.to_ascii_lowercase().contains(bad), "{bad}");
    }

    // The same facts in the plain text.
    let text = text_of(&m, "text/plain");
    for (label, n) in [
        ("passed", "95"),
        ("failed", "2"),
        ("broken", "1"),
        ("skipped", "1"),
        ("unknown", "1"),
        ("total", "100"),
    ] {
        assert_eq!(text_value(&text, label), n, "{label}");
    }
    assert!(
        text.contains("95 of 100 passed (pass rate 95.0%)"),
        "{text}"
    );
    assert_eq!(text_value(&text, "duration"), "1 min 15 s");
    assert_eq!(
        text_value(&text, "Report"),
        "https://reports.example.com/reports/9/"
    );
    assert_eq!(
        text_value(&text, "Run page"),
        "https://crat.example.com/runs/7"
    );
    assert_eq!(text_value(&text, "Job"), "CDN_CORE");
    assert_eq!(text_value(&text, "Build"), "#101");
    assert_eq!(
        text_value(&text, "Package path"),
        "CDN/pass/20260302-master-abc/el7"
    );
}

#[test]
fn success_without_a_summary_says_why_and_has_no_chart() {
    let r = run(json!({}));
    let mut c = ctx(&r, None);
    c.summary_note = Some("summary.json: 404 Not Found".into());
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(tree(&m, 0), "multipart/alternative(text/plain,text/html)");
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — completed, summary unavailable"
    );
    let html = text_of(&m, "text/html");
    assert!(html.contains("summary.json: 404 Not Found"));
    assert!(!html.contains("cid:"));
    assert!(html.contains("href=\"https://reports.example.com/reports/9/\""));
    let text = text_of(&m, "text/plain");
    assert!(
        text.contains("summary is unavailable: summary.json: 404 Not Found"),
        "{text}"
    );
}

#[test]
fn an_empty_chart_is_left_out() {
    let r = run(json!({}));
    let s = summary(1, 0, 0, 0, 0);
    let mut c = ctx(&r, Some(&s));
    c.chart_png = Some(Vec::new()); // the chart could not be drawn
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(tree(&m, 0), "multipart/alternative(text/plain,text/html)");
    assert!(!text_of(&m, "text/html").contains("cid:"));
}

#[test]
fn no_tests_means_no_pass_rate() {
    let r = run(json!({}));
    let s = summary(0, 0, 0, 0, 0);
    let c = ctx(&r, Some(&s));
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — completed, no tests reported"
    );
    let html = text_of(&m, "text/html");
    assert!(
        strip_tags(&html).contains("— pass rate (0 of 0 passed)"),
        "{}",
        strip_tags(&html)
    );
    assert_eq!(legend_count(&html, "Total"), 0);
    assert!(text_of(&m, "text/plain").contains("(pass rate —)"));
}

/// `mail_language: zh-CN`: the subject, the HTML (with `lang`) and the text are in
/// Chinese, with the same facts; English words do not leak in.
#[test]
fn the_mail_is_written_in_the_settings_language() {
    let r = run(json!({}));
    let s = summary(95, 2, 1, 1, 1);
    let mut c = ctx(&r, Some(&s));
    c.language = shared::domain::MailLanguage::SimplifiedChinese;
    let raw = success_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — 测试未通过，95/100 通过"
    );
    let html = text_of(&m, "text/html");
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert_eq!(legend_count(&html, "通过"), 95);
    assert_eq!(legend_count(&html, "合计"), 100);
    let visible = strip_tags(&html);
    for fact in [
        "95 个通过",
        "测试项 cds",
        "任务 CDN_CORE",
        "构建 #101",
        "触发人 dev@example.com",
        "打开测试报告",
        "测试时长 1 分 15 秒",
        "运行时长 1 分 15 秒",
    ] {
        assert!(visible.contains(fact), "{fact:?} not in {visible}");
    }
    for english in [
        "Test item",
        "Triggered by",
        "passed",
        "Open the test report",
    ] {
        assert!(!visible.contains(english), "{english:?} in {visible}");
    }
    let text = text_of(&m, "text/plain");
    assert_eq!(text_value(&text, "任务"), "CDN_CORE");
    assert!(
        text.contains("结果：100 个中 95 个通过（通过率 95.0%）"),
        "{text}"
    );

    let failed = run(json!({
        "status": "FAILED", "error_message": "deploy queue full",
        "steps": [step("DOWNLOAD", "FAILED", Some("deploy queue full"), json!({}))],
    }));
    let mut c = ctx(&failed, None);
    c.language = shared::domain::MailLanguage::SimplifiedChinese;
    let raw = failure_mail(&c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        m.subject().unwrap(),
        "[CRAT] cds CDN_CORE #101 — 出错于 DOWNLOAD"
    );
    let visible = strip_tags(&text_of(&m, "text/html"));
    assert!(visible.contains("失败步骤 DOWNLOAD"), "{visible}");
    assert!(visible.contains("deploy queue full"), "{visible}");
    assert!(text_of(&m, "text/plain").contains("步骤（UTC）"));
}
