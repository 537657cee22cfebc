//! Settings: defaults, partial updates validated whole, and what each field accepts.

use super::*;
use serde_json::json;

#[test]
fn a_run_can_never_outgrow_the_step_functions_history() {
    let s = Settings::default();
    // 3 hours at 5 s fits: 2,160 cycles.
    let ok = s
        .patched(&json!({"poll_interval_seconds": 5, "max_monitor_seconds": 10_800}))
        .unwrap();
    assert_eq!(ok.poll_interval_seconds, 5);
    const {
        assert!(
            MAX_POLL_CYCLES * HISTORY_EVENTS_PER_POLL_CYCLE + 3_000 <= STEP_FUNCTIONS_HISTORY_LIMIT
        )
    };
    // 100,000 s at 30 s, or 3 hours at 1 s, does not; both keys are named. (7 days at
    // 60 s is refused earlier, by max_monitor_seconds' own range: the timing rule.)
    let at_30s = s.patched(&json!({"poll_interval_seconds": 30})).unwrap();
    for (patch, field) in [
        (
            json!({"max_monitor_seconds": 100_000}),
            "max_monitor_seconds",
        ),
        (json!({"poll_interval_seconds": 1}), "poll_interval_seconds"),
        (
            json!({"poll_interval_seconds": 4, "max_monitor_seconds": 10_800}),
            "poll_interval_seconds",
        ),
    ] {
        let e = at_30s.patched(&patch).unwrap_err();
        assert_eq!(e.field, field, "{patch}");
        assert!(
            e.message.contains("max_monitor_seconds")
                && e.message.contains("poll_interval_seconds"),
            "{}",
            e.message
        );
    }
    let e = s.patched(&json!({"poll_interval_seconds": 1})).unwrap_err();
    assert!(e.message.contains("at least 5"), "{}", e.message);
    assert!(e.message.contains("at most 2400"), "{}", e.message);
}

#[test]
fn defaults_match_the_spec() {
    let s = Settings::default();
    assert_eq!(
        (
            s.poll_interval_seconds,
            s.poll_request_timeout_seconds,
            s.max_monitor_seconds,
            s.auto_sync_interval_hours
        ),
        (60, 30, 10_800, 24)
    );
    assert_eq!(s.project_name, "CRAT");
    // Stored settings missing newer keys read back with defaults.
    let old: Settings = serde_json::from_value(json!({"project_name": "X"})).unwrap();
    assert_eq!(old.poll_interval_seconds, 60);
    assert_eq!(old.mail_language, MailLanguage::English);
    let zh = s.patched(&json!({"mail_language": "zh-CN"})).unwrap();
    assert_eq!(zh.mail_language, MailLanguage::SimplifiedChinese);
    assert_eq!(serde_json::to_value(&zh).unwrap()["mail_language"], "zh-CN");
}

#[test]
fn patch_applies_only_given_keys() {
    let s = Settings::default()
        .patched(&json!({"poll_interval_seconds": 5, "package_download_base_url": "http://127.0.0.1:8081/pkgs/",
            "allowed_email_domains": ["Example.com", "@example.com"], "notify_cc": ["qa@example.com"]}))
        .unwrap();
    assert_eq!(s.poll_interval_seconds, 5);
    assert_eq!(
        s.package_download_base_url.as_ref().unwrap().as_str(),
        "http://127.0.0.1:8081/pkgs"
    );
    assert_eq!(s.allowed_email_domains, ["example.com"]);
    assert_eq!(s.max_monitor_seconds, 10_800);
    let cleared = s
        .patched(&json!({"package_download_base_url": null}))
        .unwrap();
    assert_eq!(cleared.package_download_base_url, None);
}

#[test]
fn every_bad_value_names_its_key() {
    let cases = [
        (json!({"poll_interval_seconds": 0}), "poll_interval_seconds"),
        (
            json!({"poll_interval_seconds": 3601}),
            "poll_interval_seconds",
        ),
        (
            json!({"poll_interval_seconds": "60"}),
            "poll_interval_seconds",
        ),
        (
            json!({"poll_request_timeout_seconds": 0}),
            "poll_request_timeout_seconds",
        ),
        (json!({"max_monitor_seconds": 10}), "max_monitor_seconds"),
        (
            json!({"max_unreachable_seconds": 59}),
            "max_unreachable_seconds",
        ),
        (
            json!({"max_unreachable_seconds": 140_401}),
            "max_unreachable_seconds",
        ),
        (
            json!({"auto_sync_interval_hours": 0}),
            "auto_sync_interval_hours",
        ),
        (
            json!({"external_test_server_url": "ftp://x.example"}),
            "external_test_server_url",
        ),
        (json!({"report_base_url": 5}), "report_base_url"),
        (
            json!({"package_download_base_url": "not a url"}),
            "package_download_base_url",
        ),
        (json!({"project_name": ""}), "project_name"),
        (json!({"mail_language": "fr"}), "mail_language"),
        (
            json!({"allowed_email_domains": ["nodot"]}),
            "allowed_email_domains[0]",
        ),
        (
            json!({"allowed_email_domains": "example.com"}),
            "allowed_email_domains",
        ),
        (json!({"notify_cc": ["x"]}), "notify_cc[0]"),
        (
            json!({"report_origins": ["http://a.example", "http://b.example/path"]}),
            "report_origins[1]",
        ),
        (
            json!({"report_origins": "http://a.example"}),
            "report_origins",
        ),
        (json!({"jwt_secret": "x"}), "jwt_secret"),
        (json!([]), "body"),
    ];
    for (patch, field) in cases {
        assert_eq!(
            Settings::default().patched(&patch).unwrap_err().field,
            field,
            "{patch}"
        );
    }
}

#[test]
fn report_origins_default_to_the_test_server() {
    let s = Settings::default()
        .patched(&json!({"external_test_server_url": "http://127.0.0.1:9000/"}))
        .unwrap();
    assert_eq!(s.report_refusal("http://127.0.0.1:9000/reports/1/"), None);
    let why = s.report_refusal("http://127.0.0.1:8080/r/1/").unwrap();
    assert!(
        why.starts_with("report not read: origin http://127.0.0.1:8080 is not in report_origins"),
        "{why}"
    );
    assert!(why.contains("http://127.0.0.1:9000"), "{why}");
    assert!(s.report_refusal("file:///etc/passwd").is_some());
    // The test server URL may carry a path; only its scheme, host and port count.
    let with_path = s
        .patched(&json!({"external_test_server_url": "http://127.0.0.1:9000/api/"}))
        .unwrap();
    assert_eq!(
        with_path.report_refusal("http://127.0.0.1:9000/reports/1/"),
        None
    );
    assert!(s.report_refusal("http://u:p@127.0.0.1:9000/r/").is_some());
    assert!(
        Settings::default()
            .report_refusal("http://127.0.0.1:9000/r/")
            .unwrap()
            .contains("external_test_server_url is not set")
    );
}

#[test]
fn report_origins_replace_the_default_and_reread_identically() {
    let s = Settings::default()
        .patched(&json!({"external_test_server_url": "http://127.0.0.1:9000",
            "report_origins": [" HTTP://Reports.Example:80/ ", "http://127.0.0.1:8080", "http://reports.example"]}))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&s).unwrap()["report_origins"],
        json!(["http://reports.example", "http://127.0.0.1:8080"])
    );
    let again = s
        .patched(&json!({"report_origins": serde_json::to_value(&s.report_origins).unwrap()}))
        .unwrap();
    assert_eq!(again, s);
    let stored: Settings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(stored, s);
    assert_eq!(
        s.report_refusal("http://reports.example/cds/1/index.html"),
        None
    );
    assert_eq!(s.report_refusal("http://127.0.0.1:8080/r/1/"), None);
    let why = s
        .report_refusal("http://127.0.0.1:9000/reports/1/")
        .unwrap();
    // Short: the origin and the setting, not the list (up to 20 × 300 characters).
    assert!(
        why.contains("origin http://127.0.0.1:9000 is not in report_origins (2 listed)"),
        "{why}"
    );
    assert!(!why.contains("reports.example"), "{why}");
    let cleared = s.patched(&json!({"report_origins": []})).unwrap();
    assert_eq!(
        cleared.report_refusal("http://127.0.0.1:9000/reports/1/"),
        None
    );
}

/// Review: the length rule is part of the one shared check, so notify (which re-checks
/// the link poll kept, cut to 2048 characters plus "…") refuses it as poll did.
#[test]
fn an_overlong_report_link_is_refused_even_on_an_allowed_origin() {
    let s = Settings::default()
        .patched(&json!({"external_test_server_url": "http://127.0.0.1:9000/"}))
        .unwrap();
    let long = format!("http://127.0.0.1:9000/r/{}", "a".repeat(3000));
    let kept = crate::tasks::bounded(&long, MAX_REPORT_URL_CHARS);
    for link in [&long, &kept] {
        let why = s.report_refusal(link).unwrap();
        assert!(why.contains("longer than 2048 characters"), "{why}");
    }
    let at_limit = format!("http://127.0.0.1:9000/r/{}", "a".repeat(2048 - 24));
    assert_eq!(at_limit.chars().count(), 2048);
    assert_eq!(s.report_refusal(&at_limit), None);
}

#[test]
fn report_origins_schema_is_bounded() {
    let schema = serde_json::to_value(<Settings as utoipa::PartialSchema>::schema()).unwrap();
    let field = &schema["properties"]["report_origins"];
    assert_eq!(field["maxItems"], 20, "{field}");
    assert_eq!(field["items"]["type"], "string", "{field}");
    assert_eq!(field["items"]["maxLength"], 300, "{field}");
}
