//! Allure 2 `data/suites.json` and `data/test-cases/{uid}.json` (also written by Allure 3's
//! `allure2` plugin).
//!
//! suites.json is a tree: `{"uid", "name": "suites", "children": [group | leaf]}`, a group
//! being `{"name", "uid", "children": [...]}` and a leaf `{"name", "uid", "parentUid",
//! "status", "time": {start, stop, duration}, "flaky", "retriesCount", "parameters":
//! [value...], ...}`. A node is a group when its `children` is an array, else a leaf.

use serde::Deserialize;

use super::loose::{List, Loose, Obj};
use super::{Detail, Listing};
use crate::domain::test_case::{
    MAX_NAME_CHARS, MAX_SUITE_DEPTH, TestCase, TestId, TestStatus, cut_chars, first_line,
};
use crate::mail::summary::MAX_DURATION_MS;

/// Parameter values kept per case (for its id); more are read and dropped.
const MAX_PARAMETERS: usize = 64;
/// Children read per group: all of them (the body cap bounds the count).
const ALL: usize = usize::MAX;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Node {
    name: Loose<String>,
    uid: Loose<String>,
    status: Loose<TestStatus>,
    time: Obj<Time>,
    flaky: Loose<bool>,
    #[serde(rename = "retriesCount")]
    retries_count: Loose<u64>,
    parameters: List<Loose<String>, MAX_PARAMETERS>,
    children: List<Obj<Node>, ALL>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Time {
    start: Loose<u64>,
    stop: Loose<u64>,
    duration: Loose<u64>,
}

impl Time {
    /// `duration`, else `stop - start`; none when odd or over a century.
    pub(super) fn millis(&self) -> Option<u64> {
        self.duration
            .0
            .or_else(|| self.stop.0?.checked_sub(self.start.0?))
            .filter(|&ms| ms <= MAX_DURATION_MS)
    }
}

/// The cases of a suites.json body, in report order (depth first).
pub(crate) fn parse_suites(bytes: &[u8]) -> Result<Listing, String> {
    let root: Node = super::parse_json(bytes)?;
    if root.children.0.is_none() {
        return Err("not an Allure 2 suites tree: the root has no `children` array".to_owned());
    }
    let mut listing = Listing::default();
    // Explicit stack (children pushed in reverse to keep their order): the tree is only as
    // deep as the JSON nesting limit allows, but no recursion is needed to walk it.
    let mut stack: Vec<(&Node, Vec<String>)> = root
        .children
        .items()
        .iter()
        .rev()
        .filter_map(|child| child.0.as_ref().map(|node| (node, Vec::new())))
        .collect();
    while let Some((node, suite)) = stack.pop() {
        if let Some(children) = &node.children.0 {
            let mut inner = suite;
            if inner.len() < MAX_SUITE_DEPTH {
                inner.push(cut_chars(
                    node.name.0.as_deref().unwrap_or_default(),
                    MAX_NAME_CHARS,
                ));
            }
            for child in children.iter().rev() {
                if let Some(child) = &child.0 {
                    stack.push((child, inner.clone()));
                }
            }
        } else {
            let (case, uid) = leaf_case(node, suite);
            listing.push(case, uid);
        }
    }
    Ok(listing)
}

fn leaf_case(node: &Node, suite: Vec<String>) -> (TestCase, Option<String>) {
    let name = super::case_name(node.name.0.as_deref(), node.uid.0.as_deref());
    // Parameters as (no name, value): suites.json lists only the values.
    let parameters: Vec<(String, String)> = node
        .parameters
        .items()
        .iter()
        .map(|p| {
            (
                String::new(),
                cut_chars(p.0.as_deref().unwrap_or_default(), MAX_NAME_CHARS),
            )
        })
        .collect();
    let id = TestId::from_parts(&suite, &name, &parameters);
    let case = TestCase {
        id,
        name,
        suite,
        status: node.status.0.unwrap_or(TestStatus::Unknown),
        duration_ms: node.time.0.as_ref().and_then(Time::millis),
        message: None,
        full_name: None,
        flaky: node.flaky.0.unwrap_or(false),
        retries: super::retries(node.retries_count.0),
    };
    (case, node.uid.0.clone())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TestCaseFile {
    #[serde(rename = "fullName")]
    full_name: Loose<String>,
    #[serde(rename = "statusMessage")]
    status_message: Loose<String>,
}

/// `data/test-cases/{uid}.json`: `fullName` and the first line of `statusMessage`.
pub(crate) fn parse_detail(bytes: &[u8]) -> Option<Detail> {
    let file: TestCaseFile = super::parse_json(bytes).ok()?;
    Some(Detail {
        full_name: file.full_name.0.map(|n| cut_chars(&n, MAX_NAME_CHARS)),
        message: file.status_message.0.as_deref().and_then(first_line),
    })
}
