//! Allure 3 tree.json and both formats' detail files.

use super::*;
use crate::mail::test_cases::allure3::MAX_TREE_DEPTH;

pub(super) fn tree(groups: Value, leaves: Value, root: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"root": root, "groupsById": groups, "leavesById": leaves})).unwrap()
}

pub(super) fn leaf3(id: &str, name: &str, status: &str) -> Value {
    json!({"nodeId": "n", "id": id, "name": name, "status": status, "duration": 7,
           "flaky": true, "retry": false, "retriesCount": 1})
}

#[test]
fn allure3_tree_gives_history_ids_and_group_paths() {
    let body = tree(
        json!({"g1": {"name": "tests", "groups": ["g2"], "leaves": ["l1"]},
               "g2": {"name": "TestClass", "leaves": ["l2"]}}),
        json!({"l1": leaf3("abc.def", "test_a", "passed"), "l2": leaf3("h/odd id", "test_b", "broken")}),
        json!({"groups": ["g1"], "leaves": []}),
    );
    let listing = parse_tree(&body).unwrap();
    assert_eq!(
        summary_of(&listing),
        [
            ("test_a".into(), vec!["tests".into()], TestStatus::Passed),
            (
                "test_b".into(),
                vec!["tests".into(), "TestClass".into()],
                TestStatus::Broken
            ),
        ]
    );
    assert_eq!(listing.cases[0].id.as_str(), "abc.def");
    assert_eq!(listing.cases[1].id, TestId::from_history_id("h/odd id"));
    assert_eq!(
        (
            listing.cases[0].duration_ms,
            listing.cases[0].flaky,
            listing.cases[0].retries
        ),
        (Some(7), true, 1)
    );
    assert_eq!(listing.detail_keys, [Some("l1".into()), Some("l2".into())]);
}

#[test]
fn allure3_loops_and_shared_nodes_are_walked_once() {
    let body = tree(
        json!({"a": {"name": "A", "groups": ["a", "b"], "leaves": ["l1"]},
               "b": {"name": "B", "groups": ["a"], "leaves": ["l1", "l2", "missing"]},
               "c": "not a group"}),
        json!({"l1": leaf3("1", "one", "passed"), "l2": leaf3("2", "two", "failed"), "l3": leaf3("3", "unreached", "failed")}),
        json!({"groups": ["a", "c", "nowhere", 5], "leaves": ["l2"]}),
    );
    let listing = parse_tree(&body).unwrap();
    let names: Vec<_> = listing.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["two", "one"]);
    assert_eq!(listing.in_report, 2);
}

#[test]
fn allure3_depth_is_bounded() {
    let mut groups = serde_json::Map::new();
    for i in 0..200 {
        groups.insert(format!("g{i}"), json!({"name": format!("G{i}"), "groups": [format!("g{}", i + 1)], "leaves": [format!("l{i}")]}));
    }
    let mut leaves = serde_json::Map::new();
    for i in 0..200 {
        leaves.insert(
            format!("l{i}"),
            leaf3(&format!("id{i}"), &format!("t{i}"), "passed"),
        );
    }
    let listing = parse_tree(&tree(
        Value::Object(groups),
        Value::Object(leaves),
        json!({"groups": ["g0"]}),
    ))
    .unwrap();
    assert_eq!(listing.cases.len(), MAX_TREE_DEPTH);
    assert!(
        listing
            .cases
            .iter()
            .all(|c| c.suite.len() <= MAX_SUITE_DEPTH)
    );
}

#[test]
fn allure3_leaf_without_id_falls_back_to_its_parts_and_flips_keep_ids() {
    let mut no_id = leaf3("x", "t", "passed");
    no_id.as_object_mut().unwrap().remove("id");
    let groups = json!({"g": {"name": "S", "leaves": ["l"]}});
    let a = parse_tree(&tree(
        groups.clone(),
        json!({"l": no_id}),
        json!({"groups": ["g"]}),
    ))
    .unwrap();
    assert_eq!(a.cases[0].id, TestId::from_parts(&["S".into()], "t", &[]));
    let passed = parse_tree(&tree(
        groups.clone(),
        json!({"l": leaf3("hid", "t", "passed")}),
        json!({"groups": ["g"]}),
    ))
    .unwrap();
    let failed = parse_tree(&tree(
        groups,
        json!({"other": leaf3("hid", "t", "failed")}),
        json!({"groups": ["g"], "leaves": ["other"]}),
    ))
    .unwrap();
    assert_eq!(passed.cases[0].id, failed.cases[0].id);
}

#[test]
fn details_give_full_name_and_first_message_line() {
    let d2 = allure2::parse_detail(
        br#"{"fullName": "m#t", "statusMessage": "\n AssertionError: x\nmore", "historyId": "h"}"#,
    )
    .unwrap();
    assert_eq!(
        d2,
        Detail {
            full_name: Some("m#t".into()),
            message: Some("AssertionError: x".into())
        }
    );
    let d3 = allure3::parse_detail(br#"{"fullName": "m#t", "error": {"message": "boom\ntrace"}}"#)
        .unwrap();
    assert_eq!(
        d3,
        Detail {
            full_name: Some("m#t".into()),
            message: Some("boom".into())
        }
    );
    assert_eq!(
        allure3::parse_detail(br#"{"fullName": 3, "error": "x"}"#).unwrap(),
        Detail::default()
    );
    assert!(allure2::parse_detail(b"<html>").is_none());
}

#[test]
fn only_plain_ids_go_into_a_url() {
    for ok in ["19cd4b8dc45b09f", "a_b-C9"] {
        assert!(is_path_safe(ok), "{ok}");
    }
    for bad in [
        "",
        "../x",
        "..",
        "a/b",
        "a\\b",
        "a.json",
        "%2e%2e",
        "a?b",
        "a#b",
        "é",
        &"a".repeat(129),
    ] {
        assert!(!is_path_safe(bad), "{bad}");
    }
}
