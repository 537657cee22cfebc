//! Test cases of a completed run, read from its Allure report, and the pure rules over them:
//! a stable id per test, and the comparison of two runs (what broke, what was fixed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The most test cases stored per run; a report with more keeps its counts only (said on
/// the run's `test_cases`).
pub const MAX_CASES_PER_RUN: usize = 20_000;
/// The longest name, suite part or full name kept, in characters (longer ones are cut).
pub const MAX_NAME_CHARS: usize = 500;
/// The longest first line of a status message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;
/// The most suite levels kept (outer first).
pub const MAX_SUITE_DEPTH: usize = 10;

/// An Allure status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
    Broken,
    Skipped,
    Unknown,
}

impl TestStatus {
    pub const ALL: [TestStatus; 5] = [
        Self::Passed,
        Self::Failed,
        Self::Broken,
        Self::Skipped,
        Self::Unknown,
    ];

    /// Failed (an assertion) or broken (an error in the test or its setup).
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Broken)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Broken => "broken",
            Self::Skipped => "skipped",
            Self::Unknown => "unknown",
        }
    }

    /// A report's status word (any case); anything else is `unknown`, as Allure shows it.
    pub fn from_report(raw: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
            .unwrap_or(Self::Unknown)
    }

    /// A query parameter: one of the five words, else a field error naming them.
    pub fn parse(field: &str, raw: &str) -> Result<Self, super::FieldError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| {
                super::FieldError::new(
                    field,
                    "must be one of passed, failed, broken, skipped, unknown",
                )
            })
    }
}

/// A test's id, stable across runs and builds: the report's history id when it gives a
/// path-safe one (Allure's are hex, Allure 3's may hold a dot), else `h-` and the first 32
/// hex digits of the SHA-256 of what identifies it (the history id as given, or the suite
/// path, name and parameters). Always 1–128 characters of `[A-Za-z0-9._:-]`, so it fits a
/// URL path segment and a store key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct TestId(String);

impl TestId {
    pub const MAX_CHARS: usize = 128;

    fn is_safe(raw: &str) -> bool {
        (1..=Self::MAX_CHARS).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    }

    fn hashed(text: &str) -> Self {
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("h-{hex}"))
    }

    /// From a report's history id (kept when path-safe, else hashed).
    pub fn from_history_id(raw: &str) -> Self {
        if Self::is_safe(raw) {
            Self(raw.to_owned())
        } else {
            Self::hashed(raw)
        }
    }

    /// When the report gives no history id: from the suite path, the name and the
    /// parameters (in the order given), each part length-prefixed so no two differ only
    /// in where one part ends.
    pub fn from_parts(suite: &[String], name: &str, parameters: &[(String, String)]) -> Self {
        let mut text = String::new();
        let mut part = |s: &str| {
            text.push_str(&s.len().to_string());
            text.push(':');
            text.push_str(s);
        };
        for s in suite {
            part(s);
        }
        part(name);
        for (k, v) in parameters {
            part(k);
            part(v);
        }
        Self::hashed(&text)
    }

    /// A stored or requested id, checked (a path segment of the history route).
    pub fn parse(field: &str, raw: &str) -> Result<Self, super::FieldError> {
        if Self::is_safe(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(super::FieldError::new(
                field,
                "must be 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One test case of a run, as read from its report (bounded: see the `MAX_*` constants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestCase {
    #[schema(value_type = String)]
    pub id: TestId,
    pub name: String,
    /// The suite path, outer first (Allure's parentSuite, suite, subSuite, or its tree groups).
    pub suite: Vec<String>,
    pub status: TestStatus,
    pub duration_ms: Option<u64>,
    /// The first line of the status message (failed and broken cases), cut to 300 characters.
    pub message: Option<String>,
    /// The report's full name (e.g. `tests.test_api#test_login`): the selector an Allure
    /// test plan uses to re-run it.
    pub full_name: Option<String>,
    /// The report marks it flaky.
    #[serde(default)]
    pub flaky: bool,
    /// Retries the report lists for it.
    #[serde(default)]
    pub retries: u32,
}

/// Cuts `text` to at most `max` characters (never inside a character).
pub fn cut_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// The first non-empty line of a status message, cut to [`MAX_MESSAGE_CHARS`].
pub fn first_line(message: &str) -> Option<String> {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| cut_chars(l, MAX_MESSAGE_CHARS))
}

/// Whether a run's test cases were stored, and if not, why (on the run record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestCasesNote {
    /// Cases stored for the run (0 when only the counts are kept).
    pub stored: u64,
    /// Cases the report listed (may exceed `stored`).
    pub in_report: u64,
    /// The files they were read from, e.g. "Allure 2 data/suites.json".
    pub source: Option<String>,
    /// Why the run keeps only its counts (no case files, over the cap, unreadable), else null.
    pub reason: Option<String>,
}

/// One test's result in one run of its item (its history, newest run first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestResultOfRun {
    pub run_id: i64,
    #[schema(value_type = String)]
    pub job_name: super::JobName,
    #[schema(value_type = i64)]
    pub build_number: super::BuildNumber,
    pub parameter_set_id: i64,
    pub parameter_set_version: i64,
    #[schema(value_type = Option<i64>)]
    pub environment_id: Option<super::EnvironmentId>,
    pub status: TestStatus,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
    /// When the run ended.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One test in a comparison: its status before and now (`null`: not in that run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestChange {
    #[schema(value_type = String)]
    pub id: TestId,
    pub name: String,
    pub before: Option<TestStatus>,
    pub now: Option<TestStatus>,
    /// The first line of the message now (or before, for a removed test).
    pub message: Option<String>,
}

/// What changed between two runs' test cases. Each list is ordered by test name, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TestDiff {
    /// Passed, skipped or unknown before (or not there), failed or broken now. A test that
    /// is new and fails is here, and also counted in `new_tests`.
    pub new_failures: Vec<TestChange>,
    /// Failed or broken before, passed now.
    pub fixed: Vec<TestChange>,
    /// Failed or broken in both.
    pub still_failing: Vec<TestChange>,
    /// Only in the newer run.
    pub new_tests: Vec<TestChange>,
    /// Only in the older run.
    pub removed_tests: Vec<TestChange>,
}

/// Compares the cases of an older run (`before`) with a newer one (`now`), by test id. A
/// test that went from failing to skipped or unknown is in none of the failure lists.
pub fn compare(before: &[TestCase], now: &[TestCase]) -> TestDiff {
    let older: BTreeMap<&TestId, &TestCase> = before.iter().map(|c| (&c.id, c)).collect();
    let newer: BTreeMap<&TestId, &TestCase> = now.iter().map(|c| (&c.id, c)).collect();
    let mut diff = TestDiff::default();
    for (id, case) in &newer {
        let was = older.get(id).map(|c| c.status);
        let change = TestChange {
            id: (*id).clone(),
            name: case.name.clone(),
            before: was,
            now: Some(case.status),
            message: case.message.clone(),
        };
        let failing = case.status.is_failure();
        match was {
            None => {
                if failing {
                    diff.new_failures.push(change.clone());
                }
                diff.new_tests.push(change);
            }
            Some(was) if was.is_failure() && failing => diff.still_failing.push(change),
            Some(was) if was.is_failure() && case.status == TestStatus::Passed => {
                diff.fixed.push(change)
            }
            Some(was) if !was.is_failure() && failing => diff.new_failures.push(change),
            Some(_) => {}
        }
    }
    for (id, case) in &older {
        if !newer.contains_key(id) {
            diff.removed_tests.push(TestChange {
                id: (*id).clone(),
                name: case.name.clone(),
                before: Some(case.status),
                now: None,
                message: case.message.clone(),
            });
        }
    }
    for list in [
        &mut diff.new_failures,
        &mut diff.fixed,
        &mut diff.still_failing,
        &mut diff.new_tests,
        &mut diff.removed_tests,
    ] {
        list.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, status: TestStatus) -> TestCase {
        TestCase {
            id: TestId::from_history_id(id),
            name: format!("test {id}"),
            suite: vec![],
            status,
            duration_ms: None,
            message: None,
            full_name: None,
            flaky: false,
            retries: 0,
        }
    }

    fn ids(list: &[TestChange]) -> Vec<&str> {
        list.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn compare_names_what_broke_what_was_fixed_and_what_still_fails() {
        use TestStatus::*;
        let before = [
            case("a", Passed),
            case("b", Failed),
            case("c", Broken),
            case("d", Skipped),
            case("gone", Passed),
            case("e", Failed),
        ];
        let now = [
            case("a", Failed),
            case("b", Passed),
            case("c", Failed),
            case("d", Broken),
            case("new", Broken),
            case("fresh", Passed),
            case("e", Skipped),
        ];
        let diff = compare(&before, &now);
        assert_eq!(ids(&diff.new_failures), ["a", "d", "new"]);
        assert_eq!(ids(&diff.fixed), ["b"]);
        assert_eq!(ids(&diff.still_failing), ["c"]);
        assert_eq!(ids(&diff.new_tests), ["fresh", "new"]);
        assert_eq!(ids(&diff.removed_tests), ["gone"]);
        assert_eq!(diff.fixed[0].before, Some(Failed));
        assert_eq!(diff.removed_tests[0].now, None);
    }

    #[test]
    fn ids_are_path_safe_and_stable() {
        assert_eq!(TestId::from_history_id("3f2a9c").as_str(), "3f2a9c");
        let odd = TestId::from_history_id("tests/a b#c");
        assert!(odd.as_str().starts_with("h-") && odd.as_str().len() == 34);
        assert_eq!(odd, TestId::from_history_id("tests/a b#c"));
        assert!(TestId::parse("test_id", odd.as_str()).is_ok());
        let a = TestId::from_parts(&["s".into()], "ab", &[]);
        let b = TestId::from_parts(&["sa".into()], "b", &[]);
        assert_ne!(a, b, "where one part ends is part of the id");
        assert!(TestId::parse("test_id", "a/b").is_err());
    }

    #[test]
    fn messages_keep_their_first_line_cut_on_a_character() {
        assert_eq!(first_line("\n  boom  \nat x").as_deref(), Some("boom"));
        assert_eq!(first_line(" \n "), None);
        let long = "界".repeat(400);
        assert_eq!(
            first_line(&long).unwrap().chars().count(),
            MAX_MESSAGE_CHARS
        );
        assert_eq!(TestStatus::from_report("PASSED"), TestStatus::Passed);
        assert_eq!(TestStatus::from_report("weird"), TestStatus::Unknown);
    }
}
