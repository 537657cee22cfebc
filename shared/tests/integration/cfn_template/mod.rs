//! Reads `infra/template.yaml` for the template tests, without a YAML dependency.
//!
//! CloudFormation's short tags (`!GetAtt`, `!Sub`, ...) stop plain YAML parsers, so this
//! is a small reader for the subset the template is written in: block mappings and block
//! sequences by indentation, one-line scalars (plain, 'single' or "double" quoted),
//! `[a, b]` flow lists, `{}`, `>-`/`|` block scalars, comments, and tags either inline
//! (`!Ref X` → `Tag("!Ref", "X")`) or before an indented block (`!If` + a list).
//! Anything else (anchors, multi-line flow collections) is an error naming the line, so a
//! template edit outside the subset fails the tests loudly instead of being misread.
//!
//! Shared by `shared/tests/integration/template_schema/` and `functions/local/tests/api/template_routes/mod.rs`
//! (through `#[path]`), hence the `dead_code` allowance.
//!
//! The parser is in `parse.rs`; here are the value type and the template look-ups.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

mod parse;
pub use parse::parse;

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Str(String),
    Seq(Vec<Yaml>),
    /// Entries in file order.
    Map(Vec<(String, Yaml)>),
    /// `!Tag value`: the tag with its `!`.
    Tag(String, Box<Yaml>),
}

impl Yaml {
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `get` along a path of keys, panicking with the path when one is missing.
    pub fn at(&self, path: &[&str]) -> &Yaml {
        let mut node = self;
        for (i, key) in path.iter().enumerate() {
            node = node
                .get(key)
                .unwrap_or_else(|| panic!("template: no {}", path[..=i].join(".")));
        }
        node
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn str_at(&self, path: &[&str]) -> &str {
        self.at(path)
            .as_str()
            .unwrap_or_else(|| panic!("template: {} is not a plain scalar", path.join(".")))
    }

    pub fn as_seq(&self) -> &[Yaml] {
        match self {
            Yaml::Seq(items) => items,
            other => panic!("template: expected a list, got {other:?}"),
        }
    }

    pub fn entries(&self) -> &[(String, Yaml)] {
        match self {
            Yaml::Map(entries) => entries,
            other => panic!("template: expected a mapping, got {other:?}"),
        }
    }

    /// `(tag, value)` of a tagged node.
    pub fn as_tag(&self) -> Option<(&str, &Yaml)> {
        match self {
            Yaml::Tag(t, v) => Some((t, v)),
            _ => None,
        }
    }

    /// The resource a `!Ref X` names.
    pub fn ref_target(&self) -> Option<&str> {
        match self.as_tag() {
            Some(("!Ref", v)) => v.as_str(),
            _ => None,
        }
    }

    /// Every scalar below this node (tags included), depth first.
    pub fn scalars(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_scalars(&mut out);
        out
    }

    fn collect_scalars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Yaml::Null => {}
            Yaml::Str(s) => out.push(s),
            Yaml::Seq(items) => items.iter().for_each(|i| i.collect_scalars(out)),
            Yaml::Map(entries) => entries.iter().for_each(|(_, v)| v.collect_scalars(out)),
            Yaml::Tag(_, v) => v.collect_scalars(out),
        }
    }
}

/// The workspace root (two levels above `shared/` or `functions/<name>/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("infra").is_dir() && dir.join("Cargo.lock").is_file())
        .expect("the workspace root (with infra/ and Cargo.lock) above CARGO_MANIFEST_DIR")
        .to_path_buf()
}

pub fn template_path() -> PathBuf {
    workspace_root().join("infra").join("template.yaml")
}

pub fn load_template() -> Yaml {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template's resources of one type, `(logical id, resource)`.
pub fn resources_of_type<'a>(template: &'a Yaml, type_name: &str) -> Vec<(&'a str, &'a Yaml)> {
    template
        .at(&["Resources"])
        .entries()
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some(type_name))
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

pub fn resource<'a>(template: &'a Yaml, logical_id: &str) -> &'a Yaml {
    template.at(&["Resources", logical_id])
}

/// The crate a function resource runs: `CodeUri: ../target/lambda/<crate>/`.
pub fn function_crate(function: &Yaml) -> &str {
    let uri = function.str_at(&["Properties", "CodeUri"]);
    uri.strip_prefix("../target/lambda/")
        .and_then(|rest| rest.strip_suffix('/'))
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .unwrap_or_else(|| panic!("CodeUri {uri:?} is not ../target/lambda/<crate>/"))
}

/// The reader's own checks, run by the test files that include this module.
pub fn self_check() {
    let doc = parse(
        "A: 1 # comment\n\
         B:\n  - x\n  - !Ref Y\n  - k: v\n    k2: 'q: ''r'''\n\
         C: !If [Cond, !Ref A, !Ref AWS::NoValue]\n\
         D: !And\n  - !Condition X\n  - !Not [!Equals [!Ref P, \"\"]]\n\
         E:\n- a\n- b\n\
         F: >-\n  folded\n  text\n\
         G: \"a # not a comment\"\n\
         H: {}\n",
    )
    .unwrap();
    assert_eq!(doc.str_at(&["A"]), "1");
    let b = doc.at(&["B"]).as_seq();
    assert_eq!(b[0], Yaml::Str("x".into()));
    assert_eq!(b[1].ref_target(), Some("Y"));
    assert_eq!(b[2].str_at(&["k2"]), "q: 'r'");
    let (tag, args) = doc.at(&["C"]).as_tag().unwrap();
    assert_eq!(tag, "!If");
    assert_eq!(args.as_seq().len(), 3);
    assert_eq!(args.as_seq()[2].ref_target(), Some("AWS::NoValue"));
    let (tag, args) = doc.at(&["D"]).as_tag().unwrap();
    assert_eq!(tag, "!And");
    assert_eq!(args.as_seq().len(), 2);
    assert_eq!(doc.at(&["E"]).as_seq().len(), 2);
    assert_eq!(doc.str_at(&["F"]), "folded text");
    assert_eq!(doc.str_at(&["G"]), "a # not a comment");
    assert_eq!(doc.at(&["H"]), &Yaml::Map(Vec::new()));
    assert!(parse("A: 1\nA: 2\n").is_err(), "duplicate keys are refused");
    assert!(parse("A: &x 1\n").is_err(), "anchors are refused");
    assert!(
        parse("A: [1,\n 2]\n").is_err(),
        "multi-line flow lists are refused"
    );
}
