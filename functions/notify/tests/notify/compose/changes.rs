//! The "what changed since the previous run" section of the success mail: new failures
//! first, by name with their message's first line, then "and N more" with the run link,
//! then the fixed and still-failing counts; in both languages, escaped like every value.

use super::*;
use shared::domain::{TestChange, TestId, TestStatus};
use shared::mail::changes::{MAX_LISTED, TestChanges};

fn change(name: &str, message: Option<&str>) -> TestChange {
    TestChange {
        id: TestId::from_parts(&[], name, &[]),
        name: name.to_owned(),
        before: Some(TestStatus::Passed),
        now: Some(TestStatus::Failed),
        message: message.map(str::to_owned),
    }
}

fn mail(c: &MailContext) -> (String, String) {
    let raw = success_mail(c).unwrap().formatted();
    let m = MessageParser::default().parse(&raw).unwrap();
    (
        strip_tags(&text_of(&m, "text/html")),
        text_of(&m, "text/plain"),
    )
}

#[test]
fn new_failures_come_first_with_their_message_then_fixed_and_still_failing() {
    let r = run(json!({}));
    let s = summary(95, 2, 1, 1, 1);
    let changes = TestChanges::new(
        41,
        vec![
            change("test_login", Some("AssertionError: 401 != 200")),
            change("test_cache <b>", None),
        ],
        2,
        1,
        3,
    );
    let mut c = ctx(&r, Some(&s));
    c.changes = Some(&changes);
    let (html, text) = mail(&c);
    let section = html.find("New failures since run #41").expect(&html);
    assert!(
        section < html.find("Results").unwrap(),
        "new failures come first: {html}"
    );
    assert!(
        html.contains("test_login AssertionError: 401 != 200"),
        "{html}"
    );
    assert!(
        html.contains("test_cache &lt;b&gt;") || html.contains("test_cache <b>"),
        "{html}"
    );
    assert!(
        html.contains("Fixed 1") && html.contains("Still failing 3"),
        "{html}"
    );
    assert!(!html.contains("more (see the run page)"), "{html}");
    let t = text.find("New failures since run #41").expect(&text);
    assert!(t < text.find("Results:").unwrap(), "{text}");
    assert!(
        text.contains("  - test_login\n      AssertionError: 401 != 200"),
        "{text}"
    );
    assert_eq!(text_value(&text, "Fixed"), "1");
    assert_eq!(text_value(&text, "Still failing"), "3");
}

#[test]
fn at_most_twenty_are_listed_and_the_rest_point_at_the_run_page() {
    let r = run(json!({}));
    let s = summary(50, 50, 0, 0, 0);
    let all: Vec<TestChange> = (0..50).map(|i| change(&format!("t{i:02}"), None)).collect();
    let changes = TestChanges::new(9, all, 50, 0, 0);
    assert_eq!(changes.new_failures.len(), MAX_LISTED);
    let mut c = ctx(&r, Some(&s));
    c.changes = Some(&changes);
    let (html, text) = mail(&c);
    assert!(html.contains("t19") && !html.contains("t20"), "{html}");
    assert!(html.contains("and 30 more (see the run page)"), "{html}");
    assert!(
        text.contains("and 30 more (see the run page): https://crat.example.com/runs/7"),
        "{text}"
    );
}

#[test]
fn no_new_failures_says_so_and_chinese_mails_say_it_in_chinese() {
    let r = run(json!({}));
    let s = summary(99, 1, 0, 0, 0);
    let changes = TestChanges::new(5, vec![], 0, 2, 1);
    let mut c = ctx(&r, Some(&s));
    c.changes = Some(&changes);
    let (html, _) = mail(&c);
    assert!(html.contains("No new failures since run #5"), "{html}");
    c.language = shared::domain::MailLanguage::SimplifiedChinese;
    let (html, text) = mail(&c);
    assert!(html.contains("自运行 #5 以来没有新增的失败"), "{html}");
    assert!(
        html.contains("已修复 2") && html.contains("仍然失败 1"),
        "{html}"
    );
    assert_eq!(text_value(&text, "已修复"), "2");
    assert!(!html.contains("Still failing"), "{html}");
}

#[test]
fn without_a_comparison_there_is_no_section() {
    let r = run(json!({}));
    let s = summary(1, 0, 0, 0, 0);
    let (html, text) = mail(&ctx(&r, Some(&s)));
    assert!(!html.contains("since run #"), "{html}");
    assert!(!text.contains("since run #"), "{text}");
}
