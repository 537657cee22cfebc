//! The messages' shapes and limits, the signatures against independent computations, and
//! how each platform's answers are read.

use super::*;
use crate::domain::run::{RunStatus, StepName};
use crate::domain::{Email, RunId, TestChange, TestId, TestStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// RFC 2104 HMAC-SHA256 written out with sha2 alone, to check the hmac crate's use.
fn hmac_by_hand(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-04T05:06:07.890Z")
        .unwrap()
        .to_utc()
}

/// Run 34 of item `cds`, build J #12, completed after 2 min 5 s with 19 of 20 passed.
fn run() -> Run {
    let t = "2026-03-04T05:00:00Z";
    let item: crate::domain::TestItem = serde_json::from_value(json!({
        "id": 1, "name": "cds", "job_name": "J", "parameter_set_id": null, "description": "",
        "enabled": true, "notify_emails": [], "created_at": t, "updated_at": t
    }))
    .unwrap();
    let build: crate::domain::Build = serde_json::from_value(json!({
        "id": 1, "job_name": "J", "build_number": 12, "build_user": null, "package_path": "p",
        "created_at": t
    }))
    .unwrap();
    let set: crate::domain::ParameterSet = serde_json::from_value(json!({
        "id": 1, "name": "default", "description": "", "params": {}, "is_default": true,
        "version": 1, "created_at": t, "updated_at": t, "updated_by": null
    }))
    .unwrap();
    let by = Email::parse("by", "dev@example.com").unwrap();
    let started = DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    let mut r = Run::new(RunId::from_stored(34), &item, &build, &set, &by, started);
    r.status = RunStatus::Completed;
    r.finished_at = Some(started + chrono::TimeDelta::seconds(125));
    r.summary = Some(Summary {
        passed: 19,
        failed: 1,
        broken: 0,
        skipped: 0,
        unknown: 0,
        total: 20,
        duration_ms: Some(100_000),
    });
    r.refresh_outcome();
    r
}

fn change(name: &str, message: Option<&str>) -> TestChange {
    TestChange {
        id: TestId::from_history_id(name),
        name: name.to_owned(),
        before: Some(TestStatus::Passed),
        now: Some(TestStatus::Failed),
        message: message.map(str::to_owned),
    }
}

fn facts_with(failures: Vec<(String, Option<String>)>, total: u64) -> ChatFacts {
    let mut f = ChatFacts::of(
        &run(),
        None,
        "CRAT",
        Some("https://crat.example/runs/34".into()),
        Some("https://reports.example/34/index.html".into()),
    );
    f.outcome = RunOutcome::TestsFailed;
    f.new_failures = failures;
    f.new_failures_total = total;
    f
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

fn body_json(r: &ChatRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header<'a>(r: &'a ChatRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn secret(s: &str) -> ChannelSecret {
    ChannelSecret::from_stored(s.to_owned())
}

#[test]
fn the_signatures_match_independent_computations() {
    // RFC 4231 test case 2.
    assert_eq!(
        sign::webhook("Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let long_secret = "S".repeat(100);
    for s in ["SECabc", long_secret.as_str()] {
        let ts = 1_772_600_767_i64;
        let feishu_key = format!("{ts}\n{s}");
        assert_eq!(
            sign::feishu(s, ts),
            STANDARD.encode(hmac_by_hand(feishu_key.as_bytes(), b""))
        );
        let ms = ts * 1000 + 890;
        let ding_message = format!("{ms}\n{s}");
        assert_eq!(
            sign::dingtalk(s, ms),
            STANDARD.encode(hmac_by_hand(s.as_bytes(), ding_message.as_bytes()))
        );
        assert_eq!(
            sign::webhook(s, b"{}"),
            format!("sha256={}", hex::encode(hmac_by_hand(s.as_bytes(), b"{}")))
        );
    }
}

#[test]
fn facts_come_from_the_run_and_its_changes() {
    let mut r = run();
    let changes = TestChanges::new(
        33,
        (0..25)
            .map(|i| change(&format!("t{i:02}"), Some("boom\nline two")))
            .collect(),
        25,
        0,
        0,
    );
    let f = ChatFacts::of(&r, Some(&changes), " CRAT \n", None, None);
    assert_eq!(
        (
            f.project.as_str(),
            f.test_item.as_str(),
            f.job_name.as_str(),
            f.build_number,
            f.run_id
        ),
        ("CRAT", "cds", "J", 12, 34)
    );
    assert_eq!(f.outcome, RunOutcome::TestsFailed);
    assert_eq!(f.pass_rate().as_deref(), Some("95.0%"));
    assert_eq!(f.duration, Some(Duration::from_secs(125)));
    assert_eq!(f.new_failures.len(), MAX_LISTED);
    assert_eq!(f.new_failures_total, 25);
    assert_eq!(
        f.new_failures[0],
        ("t00".to_owned(), Some("boom line two".to_owned()))
    );
    assert_eq!((f.failed_step.as_deref(), f.error.as_deref()), (None, None));

    r.status = RunStatus::Failed;
    r.summary = None;
    r.error_message = Some("trigger refused:\n401".into());
    r.finish_step(
        StepName::Trigger,
        StepStatus::Failed,
        Some("x".into()),
        now(),
    );
    r.refresh_outcome();
    let f = ChatFacts::of(&r, None, "CRAT", None, None);
    assert_eq!(f.outcome, RunOutcome::Error);
    assert_eq!(f.failed_step.as_deref(), Some("TRIGGER"));
    assert_eq!(f.error.as_deref(), Some("trigger refused: 401"));
    assert_eq!(f.pass_rate(), None);
}

#[test]
fn every_kind_posts_json_with_the_facts_in_both_languages() {
    let f = facts_with(vec![("login fails".into(), Some("expected 200".into()))], 1);
    let run_json = json!({"id": 34, "status": "COMPLETED"});
    for lang in MailLanguage::ALL {
        let w = ChatWords::of(lang);
        for kind in ChannelKind::ALL {
            let r = run_message(
                kind,
                &url("https://h.example/hook?key=k"),
                None,
                lang,
                &f,
                &run_json,
                now(),
            );
            assert_eq!(header(&r, "content-type"), Some("application/json"));
            let v = body_json(&r);
            let text = v.to_string();
            if kind == ChannelKind::Webhook {
                assert_eq!(v, run_json);
                assert_eq!(header(&r, "x-crat-signature"), None);
                continue;
            }
            for needle in [
                "cds",
                "J #12",
                "#34",
                "95.0%",
                "login fails",
                "https://crat.example/runs/34",
                "https://reports.example/34/index.html",
                w.outcome(RunOutcome::TestsFailed),
                &format_duration_for(lang),
            ] {
                assert!(text.contains(needle), "{kind} {lang:?}: {needle} in {text}");
            }
            let t = test_message(kind, &url("https://h.example/h"), None, lang, "CRAT", now());
            assert!(
                body_json(&t).to_string().contains(&(w.test_title)("CRAT")),
                "{kind}"
            );
        }
    }
}

fn format_duration_for(lang: MailLanguage) -> String {
    crate::mail::compose::format_duration(125_000, &ChatWords::of(lang).units)
}

#[test]
fn the_shapes_are_the_platforms() {
    let f = facts_with(vec![], 0);
    let rj = json!({});
    let msg = |kind| {
        body_json(&run_message(
            kind,
            &url("https://h.example/hook"),
            None,
            MailLanguage::English,
            &f,
            &rj,
            now(),
        ))
    };
    let feishu = msg(ChannelKind::Feishu);
    assert_eq!(feishu["msg_type"], "interactive");
    assert!(feishu["card"]["elements"].is_array());
    assert!(feishu.get("sign").is_none());
    let ding = msg(ChannelKind::Dingtalk);
    assert_eq!(ding["msgtype"], "markdown");
    assert!(ding["markdown"]["title"].is_string() && ding["markdown"]["text"].is_string());
    let wecom = msg(ChannelKind::Wecom);
    assert_eq!(wecom["msgtype"], "markdown");
    assert!(wecom["markdown"]["content"].is_string());
    let slack = msg(ChannelKind::Slack);
    assert!(slack["text"].is_string());
    assert_eq!(slack["blocks"][0]["type"], "header");
    let teams = msg(ChannelKind::Teams);
    assert_eq!(teams["type"], "message");
    let a = &teams["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    assert_eq!(a["content"]["version"], "1.4");
    assert_eq!(
        a["content"]["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
}

#[test]
fn feishu_signs_in_the_body_and_the_webhook_in_a_header() {
    let f = facts_with(vec![], 0);
    let rj = json!({"id": 34});
    let s = secret("SECfeishu");
    let r = run_message(
        ChannelKind::Feishu,
        &url("https://open.feishu.cn/open-apis/bot/v2/hook/abc"),
        Some(&s),
        MailLanguage::English,
        &f,
        &rj,
        now(),
    );
    let v = body_json(&r);
    let ts = now().timestamp();
    assert_eq!(v["timestamp"], json!(ts.to_string()));
    assert_eq!(v["sign"], json!(sign::feishu("SECfeishu", ts)));
    assert!(!String::from_utf8_lossy(&r.body).contains("SECfeishu"));

    let w = run_message(
        ChannelKind::Webhook,
        &url("https://h.example/hook"),
        Some(&secret("hooksecret")),
        MailLanguage::English,
        &f,
        &rj,
        now(),
    );
    assert_eq!(w.body, rj.to_string().into_bytes());
    assert_eq!(
        header(&w, "x-crat-signature").unwrap(),
        format!(
            "sha256={}",
            hex::encode(hmac_by_hand(b"hooksecret", &w.body))
        )
    );
    assert!(!format!("{w:?}").contains("hooksecret"));
}

#[test]
fn dingtalk_signs_in_the_query_encoded_once_and_keeps_the_token() {
    let f = facts_with(vec![], 0);
    let s = secret("SECding");
    let hook = url("https://oapi.dingtalk.com/robot/send?access_token=tok&timestamp=1&sign=old");
    // Some millisecond whose signature has every character base64 adds to letters.
    let (t, sig) = (0..10_000)
        .map(|i| now() + chrono::TimeDelta::milliseconds(i))
        .map(|t| (t, sign::dingtalk("SECding", t.timestamp_millis())))
        .find(|(_, sig)| sig.contains('+') && sig.contains('/'))
        .unwrap();
    let r = run_message(
        ChannelKind::Dingtalk,
        &hook,
        Some(&s),
        MailLanguage::English,
        &f,
        &json!({}),
        t,
    );
    let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
    let ts = t.timestamp_millis().to_string();
    assert_eq!(
        pairs,
        [
            ("access_token".to_owned(), "tok".to_owned()),
            ("timestamp".to_owned(), ts.clone()),
            ("sign".to_owned(), sig.clone()),
        ]
    );
    let query = r.url.query().unwrap();
    assert!(query.contains("%2B") && query.contains("%2F"), "{query}");
    assert!(!query.contains('+') && !query.contains("%25"), "{query}");
    assert_eq!(
        sig,
        STANDARD.encode(hmac_by_hand(
            b"SECding",
            format!("{ts}\nSECding").as_bytes()
        ))
    );
    // Without a secret the URL is the channel's.
    let plain = run_message(
        ChannelKind::Dingtalk,
        &url("https://oapi.dingtalk.com/robot/send?access_token=tok"),
        None,
        MailLanguage::English,
        &f,
        &json!({}),
        t,
    );
    assert_eq!(
        plain.url.as_str(),
        "https://oapi.dingtalk.com/robot/send?access_token=tok"
    );
}

#[test]
fn unlisted_failures_are_and_m_more_with_the_run_link() {
    let failures: Vec<_> = (0..MAX_LISTED)
        .map(|i| (format!("test_{i}"), None))
        .collect();
    let f = facts_with(failures, 37);
    for kind in [
        ChannelKind::Feishu,
        ChannelKind::Dingtalk,
        ChannelKind::Wecom,
        ChannelKind::Slack,
        ChannelKind::Teams,
    ] {
        let r = run_message(
            kind,
            &url("https://h.example/hook"),
            None,
            MailLanguage::English,
            &f,
            &json!({}),
            now(),
        );
        let text = body_json(&r).to_string();
        assert!(text.contains("New failures (37)"), "{kind}: {text}");
        assert!(text.contains("and 27 more"), "{kind}: {text}");
        assert!(
            text.contains("test\\\\_9") || text.contains("test_9"),
            "{kind}"
        );
        assert!(text.contains("https://crat.example/runs/34"), "{kind}");
    }
    let zh = run_message(
        ChannelKind::Wecom,
        &url("https://h.example/hook"),
        None,
        MailLanguage::SimplifiedChinese,
        &f,
        &json!({}),
        now(),
    );
    assert!(body_json(&zh).to_string().contains("另有 27 个"));
}

#[test]
fn slack_keeps_its_block_limits_with_500_failures() {
    let failures: Vec<_> = (0..500)
        .map(|i| {
            (
                format!("{i} {}", "very long test name ".repeat(20)),
                Some("x".repeat(400)),
            )
        })
        .collect();
    let mut f = facts_with(failures, 500);
    f.test_item = "item ".repeat(60);
    f.error = Some("e".repeat(5000));
    let r = run_message(
        ChannelKind::Slack,
        &url("https://hooks.slack.com/services/T/B/X"),
        None,
        MailLanguage::English,
        &f,
        &json!({}),
        now(),
    );
    let v = body_json(&r);
    let blocks = v["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(header.chars().count() <= 150, "{}", header.chars().count());
    for b in &blocks[1..] {
        assert_eq!(b["type"], "section");
        assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000);
    }
    let list = blocks
        .iter()
        .find_map(|b| {
            b["text"]["text"]
                .as_str()
                .filter(|t| t.contains("New failures"))
        })
        .unwrap();
    assert!(
        list.contains("more — <https://crat.example/runs/34|"),
        "{list}"
    );
}

#[test]
fn every_platform_keeps_its_byte_limit_with_huge_failures() {
    let failures: Vec<_> = (0..MAX_LISTED)
        .map(|i| {
            (
                format!("{i}{}", "测试用例名称".repeat(200)),
                Some("错误".repeat(300)),
            )
        })
        .collect();
    let mut f = facts_with(failures, 5000);
    f.error = Some("错".repeat(10_000));
    for (kind, limit) in [
        (ChannelKind::Feishu, LIMITS.feishu_body),
        (ChannelKind::Teams, LIMITS.teams_body),
    ] {
        let r = run_message(
            kind,
            &url("https://h.example/h"),
            Some(&secret("s")),
            MailLanguage::SimplifiedChinese,
            &f,
            &json!({}),
            now(),
        );
        assert!(r.body.len() <= limit, "{kind}: {}", r.body.len());
    }
    let ding = run_message(
        ChannelKind::Dingtalk,
        &url("https://h.example/h"),
        None,
        MailLanguage::English,
        &f,
        &json!({}),
        now(),
    );
    let text = body_json(&ding)["markdown"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.len() <= LIMITS.dingtalk_text);
}

proptest! {
    #[test]
    fn truncation_is_a_valid_prefix_within_the_limit(s in "\\PC{0,40}", max in 0usize..200) {
        let t = truncate_utf8(&s, max);
        prop_assert!(t.len() <= max);
        prop_assert!(s.starts_with(t));
        // The longest such prefix: the next character would not fit.
        if let Some(c) = s[t.len()..].chars().next() {
            prop_assert!(t.len() + c.len_utf8() > max);
        }
        let c = clip_bytes(&s, max.max(3));
        prop_assert!(c.len() <= max.max(3));
    }

    #[test]
    fn wecom_content_stays_within_4096_bytes_of_valid_utf8(
        names in proptest::collection::vec("[\u{4e00}-\u{9fff}a-z ]{1,400}", 0..12),
        total in 0u64..10_000,
    ) {
        let failures: Vec<_> = names.into_iter().map(|n| (n.clone(), Some(n))).collect();
        let mut f = facts_with(failures, total);
        f.test_item = "测试项".repeat(40);
        let r = run_message(ChannelKind::Wecom, &url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), None, MailLanguage::SimplifiedChinese, &f, &json!({}), now());
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let content = v["markdown"]["content"].as_str().unwrap();
        prop_assert!(content.len() <= 4096, "{}", content.len());
        prop_assert!(content.contains("测试项"));
    }
}

#[test]
fn answers_are_read_as_each_platform_means_them() {
    use ChannelKind::*;
    // (kind, status, body, Ok?, transient, message contains)
    let table: &[(ChannelKind, u16, &str, bool, bool, &str)] = &[
        (
            Feishu,
            200,
            r#"{"code":0,"msg":"success","data":{}}"#,
            true,
            false,
            "success",
        ),
        (
            Feishu,
            200,
            r#"{"StatusCode":0,"StatusMessage":"success"}"#,
            true,
            false,
            "success",
        ),
        (
            Feishu,
            200,
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
            false,
            false,
            "code 19021: sign match fail",
        ),
        (
            Feishu,
            200,
            r#"{"code":9499,"msg":"too many request"}"#,
            false,
            true,
            "9499",
        ),
        (
            Feishu,
            200,
            r#"{"code":11232,"msg":"frequency limited"}"#,
            false,
            true,
            "11232",
        ),
        (
            Feishu,
            400,
            r#"{"code":9499,"msg":"Bad Request"}"#,
            false,
            true,
            "9499",
        ),
        (Feishu, 200, "<html>proxy</html>", false, false, "no code"),
        (
            Dingtalk,
            200,
            r#"{"errcode":0,"errmsg":"ok"}"#,
            true,
            false,
            "ok",
        ),
        (
            Dingtalk,
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
            false,
            false,
            "errcode 310000: sign not match",
        ),
        (
            Dingtalk,
            200,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
            false,
            true,
            "130101",
        ),
        (
            Dingtalk,
            200,
            r#"{"errcode":300001,"errmsg":"token is not exist"}"#,
            false,
            false,
            "token is not exist",
        ),
        (
            Wecom,
            200,
            r#"{"errcode":0,"errmsg":"ok"}"#,
            true,
            false,
            "ok",
        ),
        (
            Wecom,
            200,
            r#"{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}"#,
            false,
            false,
            "40058",
        ),
        (
            Wecom,
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
            false,
            true,
            "45009",
        ),
        (
            Wecom,
            200,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
            false,
            false,
            "invalid webhook url",
        ),
        (Slack, 200, "ok", true, false, "ok"),
        (
            Slack,
            400,
            "invalid_payload",
            false,
            false,
            "invalid_payload",
        ),
        (Slack, 404, "no_service", false, false, "no_service"),
        (
            Slack,
            410,
            "channel_is_archived",
            false,
            false,
            "channel_is_archived",
        ),
        (Slack, 429, "rate_limited", false, true, "429"),
        (Slack, 500, "rollup_error", false, true, "rollup_error"),
        (Teams, 202, "", true, false, "202"),
        (Teams, 200, "1", true, false, "200"),
        (
            Teams,
            400,
            r#"{"error":{"code":"InvalidRequestContent","message":"bad card"}}"#,
            false,
            false,
            "InvalidRequestContent: bad card",
        ),
        (Teams, 503, "", false, true, "503"),
        (Webhook, 204, "", true, false, "204"),
        (Webhook, 200, "anything", true, false, "anything"),
        (Webhook, 403, "no", false, false, "403"),
        (Webhook, 502, "bad gateway", false, true, "502"),
    ];
    for &(kind, status, body, ok, transient, needle) in table {
        match read_answer(kind, status, body.as_bytes()) {
            Ok(said) => {
                assert!(ok, "{kind} {status} {body}: Ok({said})");
                assert!(said.contains(needle), "{kind} {status}: {said}");
            }
            Err(e) => {
                assert!(!ok, "{kind} {status} {body}: {e:?}");
                assert_eq!(e.transient, transient, "{kind} {status} {body}");
                assert!(e.message.contains(needle), "{kind} {status}: {}", e.message);
            }
        }
    }
    // A long (CJK) answer is cut on a character boundary.
    let long = format!(r#"{{"errcode":1,"errmsg":"{}"}}"#, "错".repeat(500));
    let e = read_answer(Dingtalk, 200, long.as_bytes()).unwrap_err();
    assert!(e.message.len() <= MAX_ANSWER_BYTES);
    let ok = read_answer(Slack, 200, "好".repeat(500).as_bytes()).unwrap();
    assert!(ok.len() <= MAX_ANSWER_BYTES);
}
