//! Every record kind re-reads as itself (serialize → parse → serialize gives the same
//! line), and a bad line is refused naming its number and the field.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::{ExportError, FORMAT, KINDS, Record, check};
use crate::domain::{
    Build, Email, Environment, EnvironmentId, FlakyReason, FlakyTest, HttpUrl, JobName,
    JobSelection, NewBuild, Origin, ParameterSet, ParameterSetVersion, Params, Run, RunId,
    ServiceName, Settings, Summary, TestCase, TestId, TestItem, TestStatus,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123456789Z")
        .unwrap()
        .to_utc()
}

fn build() -> Build {
    let new = NewBuild::from_webhook(
        &json!({"JOB_NAME": "folder/CDN_CORE", "BUILD_NUMBER": "101",
        "PACKAGE_PATH": "CDN/pass/2025-master/el7", "BUILD_USER": "Jenkins ✓"}),
    )
    .unwrap();
    Build::new(3, &new, t0())
}

fn set() -> ParameterSet {
    ParameterSet {
        id: 2,
        name: "base".into(),
        description: "两个".into(),
        params: Params::parse(
            "params",
            &json!({"upgrade_type": "full", "x": {"n": [1, 2.5]}}),
        )
        .unwrap(),
        is_default: true,
        version: 2,
        created_at: t0(),
        updated_at: t0() + TimeDelta::seconds(1),
        updated_by: Some("qa@example.com".into()),
    }
}

fn item() -> TestItem {
    TestItem {
        id: 4,
        name: ServiceName::parse("name", "cds").unwrap(),
        job_name: JobName::parse("job_name", "folder/CDN_CORE").unwrap(),
        parameter_set_id: Some(2),
        environment_id: Some(EnvironmentId::from_stored(1)),
        description: String::new(),
        enabled: true,
        notify_emails: vec![Email::parse("e", "qa@example.com").unwrap()],
        trigger_on_new_build: true,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn run() -> Run {
    let by = Email::parse("by", "dev@example.com").unwrap();
    let mut r = Run::new(RunId::from_stored(9), &item(), &build(), &set(), &by, t0());
    r.summary = Some(Summary {
        passed: 3,
        failed: 1,
        broken: 0,
        skipped: 2,
        unknown: 0,
        total: 6,
        duration_ms: None,
    });
    r.finish(None, t0() + TimeDelta::minutes(3));
    r
}

fn case(id: &str) -> TestCase {
    TestCase {
        id: TestId::parse("id", id).unwrap(),
        name: "登录 \"quoted\" \\ back".into(),
        suite: vec!["api".into()],
        status: TestStatus::Broken,
        duration_ms: Some(5),
        message: Some("line\twith tab".into()),
        full_name: None,
        flaky: true,
        retries: 2,
    }
}

/// One record of every kind.
fn samples() -> Vec<Record> {
    let s = set();
    vec![
        Record::header(),
        Record::Settings {
            version: 3,
            settings: Settings::default()
                .patched(&json!({"project_name": "QA", "report_origins": ["http://r.example"]}))
                .unwrap(),
        },
        Record::Environment(Environment {
            id: EnvironmentId::from_stored(1),
            name: "staging".into(),
            external_test_server_url: HttpUrl::parse("u", "http://tests.example:9000").unwrap(),
            report_origins: vec![Origin::parse("o", "https://reports.example").unwrap()],
            description: "d".into(),
            enabled: false,
            created_at: t0(),
            updated_at: t0(),
        }),
        Record::ParameterSet {
            versions: vec![
                ParameterSetVersion {
                    version: 1,
                    updated_by: None,
                    ..ParameterSetVersion::from(&s)
                },
                ParameterSetVersion::from(&s),
            ],
            set: s,
        },
        Record::Build(build()),
        Record::JobSelection(JobSelection {
            job_name: build().job_name,
            build_id: 3,
            build_number: build().build_number,
            auto_sync: false,
            sync_on_new_build: true,
            last_synced_at: t0(),
            updated_by: "admin".into(),
            updated_at: t0(),
        }),
        Record::TestItem(item()),
        Record::Run(Box::new(run())),
        Record::TestCases {
            run_id: 9,
            cases: vec![case("a"), case("b")],
        },
        Record::FlakyTests {
            test_item_id: 4,
            tests: vec![FlakyTest {
                id: TestId::parse("id", "a").unwrap(),
                name: "a".into(),
                reason: FlakyReason::Mixed,
                passed: 1,
                failed: 1,
                last_run_id: 9,
                last_seen_at: t0(),
            }],
        },
    ]
}

#[test]
fn every_kind_re_reads_as_itself() {
    let samples = samples();
    let kinds: Vec<&str> = samples.iter().map(Record::kind).collect();
    assert_eq!(kinds, KINDS, "one sample of every kind, in export order");
    for (i, record) in samples.iter().enumerate() {
        let line = record.to_line().unwrap();
        assert!(
            line.starts_with(&format!("{{\"kind\":\"{}\"", record.kind())),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let read = Record::parse_line(i + 1, &line).unwrap();
        assert_eq!(&read, record);
        assert_eq!(read.to_line().unwrap(), line);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Free text, numbers and times anywhere in the records re-read unchanged.
    #[test]
    fn records_with_any_text_and_times_re_read_as_themselves(
        text in "\\PC{0,40}",
        user in proptest::option::of("\\PC{0,20}"),
        nanos in 0u32..1_000_000_000,
        secs in 0i64..4_000_000_000,
        number in 1i64..i64::MAX,
        value in any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ) {
        let at = DateTime::from_timestamp(secs, nanos).unwrap();
        let mut s = set();
        s.description = text.clone();
        s.updated_by = user.clone();
        s.updated_at = at;
        s.params = Params::parse("params", &json!({"upgrade_type": "full", "v": value, "t": text})).unwrap();
        let mut b = build();
        b.id = number;
        b.build_user = user.clone();
        b.created_at = at;
        let mut r = run();
        r.error_message = Some(text.clone());
        r.finished_at = Some(at);
        let mut c = case("x");
        c.name = text.clone();
        c.message = user.clone();
        let records = vec![
            Record::ParameterSet { versions: vec![ParameterSetVersion::from(&s)], set: s },
            Record::Build(b),
            Record::Run(Box::new(r)),
            Record::TestCases { run_id: number, cases: vec![c] },
        ];
        for record in records {
            let line = record.to_line().unwrap();
            let read = Record::parse_line(1, &line).unwrap();
            prop_assert_eq!(&read, &record);
            prop_assert_eq!(read.to_line().unwrap(), line);
        }
    }
}

fn export_of(lines: &[String]) -> String {
    lines.join("\n") + "\n"
}

fn line_error(text: &str) -> (usize, String) {
    match check(text.as_bytes()) {
        Err(ExportError::Line { number, message }) => (number, message),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn a_whole_export_checks_and_counts_its_kinds() {
    let lines: Vec<String> = samples().iter().map(|r| r.to_line().unwrap()).collect();
    let counts = check(export_of(&lines).as_bytes()).unwrap();
    assert_eq!(
        counts.total(),
        KINDS.len() - 1,
        "every record but the header"
    );
    assert_eq!(counts.created("build"), 1);
}

#[test]
fn a_bad_line_is_refused_naming_its_number_and_field() {
    let mut lines: Vec<String> = samples().iter().map(|r| r.to_line().unwrap()).collect();
    let good = lines.clone();

    // A field the domain refuses: named with the record.
    lines[4] = lines[4].replace("CDN/pass/2025-master/el7", "CDN/../etc");
    let (number, message) = line_error(&export_of(&lines));
    assert_eq!(number, 5);
    assert!(message.starts_with("build 3: package_path:"), "{message}");

    // A missing field: serde names it.
    let mut lines = good.clone();
    lines[6] = lines[6].replace("\"job_name\":\"folder/CDN_CORE\",", "");
    let (number, message) = line_error(&export_of(&lines));
    assert_eq!(number, 7);
    assert!(message.contains("missing field `job_name`"), "{message}");

    // An unknown kind.
    let mut lines = good.clone();
    lines[2] = r#"{"kind":"session","email":"a@b.c"}"#.into();
    let (number, message) = line_error(&export_of(&lines));
    assert_eq!(number, 3);
    assert!(message.contains("unknown variant `session`"), "{message}");

    // No header first, a second header, a newer format, not JSON.
    let (number, message) = line_error(&export_of(&good[1..]));
    assert_eq!(number, 1);
    assert!(message.contains("must be the header"), "{message}");
    let mut twice = good.clone();
    twice.push(good[0].clone());
    assert_eq!(line_error(&export_of(&twice)).0, good.len() + 1);
    let newer = format!(
        "{{\"kind\":\"header\",\"format\":{},\"crat_version\":\"9\"}}",
        FORMAT + 1
    );
    let (number, message) = line_error(&newer);
    assert_eq!(number, 1);
    assert!(
        message.contains("format: is 2: written by a newer crat"),
        "{message}"
    );
    assert_eq!(line_error(&format!("{}\nnot json\n", good[0])).0, 2);
    assert!(line_error("").1.contains("empty"));
}
