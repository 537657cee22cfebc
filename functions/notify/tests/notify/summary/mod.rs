//! The Allure summary: the three formats parsed from real-shaped samples (see
//! `tests/samples/`), the strict rules for odd counts, and `read_summary` against a real
//! HTTP server on 127.0.0.1 serving a report folder.
//!
//! Here: the samples and the parsing rules; `read_summary` against a server has its module.

use shared::mail::summary::{
    MAX_BODY_BYTES, Summary, SummaryError, SummarySource, parse_allure2, parse_allure3,
    parse_statistic,
};

mod read_summary;

const ALLURE2: &str = include_str!("../../samples/allure2-summary.json");
const ALLURE2_NO_TESTS: &str = include_str!("../../samples/allure2-summary-no-tests.json");
const ALLURE3: &str = include_str!("../../samples/allure3-summary.json");
const STATISTIC: &str = include_str!("../../samples/statistic.json");

type Parser = fn(&[u8]) -> Result<Summary, SummaryError>;

/// Each format with a way to wrap a counts object in it, and the field prefix in messages.
const FORMATS: [(&str, Parser, &str); 3] = [
    ("allure2", parse_allure2, "statistic."),
    ("allure3", parse_allure3, "stats."),
    ("statistic", parse_statistic, ""),
];

fn wrap(format: &str, counts: &str) -> String {
    match format {
        "allure2" => {
            format!(r#"{{"reportName":"Allure Report","statistic":{counts},"time":{{}}}}"#)
        }
        "allure3" => format!(r#"{{"name":"Allure Report","stats":{counts},"status":"passed"}}"#),
        _ => counts.to_owned(),
    }
}

fn one_of_each(duration_ms: Option<u64>) -> Summary {
    Summary {
        passed: 1,
        failed: 1,
        broken: 1,
        skipped: 1,
        unknown: 0,
        total: 4,
        duration_ms,
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn allure2_real_sample() {
    assert_eq!(
        parse_allure2(ALLURE2.as_bytes()).unwrap(),
        one_of_each(Some(75))
    );
}

#[test]
fn allure2_with_empty_time() {
    let s = parse_allure2(ALLURE2_NO_TESTS.as_bytes()).unwrap();
    assert_eq!(
        s,
        Summary {
            passed: 0,
            failed: 0,
            broken: 0,
            skipped: 0,
            unknown: 0,
            total: 0,
            duration_ms: None
        }
    );
    let s = parse_allure2(
        br#"{"statistic":{"failed":1,"broken":1,"skipped":1,"passed":1,"unknown":0,"total":4},"time":{}}"#,
    )
    .unwrap();
    assert_eq!(s, one_of_each(None));
}

#[test]
fn allure2_duration_falls_back_to_stop_minus_start() {
    let s =
        parse_allure2(br#"{"statistic":{"passed":2},"time":{"start":1000,"stop":4500}}"#).unwrap();
    assert_eq!(s.duration_ms, Some(3500));
    assert_eq!(s.total, 2);
    // No time at all, a stop before the start, odd values: no duration, still a summary.
    for time in [
        "",
        r#","time":null"#,
        r#","time":{"start":5000,"stop":4000}"#,
        r#","time":{"duration":"75"}"#,
        r#","time":{"duration":-5}"#,
        r#","time":"soon""#,
    ] {
        let body = format!(r#"{{"statistic":{{"passed":2}}{time}}}"#);
        let s = parse_allure2(body.as_bytes()).unwrap();
        assert_eq!(s.duration_ms, None, "{body}");
        assert_eq!(s.passed, 2);
    }
}

#[test]
fn allure3_real_sample_with_omitted_zeros() {
    assert_eq!(
        parse_allure3(ALLURE3.as_bytes()).unwrap(),
        one_of_each(Some(75))
    );
    let s =
        parse_allure3(br#"{"name":"r","stats":{"total":3,"passed":3},"status":"passed"}"#).unwrap();
    assert_eq!(
        s,
        Summary {
            passed: 3,
            failed: 0,
            broken: 0,
            skipped: 0,
            unknown: 0,
            total: 3,
            duration_ms: None
        }
    );
}

#[test]
fn byte_order_mark_is_skipped() {
    let body = format!("\u{feff}{STATISTIC}");
    assert_eq!(parse_statistic(body.as_bytes()).unwrap(), one_of_each(None));
    assert!(matches!(
        parse_statistic("\u{feff}".as_bytes()),
        Err(SummaryError::Empty)
    ));
}

#[test]
fn statistic_sample() {
    assert_eq!(
        parse_statistic(STATISTIC.as_bytes()).unwrap(),
        one_of_each(None)
    );
    let s = parse_statistic(br#"{"total":0}"#).unwrap();
    assert_eq!(s.total, 0);
}

#[test]
fn missing_counts_are_zero_and_total_defaults_to_their_sum() {
    for (format, parse, _) in FORMATS {
        let s = parse(wrap(format, r#"{"failed":2,"skipped":5}"#).as_bytes()).unwrap();
        assert_eq!(
            (s.passed, s.failed, s.broken, s.skipped, s.unknown, s.total),
            (0, 2, 0, 5, 0, 7),
            "{format}"
        );
        // null is the same as absent.
        let s =
            parse(wrap(format, r#"{"failed":2,"passed":null,"total":null}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.failed, s.total), (0, 2, 2), "{format}");
        // Whole floats are whole numbers.
        let s = parse(wrap(format, r#"{"passed":2.0,"total":3.0}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.total), (2, 3), "{format}");
    }
    // An empty main object is a report with no tests.
    assert_eq!(parse_allure2(br#"{"statistic":{}}"#).unwrap().total, 0);
    assert_eq!(parse_allure3(br#"{"stats":{}}"#).unwrap().total, 0);
}

#[test]
fn total_larger_than_the_sum_is_kept() {
    for (format, parse, _) in FORMATS {
        let s = parse(wrap(format, r#"{"passed":1,"total":9}"#).as_bytes()).unwrap();
        assert_eq!((s.passed, s.total), (1, 9), "{format}");
    }
}

#[test]
fn total_smaller_than_the_sum_is_an_error() {
    for (format, parse, _) in FORMATS {
        let e = parse(wrap(format, r#"{"passed":3,"failed":2,"total":4}"#).as_bytes()).unwrap_err();
        assert!(
            matches!(e, SummaryError::TotalTooSmall { total: 4, sum: 5 }),
            "{format}: {e:?}"
        );
        assert!(e.to_string().contains("smaller than the sum"), "{e}");
    }
}

#[test]
fn empty_body() {
    for (format, parse, _) in FORMATS {
        for body in ["", "  \n\t"] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(matches!(e, SummaryError::Empty), "{format}: {e:?}");
            assert_eq!(e.to_string(), "the summary is empty");
        }
    }
}

#[test]
fn empty_object() {
    let e = parse_allure2(b"{}").unwrap_err();
    assert!(
        matches!(e, SummaryError::MissingObject("statistic")),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "the summary has no `statistic` object");
    let e = parse_allure3(b"{}").unwrap_err();
    assert!(matches!(e, SummaryError::MissingObject("stats")), "{e:?}");
    let e = parse_statistic(b"{}").unwrap_err();
    assert!(matches!(e, SummaryError::NoCounts), "{e:?}");
    // An Allure 3 summary is not an Allure 2 one and the other way round.
    assert!(matches!(
        parse_allure2(ALLURE3.as_bytes()),
        Err(SummaryError::MissingObject("statistic"))
    ));
    assert!(matches!(
        parse_allure3(ALLURE2.as_bytes()),
        Err(SummaryError::MissingObject("stats"))
    ));
    assert!(matches!(
        parse_statistic(br#"{"reportName":"x"}"#),
        Err(SummaryError::NoCounts)
    ));
}

#[test]
fn main_object_of_the_wrong_type() {
    for body in [
        r#"{"statistic":null}"#,
        r#"{"statistic":[]}"#,
        r#"{"statistic":4}"#,
        r#"{"statistic":"4"}"#,
    ] {
        assert!(
            matches!(
                parse_allure2(body.as_bytes()),
                Err(SummaryError::MissingObject(_))
            ),
            "{body}"
        );
        let body = body.replace("statistic", "stats");
        assert!(
            matches!(
                parse_allure3(body.as_bytes()),
                Err(SummaryError::MissingObject(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn not_an_object() {
    for (format, parse, _) in FORMATS {
        for body in ["[]", "[1,2]", "4", "\"summary\"", "null", "true"] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotObject),
                "{format} {body}: {e:?}"
            );
        }
        for body in [
            "<html>Not Found</html>",
            "nope",
            "{'passed': 1}",
            "{\"a\":1}}",
        ] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotJson(_)),
                "{format} {body}: {e:?}"
            );
            assert!(
                e.to_string().starts_with("the summary is not valid JSON"),
                "{e}"
            );
        }
        let e = parse(&[0xff, 0xfe, 0x00]).unwrap_err();
        assert!(matches!(e, SummaryError::NotJson(_)), "{format}: {e:?}");
    }
}

#[test]
fn wrong_types_for_each_field() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for value in [r#""1""#, "true", "[]", "{}", r#""""#] {
                let body = wrap(format, &format!(r#"{{"passed":1,"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                match &e {
                    SummaryError::InvalidField { field: f, .. } => {
                        assert_eq!(f, &format!("{prefix}{field}"), "{body}")
                    }
                    other => panic!("{body}: {other:?}"),
                }
                let text = e.to_string();
                assert!(text.contains(&format!("`{prefix}{field}`")), "{text}");
                assert!(text.contains("must be a whole number"), "{text}");
            }
        }
    }
}

#[test]
fn negative_and_fractional_counts() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for (value, word) in [
                ("-1", "negative"),
                ("-0.5", "negative"),
                ("-9223372036854775809", "negative"),
                ("1.5", "whole number"),
                ("0.001", "whole number"),
            ] {
                let body = wrap(format, &format!(r#"{{"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                let text = e.to_string();
                assert!(
                    matches!(&e, SummaryError::InvalidField { field: f, .. } if *f == format!("{prefix}{field}")),
                    "{body}: {e:?}"
                );
                assert!(text.contains(word), "{body}: {text}");
            }
        }
    }
}

#[test]
fn huge_counts() {
    for (format, parse, prefix) in FORMATS {
        for field in ["passed", "failed", "broken", "skipped", "unknown", "total"] {
            for value in [
                "1000000001",
                "1e10",
                "1e300",
                "18446744073709551615",
                "18446744073709551616",
                "123456789012345678901234567890",
            ] {
                let body = wrap(format, &format!(r#"{{"{field}":{value}}}"#));
                let e = parse(body.as_bytes()).unwrap_err();
                assert!(
                    matches!(&e, SummaryError::InvalidField { field: f, .. } if *f == format!("{prefix}{field}")),
                    "{body}: {e:?}"
                );
                assert!(e.to_string().contains("too large"), "{e}");
            }
        }
        // The largest accepted, summed without overflow.
        let max = 1_000_000_000u64;
        let body = wrap(
            format,
            &format!(
                r#"{{"passed":{max},"failed":{max},"broken":{max},"skipped":{max},"unknown":{max}}}"#
            ),
        );
        let s = parse(body.as_bytes()).unwrap();
        assert_eq!(s.total, 5 * max);
    }
}

#[test]
fn body_over_one_mib_is_too_large() {
    // 2 MiB of valid JSON: refused before parsing.
    let mut body = String::from(r#"{"statistic":{"passed":1},"pad":""#);
    body.push_str(&" ".repeat(2 * 1024 * 1024));
    body.push_str("\"}");
    for (_, parse, _) in FORMATS {
        let e = parse(body.as_bytes()).unwrap_err();
        assert!(matches!(e, SummaryError::TooLarge), "{e:?}");
        assert!(e.to_string().contains("too large"));
    }
    // Exactly the limit is fine.
    let mut body = String::from(r#"{"statistic":{"passed":1},"pad":""#);
    body.push_str(&" ".repeat(MAX_BODY_BYTES - body.len() - 2));
    body.push_str("\"}");
    assert_eq!(body.len(), MAX_BODY_BYTES);
    assert_eq!(parse_allure2(body.as_bytes()).unwrap().passed, 1);
}

#[test]
fn truncated_json() {
    for (sample, parse) in [
        (ALLURE2.trim_end(), parse_allure2 as Parser),
        (ALLURE3.trim_end(), parse_allure3),
        (STATISTIC.trim_end(), parse_statistic),
    ] {
        for cut in 1..sample.len() {
            let e = parse(&sample.as_bytes()[..cut]).unwrap_err();
            assert!(
                matches!(e, SummaryError::NotJson(_) | SummaryError::Empty),
                "cut at {cut}: {e:?}"
            );
        }
        assert!(parse(sample.as_bytes()).is_ok());
    }
}

#[test]
fn source_names_for_the_mail() {
    assert_eq!(
        SummarySource::Allure2.to_string(),
        "Allure 2 widgets/summary.json"
    );
    assert_eq!(SummarySource::Allure3.to_string(), "Allure 3 summary.json");
    assert_eq!(
        SummarySource::Statistic.to_string(),
        "Allure widgets/statistic.json"
    );
    let paths: Vec<_> = SummarySource::ALL.iter().map(|s| s.path()).collect();
    assert_eq!(
        paths,
        [
            "widgets/summary.json",
            "summary.json",
            "widgets/statistic.json"
        ]
    );
}
