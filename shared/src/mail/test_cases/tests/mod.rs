//! The parsers on hostile and odd input (Allure 2 here; Allure 3 and the property tests in
//! their modules); the reader against real reports and a 50,000-case report is in the
//! notify test binary (`tests/notify/test_cases/`).

mod allure3_tree;
mod properties;

use serde_json::{Value, json};

use super::allure2::parse_suites;
use super::allure3::parse_tree;
use super::*;
use crate::domain::test_case::{MAX_SUITE_DEPTH, TestStatus};

fn suites(children: Value) -> Vec<u8> {
    allure_order(&json!({"uid": "r", "name": "suites", "children": children})).into_bytes()
}

/// `value` as JSON with each object's `name` first and its `children` last, as Allure
/// writes them (`json!` sorts keys, which would put `children` before `name`).
fn allure_order(value: &Value) -> String {
    let Value::Object(map) = value else {
        return match value {
            Value::Array(items) => {
                let items: Vec<_> = items.iter().map(allure_order).collect();
                format!("[{}]", items.join(","))
            }
            other => other.to_string(),
        };
    };
    let rank = |key: &str| match key {
        "name" => 0,
        "children" => 2,
        _ => 1,
    };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(key, _)| rank(key));
    let entries: Vec<_> = entries
        .into_iter()
        .map(|(key, value)| format!("{}:{}", Value::from(key.as_str()), allure_order(value)))
        .collect();
    format!("{{{}}}", entries.join(","))
}

fn leaf(name: &str, uid: &str, status: &str) -> Value {
    json!({"name": name, "uid": uid, "parentUid": "p", "status": status,
           "time": {"start": 10, "stop": 25, "duration": 15}, "flaky": false,
           "retriesCount": 0, "parameters": []})
}

fn summary_of(listing: &Listing) -> Vec<(String, Vec<String>, TestStatus)> {
    listing
        .cases
        .iter()
        .map(|c| (c.name.clone(), c.suite.clone(), c.status))
        .collect()
}

#[test]
fn allure2_tree_gives_cases_with_their_suite_path_in_order() {
    let body = suites(json!([{"name": "tests", "uid": "g1", "children": [
        leaf("test_a", "u1", "passed"),
        {"name": "TestClass", "uid": "g2", "children": [leaf("test_b", "u2", "failed")]},
        leaf("test_c", "u3", "broken"),
    ]}]));
    let listing = parse_suites(&body).unwrap();
    assert_eq!(
        summary_of(&listing),
        [
            ("test_a".into(), vec!["tests".into()], TestStatus::Passed),
            (
                "test_b".into(),
                vec!["tests".into(), "TestClass".into()],
                TestStatus::Failed
            ),
            ("test_c".into(), vec!["tests".into()], TestStatus::Broken),
        ]
    );
    assert_eq!(listing.in_report, 3);
    assert_eq!(listing.cases[0].duration_ms, Some(15));
    assert_eq!(listing.detail_keys[1].as_deref(), Some("u2"));
    let expected = TestId::from_parts(&["tests".into()], "test_a", &[]);
    assert_eq!(listing.cases[0].id, expected);
}

#[test]
fn allure2_id_does_not_depend_on_status_time_or_uid() {
    let a = parse_suites(&suites(json!([leaf("t", "u1", "passed")]))).unwrap();
    let mut other = leaf("t", "zz", "failed");
    other["time"] = json!({"start": 1, "stop": 999});
    other["flaky"] = json!(true);
    let b = parse_suites(&suites(json!([other]))).unwrap();
    assert_eq!(a.cases[0].id, b.cases[0].id);
    let mut param = leaf("t", "u1", "passed");
    param["parameters"] = json!(["1", "'one'"]);
    let c = parse_suites(&suites(json!([param]))).unwrap();
    assert_ne!(
        a.cases[0].id, c.cases[0].id,
        "parameters are part of the id"
    );
}

#[test]
fn odd_values_drop_the_field_not_the_case() {
    let body = suites(json!([
        {"name": 5, "uid": ["x"], "status": {"s": 1}, "time": "soon", "flaky": "yes",
         "retriesCount": -3, "parameters": "none"},
        {"name": "t2", "status": "PASSED", "time": {"start": "a", "stop": 30, "duration": null},
         "retriesCount": 2.0, "parameters": [1, null, "v", {"name": "n", "value": "w"}]},
        {"name": "t3", "time": {"start": 100, "stop": 50}},
        {},
        null, 7, "text", [1, 2],
        {"name": "g", "children": {"not": "an array"}},
    ]));
    let listing = parse_suites(&body).unwrap();
    let names: Vec<_> = listing.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["(no name)", "t2", "t3", "g"]);
    let odd = &listing.cases[0];
    assert_eq!(
        (odd.status, odd.duration_ms, odd.flaky, odd.retries),
        (TestStatus::Unknown, None, false, 0)
    );
    assert_eq!(listing.cases[1].status, TestStatus::Passed);
    assert_eq!(listing.cases[1].retries, 2);
    assert_eq!(listing.cases[1].duration_ms, None);
    assert_eq!(listing.cases[2].duration_ms, None, "stop before start");
    // `{}` is a case too (a second "(no name)", so a duplicate id: counted, not kept);
    // null, 7, "text" and [1, 2] are not nodes.
    assert_eq!(listing.in_report, 5);
}

#[test]
fn broken_files_are_refused_with_a_reason() {
    for (body, why) in [
        (&b""[..], "empty"),
        (b"  \n", "empty"),
        (b"<html><body>Login</body></html>", "not valid JSON"),
        (br#"{"uid": "r", "children": [{"name": "#, "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\"text\"", "not a JSON object"),
        (br#"{"uid": "r", "name": "suites"}"#, "no `children` array"),
    ] {
        let err = parse_suites(body).unwrap_err();
        assert!(err.contains(why), "{err}");
        let err = parse_tree(body).unwrap_err();
        assert!(err.contains(why) || err.contains("no `root`"), "{err}");
    }
    let twice = br#"{"root": {"groups": [], "groups": []}}"#;
    let err = parse_tree(twice).unwrap_err();
    assert!(
        err.contains("cannot be read: duplicate field `groups`"),
        "{err}"
    );
    // A BOM is skipped.
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(suites(json!([leaf("t", "u", "passed")])));
    assert_eq!(parse_suites(&bom).unwrap().in_report, 1);
}

#[test]
fn a_group_name_after_its_children_is_not_used() {
    let body =
        br#"{"children": [{"children": [{"name": "t", "status": "passed"}], "name": "late"}]}"#;
    let listing = parse_suites(body).unwrap();
    assert_eq!(listing.cases[0].suite, [""]);
    assert_eq!(
        parse_suites(body).unwrap().cases,
        listing.cases,
        "the same every time"
    );
}

#[test]
fn a_key_twice_in_an_allure2_leaf_keeps_its_last_value() {
    let twice = br#"{"children": [{"name": "a", "status": "passed", "name": "b"}]}"#;
    let listing = parse_suites(twice).unwrap();
    assert_eq!(listing.cases[0].name, "b");
}

#[test]
fn many_tiny_entries_cannot_make_more_memory_than_the_budget() {
    // Allure 2 is streamed: 200,000 empty leaves are counted, none kept past the cap.
    let body = format!(r#"{{"children": [{}]}}"#, vec!["{}"; 200_000].join(","));
    let listing = parse_suites(body.as_bytes()).unwrap();
    assert_eq!((listing.in_report, listing.over_cap), (200_000, true));
    assert!(listing.cases.is_empty());
    // Allure 3 keeps its maps, so the entries it keeps are counted and bounded.
    let ids = vec!["\"a\""; super::allure3::MAX_TREE_ENTRIES + 1].join(",");
    let body = format!(r#"{{"root": {{"groups": [], "leaves": [{ids}]}}}}"#);
    let err = parse_tree(body.as_bytes()).unwrap_err();
    assert!(err.contains("more entries"), "{err}");
    // The budget is per parse: the next one starts afresh.
    let ids = vec!["\"a\""; super::allure3::MAX_TREE_ENTRIES - 1].join(",");
    let body = format!(r#"{{"root": {{"groups": [], "leaves": [{ids}]}}}}"#);
    assert_eq!(parse_tree(body.as_bytes()).unwrap().in_report, 0);
}

#[test]
fn hostile_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 100_000;
    let mut body = String::from(r#"{"children":"#);
    for _ in 0..depth {
        body.push_str(r#"[{"name":"g","children":"#);
    }
    body.push_str("[]");
    for _ in 0..depth {
        body.push_str("}]");
    }
    body.push('}');
    let err = parse_suites(body.as_bytes()).unwrap_err();
    assert!(err.contains("recursion limit"), "{err}");
    // Nesting in a value that is read and dropped is skipped without recursion (serde_json
    // ignores values iteratively): no error, no overflow.
    let deep_value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(r#"{{"root": {{"groups": [{deep_value}]}}, "x": {deep_value}}}"#);
    assert_eq!(parse_tree(body.as_bytes()).unwrap().in_report, 0);
}

#[test]
fn suite_paths_are_cut_to_the_domain_depth_and_names_to_their_length() {
    let mut node = leaf(&"n".repeat(900), "u", "failed");
    for level in (0..30).rev() {
        node = json!({"name": format!("level{level}"), "children": [node]});
    }
    let listing = parse_suites(&suites(json!([node]))).unwrap();
    let case = &listing.cases[0];
    assert_eq!(case.suite.len(), MAX_SUITE_DEPTH);
    assert_eq!(case.suite[0], "level0");
    assert_eq!(case.name.chars().count(), MAX_NAME_CHARS);
}

#[test]
fn parent_uids_are_never_followed_so_a_loop_in_them_changes_nothing() {
    let mut a = leaf("a", "u1", "passed");
    a["parentUid"] = json!("u1");
    let mut b = leaf("b", "u2", "failed");
    b["parentUid"] = json!("g2");
    let looped = suites(json!([
        {"name": "g1", "uid": "g1", "parentUid": "g2", "children": [a.clone(),
            {"name": "g2", "uid": "g2", "parentUid": "g1", "children": [b.clone()]}]}
    ]));
    a["parentUid"] = json!("g1");
    b["parentUid"] = json!("g2");
    let plain = suites(json!([
        {"name": "g1", "uid": "g1", "children": [a, {"name": "g2", "uid": "g2", "children": [b]}]}
    ]));
    let (looped, plain) = (
        parse_suites(&looped).unwrap(),
        parse_suites(&plain).unwrap(),
    );
    assert_eq!(looped.cases, plain.cases);
    assert_eq!(looped.cases[1].suite, ["g1", "g2"]);
}

#[test]
fn a_duplicate_id_keeps_the_first_case_and_is_counted() {
    let listing = parse_suites(&suites(json!([
        leaf("t", "u1", "passed"),
        leaf("t", "u2", "failed"),
        leaf("other", "u3", "passed"),
    ])))
    .unwrap();
    assert_eq!(listing.cases.len(), 2);
    assert_eq!(listing.cases[0].status, TestStatus::Passed);
    assert_eq!(listing.in_report, 3);
}

#[test]
fn the_cap_counts_the_cases_listed() {
    let case = |name: &str| {
        parse_suites(&suites(json!([leaf(name, "u", "passed")])))
            .unwrap()
            .cases
            .remove(0)
    };
    let (first, other) = (case("a"), case("b"));
    let mut listing = Listing::default();
    listing.push_with(|| (first.clone(), None));
    for _ in 1..MAX_CASES_PER_RUN {
        listing.push_with(|| (first.clone(), None));
    }
    assert!(!listing.over_cap);
    assert_eq!(
        (listing.cases.len(), listing.in_report),
        (1, MAX_CASES_PER_RUN as u64)
    );
    let mut built = false;
    listing.push_with(|| {
        built = true;
        (other.clone(), None)
    });
    assert!(listing.over_cap && listing.cases.is_empty());
    assert!(!built, "past the cap no case is built");
}

#[test]
fn over_the_cap_keeps_no_case_but_counts_them_all() {
    let mut listing = Listing::default();
    for i in 0..MAX_CASES_PER_RUN + 5 {
        let case = parse_suites(&suites(json!([leaf(&format!("t{i}"), "u", "passed")])))
            .unwrap()
            .cases
            .remove(0);
        listing.push_with(|| (case, None));
    }
    assert!(listing.over_cap);
    assert!(listing.cases.is_empty() && listing.detail_keys.is_empty());
    assert_eq!(listing.in_report, (MAX_CASES_PER_RUN + 5) as u64);
}
