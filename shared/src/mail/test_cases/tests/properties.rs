//! Property tests: any input parses the same way twice, and counts what it lists.

use proptest::prelude::*;

use super::allure3_tree::{leaf3, tree};
use super::*;

/// A random Allure 2 tree: groups and leaves with some odd values.
fn node_strategy() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    let leaf = (
        prop_oneof![".{0,12}".prop_map(Value::from), scalar.clone()],
        prop_oneof![Just(json!("passed")), Just(json!("failed")), Just(json!("broken")), scalar.clone()],
        prop_oneof![json_time(), scalar.clone()],
        prop::collection::vec(scalar.clone(), 0..3),
    )
        .prop_map(|(name, status, time, parameters)| {
            json!({"name": name, "uid": "u", "status": status, "time": time, "parameters": parameters})
        });
    leaf.prop_recursive(4, 40, 6, |inner| {
        (".{0,8}", prop::collection::vec(inner, 0..6))
            .prop_map(|(name, children)| json!({"name": name, "children": children}))
    })
}

fn json_time() -> impl Strategy<Value = Value> {
    (any::<u32>(), any::<u32>()).prop_map(|(a, b)| json!({"start": a, "stop": b}))
}

fn leaves_in(node: &Value) -> u64 {
    match node.get("children").and_then(Value::as_array) {
        Some(children) => children.iter().map(leaves_in).sum(),
        None => 1,
    }
}

proptest! {
    #[test]
    fn allure2_parse_is_total_stable_and_counts_every_leaf(children in prop::collection::vec(node_strategy(), 0..6)) {
        let body = suites(Value::Array(children.clone()));
        let first = parse_suites(&body).unwrap();
        let again = parse_suites(&body).unwrap();
        prop_assert_eq!(&first.cases, &again.cases);
        let expected: u64 = children.iter().map(leaves_in).sum();
        prop_assert_eq!(first.in_report, expected);
        prop_assert!(first.cases.len() as u64 <= first.in_report);
    }

    #[test]
    fn allure3_parse_of_any_group_graph_is_stable_and_counts_each_leaf_once(
        groups in prop::collection::vec(
            (prop::collection::vec(0..10usize, 0..4), prop::collection::vec(0..12usize, 0..4)),
            0..8,
        ),
        leaves in prop::collection::vec((0..4usize, 0..3usize), 0..10),
        root in prop::collection::vec(0..10usize, 0..3),
    ) {
        let statuses = ["passed", "failed", "broken", "skipped"];
        let groups_by_id: serde_json::Map<String, Value> = groups
            .iter()
            .enumerate()
            .map(|(i, (inner, leaves))| {
                let inner: Vec<_> = inner.iter().map(|g| format!("g{g}")).collect();
                let leaves: Vec<_> = leaves.iter().map(|l| format!("l{l}")).collect();
                (format!("g{i}"), json!({"name": format!("G{i}"), "groups": inner, "leaves": leaves}))
            })
            .collect();
        let leaves_by_id: serde_json::Map<String, Value> = leaves
            .iter()
            .enumerate()
            .map(|(i, (status, id))| (format!("l{i}"), leaf3(&format!("h{id}"), &format!("t{i}"), statuses[*status])))
            .collect();
        let root: Vec<_> = root.iter().map(|g| format!("g{g}")).collect();
        let body = tree(Value::Object(groups_by_id), Value::Object(leaves_by_id), json!({"groups": root}));
        let first = parse_tree(&body).unwrap();
        let again = parse_tree(&body).unwrap();
        prop_assert_eq!(&first.cases, &again.cases);
        prop_assert!(first.in_report <= leaves.len() as u64);
        prop_assert!(first.cases.len() as u64 <= first.in_report);
        prop_assert!(first.cases.len() <= 3, "at most one case per history id");
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_suites(&bytes);
        let _ = parse_tree(&bytes);
        let _ = allure2::parse_detail(&bytes);
        let _ = allure3::parse_detail(&bytes);
    }
}
