//! The value generators of the property tests: the domain's parse round trips
//! (`domain/round_trips.rs`) and the store round trips of the conformance suite
//! (`tests/integration/conformance/round_trips.rs`, which includes this file by `#[path]`)
//! draw from the same ones. Only proptest and serde_json: it compiles in both crates.

use proptest::prelude::*;
use serde_json::{Value, json};

/// Text mixing what real inputs hold with what trips normalisation: spaces and tabs,
/// dots and slashes, `İ` (longer once lower-cased), a combining dot, `ß`, control
/// characters (TAB, NEL), `@`, `#`, `%`, `:` and `\`.
const TRICKY: &str = "[a-zA-Z0-9 ./_@#%:\\-\\\\\t\u{85}\u{a0}İıßé\u{307}\u{1F680}]";

pub(super) fn tricky(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{TRICKY}{{0,{max}}}")).expect("a valid regex")
}

/// Package paths: segments of plain and tricky names, now and then a dot segment with
/// spaces or a trailing "/ " (what the old parser accepted and then could not re-read).
pub(super) fn package_pathish() -> impl Strategy<Value = String> {
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
pub(super) fn job_name_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        tricky(40),
        proptest::string::string_regex("[a-zA-Z0-9 ./_#İß\u{1F680}]{180,205}").expect("regex"),
    ]
}

/// Addresses: mostly well-formed (dot-atoms, dotted domains, mixed case, `İ`, `ß`, the
/// occasional space or long local part), sometimes anything around an `@`.
pub(super) fn emailish() -> impl Strategy<Value = String> {
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

pub(super) fn params_value() -> impl Strategy<Value = Value> {
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

pub(super) fn url_ish() -> impl Strategy<Value = String> {
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
pub(super) fn settings_patch() -> impl Strategy<Value = Value> {
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
