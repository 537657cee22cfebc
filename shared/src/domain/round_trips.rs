//! Property tests: whatever a parser accepts re-parses to itself (parse → display →
//! parse), so a stored value can always be read back. The store round trips of the same
//! values are in the conformance suite (`shared/tests/integration/conformance/round_trips.rs`).

mod generators;

use generators::*;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::config_values::{HttpUrl, ServiceName, parse_email_list};
use super::{BuildNumber, Email, JobName, PackagePath, Params, Settings};

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
