//! Allure 3 `widgets/tree.json` and `data/test-results/{nodeId}.json`, as the `allure` npm
//! package's default ("awesome") report writes them:
//!
//! `{"root": {"groups": [nodeId], "leaves": [nodeId]}, "groupsById": {nodeId: {"nodeId",
//! "name", "groups"?, "leaves"?}}, "leavesById": {nodeId: {"nodeId", "id" (the history id),
//! "name", "status", "duration", "flaky", "retry", "retriesCount", ...}}}`. The full name
//! and the error are only in the per-result files: `{"fullName", "error": {"message"}}`.
//!
//! Groups refer to each other by id, so a hostile tree may loop: each group is walked once,
//! each leaf counted once, and the walk stops [`MAX_TREE_DEPTH`] groups down.

use std::collections::HashSet;

use serde::Deserialize;

use super::loose::{ById, List, Loose, Obj, with_entry_budget};
use super::{Detail, Listing};
use crate::domain::test_case::{
    MAX_NAME_CHARS, MAX_SUITE_DEPTH, TestCase, TestId, TestStatus, cut_chars, first_line,
};
use crate::mail::summary::MAX_DURATION_MS;

/// Groups below this depth are not walked (a real tree is a few levels deep).
pub(crate) const MAX_TREE_DEPTH: usize = 64;
/// Entries kept from one tree.json: groups, leaves and the ids the groups list (a report
/// of 50,000 cases has about 101,000), so at most about 45 MB of parsed tree however small
/// the entries are.
pub(crate) const MAX_TREE_ENTRIES: usize = 300_000;
/// Ids read per group's list: all of them (the body cap bounds the count).
const ALL: usize = usize::MAX;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tree {
    root: Obj<Group>,
    #[serde(rename = "groupsById")]
    groups_by_id: ById<Obj<Group>>,
    #[serde(rename = "leavesById")]
    leaves_by_id: ById<Obj<Leaf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Group {
    name: Loose<String>,
    groups: List<Loose<String>, ALL>,
    leaves: List<Loose<String>, ALL>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Leaf {
    id: Loose<String>,
    name: Loose<String>,
    status: Loose<TestStatus>,
    duration: Loose<u64>,
    flaky: Loose<bool>,
    #[serde(rename = "retriesCount")]
    retries_count: Loose<u64>,
}

/// The cases of a tree.json body, in report order (a group's leaves, then its groups).
pub(crate) fn parse_tree(bytes: &[u8]) -> Result<Listing, String> {
    let tree: Tree = with_entry_budget(MAX_TREE_ENTRIES, || super::parse_json(bytes))?;
    let Some(root) = &tree.root.0 else {
        return Err("not an Allure 3 tree: it has no `root` object".to_owned());
    };
    let mut listing = Listing::default();
    let mut walked: HashSet<&str> = HashSet::new();
    let mut counted: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&Group, Vec<String>)> = vec![(root, Vec::new())];
    while let Some((group, suite)) = stack.pop() {
        for key in group.leaves.items().iter().filter_map(|k| k.0.as_deref()) {
            let Some(Obj(Some(leaf))) = tree.leaves_by_id.0.get(key) else {
                continue;
            };
            if counted.insert(key) {
                listing.push_with(|| (leaf_case(leaf, suite.clone()), Some(key.to_owned())));
            }
        }
        if suite.len() >= MAX_TREE_DEPTH {
            continue;
        }
        let inner = group.groups.items().iter().filter_map(|k| k.0.as_deref());
        let inner: Vec<_> = inner.collect();
        for key in inner.into_iter().rev() {
            let Some(Obj(Some(child))) = tree.groups_by_id.0.get(key) else {
                continue;
            };
            if !walked.insert(key) {
                continue;
            }
            let mut path = suite.clone();
            path.push(cut_chars(
                child.name.0.as_deref().unwrap_or_default(),
                MAX_NAME_CHARS,
            ));
            stack.push((child, path));
        }
    }
    Ok(listing)
}

fn leaf_case(leaf: &Leaf, mut suite: Vec<String>) -> TestCase {
    suite.truncate(MAX_SUITE_DEPTH);
    let name = super::case_name(leaf.name.0.as_deref(), leaf.id.0.as_deref());
    let id = match &leaf.id.0 {
        Some(history_id) => TestId::from_history_id(history_id),
        None => TestId::from_parts(&suite, &name, &[]),
    };
    TestCase {
        id,
        name,
        suite,
        status: leaf.status.0.unwrap_or(TestStatus::Unknown),
        duration_ms: leaf.duration.0.filter(|&ms| ms <= MAX_DURATION_MS),
        message: None,
        full_name: None,
        flaky: leaf.flaky.0.unwrap_or(false),
        retries: super::retries(leaf.retries_count.0),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultFile {
    #[serde(rename = "fullName")]
    full_name: Loose<String>,
    error: Obj<ErrorPart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorPart {
    message: Loose<String>,
}

/// `data/test-results/{nodeId}.json`: `fullName` and the first line of `error.message`.
pub(crate) fn parse_detail(bytes: &[u8]) -> Option<Detail> {
    let file: ResultFile = super::parse_json(bytes).ok()?;
    Some(Detail {
        full_name: file.full_name.0.map(|n| cut_chars(&n, MAX_NAME_CHARS)),
        message: file
            .error
            .0
            .and_then(|e| e.message.0)
            .as_deref()
            .and_then(first_line),
    })
}
