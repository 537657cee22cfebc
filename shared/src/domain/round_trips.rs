//! Property tests: whatever a parser accepts re-parses to itself (parse → display →
//! parse), so a stored value can always be read back. The store round trips of the same
//! values are in the conformance suite (`shared/tests/integration/conformance/round_trips.rs`).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::config_values::{HttpUrl, ServiceName, parse_email_list};
use super::{BuildNumber, Email, JobName, PackagePath, Params, Settings};

/// Text mixing what real inputs hold with what trips normalisation: spaces and tabs,
/// dots and slashes, `İ` (longer once lower-cased), a combining dot, `ß`, control
/// characters (TAB, NEL), `@`, `#`, `%`, `:` and `\`.
pub(crate) const TRICKY: &str = "[a-zA-Z0-9 ./_@#%:\\-\\\\\t\u{85}\u{a0}İıßé\u{307}\u{1F680}]";

fn tricky(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{TRICKY}{{0,{max}}}")).expect("a valid regex")
}

/// Package paths: segments of plain and tricky names, now and then a dot segment with
/// spaces or a trailing "/ " (what the old parser accepted and then could not re-read).
fn package_pathish() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        6 => proptest::string::string_regex("[a-zA-Z0-9_.İß\u{1F680} -]{1,12}").expect("regex"),
        1 => Just(". ".to_owned()),
        1 => Just(" ..".to_owned()),
        1 => tricky(8),
    ];
    (
        prop::collection::vec(segment, 1..5),
        prop_oneof![Just(""), Just("/"), Just("/ "), Just(" ")],
    )
        .prop_map(|(segments, tail)| format!("{}{tail}", segments.join("/")))
}

/// Job names: short tricky ones, and long printable ones around the 200-character limit.
fn job_name_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        tricky(40),
        proptest::string::string_regex("[a-zA-Z0-9 ./_#İß\u{1F680}]{180,205}").expect("regex"),
    ]
}

/// Addresses: mostly well-formed (dot-atoms, dotted domains, mixed case, `İ`, `ß`, the
/// occasional space or long local part), sometimes anything around an `@`.
fn emailish() -> impl Strategy<Value = String> {
    let atom = || proptest::string::string_regex("[a-zA-Z0-9+_İß-]{1,12}").expect("regex");
    let label = || {
        proptest::string::string_regex("[a-zA-Z0-9]([a-zA-Z0-9İ-]{0,8}[a-zA-Z0-9])?")
            .expect("regex")
    };
    let well_formed = (
        prop::collection::vec(atom(), 1..4),
        prop::collection::vec(label(), 1..4),
        label(),
        prop_oneof![
            6 => Just(""),
            1 => Just(" "),
            1 => Just(".."),
            1 => Just("İİİİİİİİİİİİİİİİİİİİİİ"),
        ],
    )
        .prop_map(|(local, domain, tld, odd)| {
            format!(" {}{odd}@{}.{tld}", local.join("."), domain.join("."))
        });
    let anything = (tricky(70), tricky(20)).prop_map(|(l, d)| format!("{l}@{d}"));
    prop_oneof![4 => well_formed, 1 => anything]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        tricky(12).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(tricky(6), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn params_value() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            Just("upgrade_type".to_owned()),
            Just("install_dir".to_owned()),
            Just("service_name".to_owned()),
            tricky(10),
        ],
        prop_oneof![
            Just(json!("full")),
            Just(json!("update")),
            tricky(16).prop_map(|s| json!(format!("/{s}"))),
            json_value(),
        ],
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn url_ish() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("http://"),
            Just("https://"),
            Just("HTTP://"),
            Just("ftp://")
        ],
        proptest::string::string_regex("[a-zA-Z0-9.İ-]{0,12}").expect("regex"),
        prop_oneof![Just(""), Just(":8080"), Just(":0"), Just(":99999")],
        tricky(16),
    )
        .prop_map(|(scheme, host, port, path)| format!("{scheme}{host}{port}/{path}"))
}

/// A partial settings update: each key present or not, each value plausible or not.
pub(crate) fn settings_patch() -> impl Strategy<Value = Value> {
    let w = 0.5;
    (
        prop::option::weighted(w, tricky(30).prop_map(Value::from)),
        prop::option::weighted(w, prop::option::of(url_ish()).prop_map(|u| json!(u))),
        prop::option::weighted(w, prop::option::of(url_ish()).prop_map(|u| json!(u))),
        prop::option::weighted(w, prop::option::of(url_ish()).prop_map(|u| json!(u))),
        prop::option::weighted(w, (0u32..4000).prop_map(Value::from)),
        prop::option::weighted(w, (0u32..400).prop_map(Value::from)),
        prop::option::weighted(
            w,
            prop::collection::vec(emailish(), 0..3).prop_map(|v| json!(v)),
        ),
        prop::option::weighted(
            w,
            prop::collection::vec(
                proptest::string::string_regex("@?[a-zA-Z0-9.-]{0,12}").expect("regex"),
                0..3,
            )
            .prop_map(|v| json!(v)),
        ),
    )
        .prop_map(
            |(name, pkg, server, report, interval, timeout, cc, domains)| {
                let keys = [
                    ("project_name", name),
                    ("package_download_base_url", pkg),
                    ("external_test_server_url", server),
                    ("report_base_url", report),
                    ("poll_interval_seconds", interval),
                    ("poll_request_timeout_seconds", timeout),
                    ("notify_cc", cc),
                    ("allowed_email_domains", domains),
                ];
                Value::Object(
                    keys.into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                        .collect(),
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn job_names_re_parse_to_themselves(raw in job_name_ish()) {
        if let Ok(j) = JobName::parse("JOB_NAME", &raw) {
            prop_assert_eq!(JobName::parse("JOB_NAME", &j.to_string()), Ok(j));
        }
    }

    #[test]
    fn package_paths_re_parse_to_themselves(raw in prop_oneof![tricky(60), package_pathish()]) {
        if let Ok(p) = PackagePath::parse("PACKAGE_PATH", &raw) {
            prop_assert_eq!(PackagePath::parse("PACKAGE_PATH", p.as_str()), Ok(p));
        }
    }

    #[test]
    fn emails_re_parse_to_themselves_and_the_mailer_takes_them(raw in emailish()) {
        if let Ok(e) = Email::parse("email", &raw) {
            prop_assert!(e.as_str().parse::<lettre::Address>().is_ok());
            prop_assert!(e.as_str().len() <= Email::MAX_BYTES);
            prop_assert_eq!(Email::parse("email", &e.to_string()), Ok(e));
        }
    }

    #[test]
    fn email_lists_re_parse_to_themselves(raw in prop::collection::vec(emailish(), 0..4)) {
        if let Ok(list) = parse_email_list("notify_emails", &raw) {
            let again: Vec<String> = list.iter().map(Email::to_string).collect();
            prop_assert_eq!(parse_email_list("notify_emails", &again), Ok(list));
        }
    }

    #[test]
    fn build_numbers_re_parse_to_themselves(n in any::<i64>(), pad in "[ 0]{0,3}") {
        for raw in [json!(n), json!(format!("{pad}{n}"))] {
            if let Ok(b) = BuildNumber::parse("BUILD_NUMBER", &raw) {
                prop_assert!(b.get() > 0);
                prop_assert_eq!(BuildNumber::parse("BUILD_NUMBER", &json!(b.to_string())), Ok(b));
            }
        }
    }

    #[test]
    fn service_names_and_urls_re_parse_to_themselves(name in tricky(20), url in url_ish()) {
        if let Ok(s) = ServiceName::parse("name", &name) {
            prop_assert_eq!(ServiceName::parse("name", s.as_str()), Ok(s));
        }
        if let Ok(u) = HttpUrl::parse("url", &url) {
            prop_assert_eq!(HttpUrl::parse("url", u.as_str()), Ok(u));
        }
    }

    #[test]
    fn params_re_parse_from_their_stored_json(raw in params_value()) {
        if let Ok(p) = Params::parse("params", &raw) {
            let stored = p.clone().into_value().to_string();
            let read: Value = serde_json::from_str(&stored).expect("stored JSON parses");
            prop_assert_eq!(Params::parse("params", &read), Ok(p));
        }
    }

    #[test]
    fn settings_re_validate_from_their_stored_json(patch in settings_patch()) {

        if let Ok(s) = Settings::default().patched(&patch) {
            let stored = serde_json::to_string(&s).expect("settings encode");
            let read: Settings = serde_json::from_str(&stored).expect("settings decode");
            prop_assert_eq!(&read, &s);
            // Fed back through the validator, the stored settings are unchanged.
            let as_patch = serde_json::to_value(&s).expect("settings as JSON");
            prop_assert_eq!(Settings::default().patched(&as_patch), Ok(s));
        }
    }
}

/// How many of `n` values drawn from `strategy` `accepted` takes.
fn accepted<T: std::fmt::Debug>(
    strategy: impl Strategy<Value = T>,
    n: usize,
    accepted: impl Fn(&T) -> bool,
) -> usize {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .filter(|_| accepted(&strategy.new_tree(&mut runner).expect("a value").current()))
        .count()
}

/// The properties above only say something when the generators reach the accepted side
/// often enough: at least one draw in twenty parses.
#[test]
fn the_generators_are_not_vacuous() {
    let n = 400;
    let counts = [
        (
            "job name",
            accepted(tricky(210), n, |s| JobName::parse("j", s).is_ok()),
        ),
        (
            "package path",
            accepted(tricky(60), n, |s| PackagePath::parse("p", s).is_ok()),
        ),
        (
            "email",
            accepted(emailish(), n, |s| Email::parse("e", s).is_ok()),
        ),
        (
            "params",
            accepted(params_value(), n, |v| Params::parse("p", v).is_ok()),
        ),
        (
            "settings",
            accepted(settings_patch(), n, |v| {
                Settings::default().patched(v).is_ok()
            }),
        ),
    ];
    for (what, count) in counts {
        assert!(count * 20 >= n, "{what}: only {count} of {n} accepted");
    }
}
