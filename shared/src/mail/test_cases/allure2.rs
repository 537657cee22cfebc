//! Allure 2 `data/suites.json` and `data/test-cases/{uid}.json` (also written by Allure 3's
//! `allure2` plugin).
//!
//! suites.json is a tree: `{"uid", "name": "suites", "children": [group | leaf]}`, a group
//! being `{"name", "uid", "children": [...]}` and a leaf `{"name", "uid", "parentUid",
//! "status", "time": {start, stop, duration}, "flaky", "retriesCount", "parameters":
//! [value...], ...}`. A node is a group when its `children` is an array, else a leaf.
//!
//! It is read as a stream: each leaf becomes a case as soon as its object ends, and no tree
//! is built, so what a report can make the reader hold is its body and the kept cases
//! (past the cap, leaves are only counted). A group's name is part of the suite path when
//! it comes before its `children` (as Allure writes it); a name after them is not used. A
//! key given twice in a leaf keeps its last value.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::loose::{List, Loose, Obj};
use super::{Detail, Listing};
use crate::domain::test_case::{
    MAX_NAME_CHARS, MAX_SUITE_DEPTH, TestCase, TestId, TestStatus, cut_chars, first_line,
};
use crate::mail::summary::MAX_DURATION_MS;

/// Parameter values kept per case (for its id); more are read and dropped.
const MAX_PARAMETERS: usize = 64;

/// The keys of a node that are read; every other one is skipped.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Key {
    Name,
    Uid,
    Status,
    Time,
    Flaky,
    RetriesCount,
    Parameters,
    Children,
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Time {
    start: Loose<u64>,
    stop: Loose<u64>,
    duration: Loose<u64>,
}

impl Time {
    /// `duration`, else `stop - start`; none when odd or over a century.
    fn millis(&self) -> Option<u64> {
        self.duration
            .0
            .or_else(|| self.stop.0?.checked_sub(self.start.0?))
            .filter(|&ms| ms <= MAX_DURATION_MS)
    }
}

/// The cases of a suites.json body, in report order (depth first).
pub(crate) fn parse_suites(bytes: &[u8]) -> Result<Listing, String> {
    let mut listing = Listing::default();
    let mut has_children = false;
    super::parse_json_with(
        bytes,
        Root {
            listing: &mut listing,
            has_children: &mut has_children,
        },
    )?;
    if !has_children {
        return Err("not an Allure 2 suites tree: the root has no `children` array".to_owned());
    }
    Ok(listing)
}

/// The root object: only its `children` are read (its own name, "suites", is no suite).
struct Root<'a> {
    listing: &'a mut Listing,
    has_children: &'a mut bool,
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if matches!(key, Key::Children) && !*self.has_children {
                *self.has_children = map.next_value_seed(Children {
                    listing: &mut *self.listing,
                    suite: &[],
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A `children` value: `true` (after reading every node in it) when it is an array.
struct Children<'a> {
    listing: &'a mut Listing,
    suite: &'a [String],
}

impl<'de> DeserializeSeed<'de> for Children<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Children<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq
            .next_element_seed(Node {
                listing: &mut *self.listing,
                suite: self.suite,
            })?
            .is_some()
        {}
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    scalars_read_as!(false);
}

/// One element of a `children` array: a group (its nodes are read with its name added to
/// the suite path), a leaf (pushed as a case when its object ends), or anything else
/// (skipped).
struct Node<'a> {
    listing: &'a mut Listing,
    suite: &'a [String],
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[derive(Default)]
struct LeafFields {
    name: Option<String>,
    uid: Option<String>,
    status: Option<TestStatus>,
    time: Option<Time>,
    flaky: Option<bool>,
    retries: Option<u64>,
    parameters: Vec<Loose<String>>,
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut leaf = LeafFields::default();
        let mut group = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name => leaf.name = map.next_value::<Loose<String>>()?.0,
                Key::Uid => leaf.uid = map.next_value::<Loose<String>>()?.0,
                Key::Status => leaf.status = map.next_value::<Loose<TestStatus>>()?.0,
                Key::Time => leaf.time = map.next_value::<Obj<Time>>()?.0,
                Key::Flaky => leaf.flaky = map.next_value::<Loose<bool>>()?.0,
                Key::RetriesCount => leaf.retries = map.next_value::<Loose<u64>>()?.0,
                Key::Parameters => {
                    let list = map.next_value::<List<Loose<String>, MAX_PARAMETERS>>()?;
                    leaf.parameters = list.0.unwrap_or_default();
                }
                Key::Children if !group => {
                    let mut inner = self.suite.to_vec();
                    if inner.len() < MAX_SUITE_DEPTH {
                        let name = leaf.name.as_deref().unwrap_or_default();
                        inner.push(cut_chars(name, MAX_NAME_CHARS));
                    }
                    group = map.next_value_seed(Children {
                        listing: &mut *self.listing,
                        suite: &inner,
                    })?;
                }
                Key::Children | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !group {
            let suite = self.suite;
            self.listing.push_with(|| leaf_case(leaf, suite.to_vec()));
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    scalars_read_as!(());
}

fn leaf_case(leaf: LeafFields, suite: Vec<String>) -> (TestCase, Option<String>) {
    let name = super::case_name(leaf.name.as_deref(), leaf.uid.as_deref());
    // Parameters as (no name, value): suites.json lists only the values.
    let parameters: Vec<(String, String)> = leaf
        .parameters
        .iter()
        .map(|p| {
            let value = p.0.as_deref().unwrap_or_default();
            (String::new(), cut_chars(value, MAX_NAME_CHARS))
        })
        .collect();
    let id = TestId::from_parts(&suite, &name, &parameters);
    let case = TestCase {
        id,
        name,
        suite,
        status: leaf.status.unwrap_or(TestStatus::Unknown),
        duration_ms: leaf.time.as_ref().and_then(Time::millis),
        message: None,
        full_name: None,
        flaky: leaf.flaky.unwrap_or(false),
        retries: super::retries(leaf.retries),
    };
    (case, leaf.uid)
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
