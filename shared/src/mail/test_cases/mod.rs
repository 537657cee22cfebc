//! The test cases of a completed run, read from its Allure report folder (same origin rule,
//! capped bodies and time budget as the summary in [`super::summary`]):
//!
//! 1. Allure 3 `widgets/tree.json` (what its default "awesome" report writes): the leaves
//!    reached from `root` through `groupsById`, the group names giving the suite path;
//! 2. else Allure 2 `data/suites.json` (Allure 2, and Allure 3's `allure2` plugin): the
//!    leaves of the nested `children`, the group names from the root down giving the suite
//!    path (`parentUid` is never followed, so no cycle can be made of it).
//!
//! Then the failed and broken cases' detail files (`data/test-results/{nodeId}.json` for
//! Allure 3, `data/test-cases/{uid}.json` for Allure 2) give each its full name and the first
//! line of its message: at most [`MAX_DETAIL_FETCHES`], [`DETAIL_CONCURRENCY`] at a time,
//! inside the same budget; a detail that fails leaves that case without them.
//!
//! **The test id** is one rule per format, for every case, whatever its status and whether
//! its detail was fetched (so a test that flips from passed to failed keeps its id): Allure
//! 3's leaf `id` is the history id ([`TestId::from_history_id`]); Allure 2's tree gives no
//! history id, so `TestId::from_parts(suite path, name, parameter values)`. A leaf of Allure 3
//! without an `id` falls back to the Allure 2 rule (it has no parameters there). An id seen
//! twice in one report keeps the first case; the others are still counted in `in_report`.
//! A report listing more than [`MAX_CASES_PER_RUN`] cases keeps none (`over_cap`), and the
//! rest of its listing is only counted.

#[macro_use]
mod loose;
mod allure2;
mod allure3;

use std::collections::HashSet;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use super::summary::{Attempt, FetchError, fetch_capped, report_folder, seconds};
use crate::domain::Origin;
use crate::domain::test_case::{MAX_CASES_PER_RUN, MAX_NAME_CHARS, TestCase, TestId, cut_chars};
use crate::tasks::http::redacted;

/// The largest `widgets/tree.json` or `data/suites.json` read. A real leaf takes about 360
/// bytes of suites.json and 410 of tree.json (the fixture reports of
/// `functions/notify/tests/fixtures/allure_suite`), so 50,000 cases take about 20 MiB;
/// 64 MiB leaves room for long names and parameters (about 1,300 bytes a case at 50,000)
/// while bounding what one report can make the notify function hold.
pub const MAX_LISTING_BYTES: usize = 64 * 1024 * 1024;
/// The largest detail file read (it holds steps and traces; only three fields are kept).
pub const MAX_DETAIL_BYTES: usize = 4 * 1024 * 1024;
/// The most detail files fetched per run (the first failed and broken cases, report order).
pub const MAX_DETAIL_FETCHES: usize = 500;
/// Detail files fetched at a time.
pub const DETAIL_CONCURRENCY: usize = 8;

/// The cases of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCases {
    /// At most [`MAX_CASES_PER_RUN`], in report order; empty when the report has more.
    pub cases: Vec<TestCase>,
    /// The cases the report lists (duplicates of an id included).
    pub in_report: u64,
    /// The file they were read from, e.g. "Allure 2 data/suites.json".
    pub source: &'static str,
    /// The report lists more cases than [`MAX_CASES_PER_RUN`]: `cases` is empty.
    pub over_cap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TestCasesError {
    /// The report URL is unusable or off the allowed origins: nothing was fetched.
    #[error("{0}")]
    NotFetched(String),
    /// `folder` is named once and each file relative to it, so that a message cut to an
    /// excerpt still says why each file gave nothing.
    #[error("no test cases could be read from the report at {folder}: {}", list(folder, .attempts))]
    Unavailable {
        folder: String,
        attempts: Vec<Attempt>,
    },
}

fn list(folder: &str, attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| {
            let file = a.url.strip_prefix(folder).unwrap_or(&a.url);
            format!("{file}: {}", a.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A listing's format: where it is and how it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Allure3,
    Allure2,
}

impl Format {
    /// In the order they are tried: Allure 3 first, as an Allure 3 report may also hold the
    /// Allure 2 files (its `allure2` plugin) and its tree gives history ids.
    const ALL: [Format; 2] = [Format::Allure3, Format::Allure2];

    fn path(self) -> &'static str {
        match self {
            Self::Allure3 => "widgets/tree.json",
            Self::Allure2 => "data/suites.json",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Self::Allure3 => "Allure 3 widgets/tree.json",
            Self::Allure2 => "Allure 2 data/suites.json",
        }
    }

    fn parse(self, bytes: &[u8]) -> Result<Listing, String> {
        match self {
            Self::Allure3 => allure3::parse_tree(bytes),
            Self::Allure2 => allure2::parse_suites(bytes),
        }
    }

    /// The detail file of a case whose detail key is `key` (path-safe: see [`is_path_safe`]).
    fn detail_path(self, key: &str) -> String {
        match self {
            Self::Allure3 => format!("data/test-results/{key}.json"),
            Self::Allure2 => format!("data/test-cases/{key}.json"),
        }
    }

    fn parse_detail(self, bytes: &[u8]) -> Option<Detail> {
        match self {
            Self::Allure3 => allure3::parse_detail(bytes),
            Self::Allure2 => allure2::parse_detail(bytes),
        }
    }
}

/// What a detail file adds to a failed or broken case (already cut to the domain's caps).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Detail {
    pub(crate) full_name: Option<String>,
    pub(crate) message: Option<String>,
}

/// The cases of one listing file, with the key of each one's detail file.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) cases: Vec<TestCase>,
    /// Beside `cases`: the uid (Allure 2) or node id (Allure 3) naming its detail file.
    pub(crate) detail_keys: Vec<Option<String>>,
    pub(crate) in_report: u64,
    pub(crate) over_cap: bool,
    seen: HashSet<TestId>,
}

impl Listing {
    /// Counts one case the report lists and keeps the one `make` builds, unless its id was
    /// seen; past [`MAX_CASES_PER_RUN`] listed, nothing is kept (what was is dropped) and
    /// `make` is no longer called, so a huge report costs a count per case.
    pub(crate) fn push_with(&mut self, make: impl FnOnce() -> (TestCase, Option<String>)) {
        self.in_report += 1;
        if self.over_cap {
            return;
        }
        if self.in_report > MAX_CASES_PER_RUN as u64 {
            self.over_cap = true;
            self.cases = Vec::new();
            self.detail_keys = Vec::new();
            self.seen = HashSet::new();
            return;
        }
        let (case, detail_key) = make();
        if self.seen.insert(case.id.clone()) {
            self.cases.push(case);
            self.detail_keys.push(detail_key);
        }
    }
}

/// A listing or detail file into its lenient typed form. Only broken JSON, a top level
/// that is not an object, nesting past serde_json's limit (128, kept: a hostile nesting then
/// cannot overflow the stack), a key given twice in one object read by serde's derive
/// (Allure never writes one), or the tree's entry budget fails.
pub(crate) fn parse_json<T: for<'de> serde::Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    let bytes = json_object(bytes)?;
    match serde_json::from_slice::<loose::Obj<T>>(bytes) {
        Ok(loose::Obj(Some(value))) => Ok(value),
        Ok(loose::Obj(None)) => Err("the file is not a JSON object".to_owned()),
        Err(e) => Err(json_error(e)),
    }
}

/// A listing read as a stream by `visitor` (the top level must be an object).
pub(crate) fn parse_json_with<'de, V: serde::de::Visitor<'de>>(
    bytes: &'de [u8],
    visitor: V,
) -> Result<V::Value, String> {
    use serde::Deserializer as _;
    let bytes = json_object(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = deserializer.deserialize_map(visitor).map_err(json_error)?;
    deserializer.end().map_err(json_error)?;
    Ok(value)
}

/// The bytes of a file that should hold one JSON object, or why it cannot.
fn json_object(bytes: &[u8]) -> Result<&[u8], String> {
    // A UTF-8 byte order mark (some Windows tools write one) is not JSON; skip it.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err("the file is empty".to_owned()),
        Some(b'{') => Ok(bytes),
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            Err("the file is not a JSON object".to_owned())
        }
        Some(&b) if b.is_ascii_graphic() => Err(format!(
            "the file is not valid JSON: it starts with `{}`",
            char::from(b)
        )),
        Some(_) => {
            Err("the file is not valid JSON: it starts with a byte that is not ASCII".to_owned())
        }
    }
}

fn json_error(e: serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => format!("the file cannot be read: {e}"),
        _ => format!("the file is not valid JSON: {e}"),
    }
}

/// A case's name, cut: the report's, else its id, else a placeholder (never empty).
pub(crate) fn case_name(name: Option<&str>, id: Option<&str>) -> String {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(id)
        .unwrap_or("(no name)");
    cut_chars(name, MAX_NAME_CHARS)
}

pub(crate) fn retries(count: Option<u64>) -> u32 {
    count.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Whether a report's uid or node id may be put in a URL path as it is (Allure writes hex).
pub(crate) fn is_path_safe(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads the test cases of the report at `report_url` (the rules are in the module doc).
/// Nothing is fetched unless `report_url` is http(s) on one of `allowed_origins`; each GET
/// takes at most `timeout`, and all of them together at most the notify step's summary
/// budget (`NOTIFY_SUMMARY_BUDGET_SECONDS`). When no listing answers 2xx and parses, the
/// error lists the URLs tried (without passwords) and why.
pub async fn read_test_cases(
    client: &reqwest::Client,
    report_url: &str,
    allowed_origins: &[Origin],
    timeout: Duration,
) -> Result<ReportCases, TestCasesError> {
    let budget_ends = Instant::now()
        + Duration::from_secs(u64::from(
            crate::domain::timing::NOTIFY_SUMMARY_BUDGET_SECONDS,
        ));
    read_test_cases_until(client, report_url, allowed_origins, timeout, budget_ends).await
}

/// [`read_test_cases`] with the end of the time budget given (to share one budget with the
/// summary's read): detail files not fetched by then are left out.
pub async fn read_test_cases_until(
    client: &reqwest::Client,
    report_url: &str,
    allowed_origins: &[Origin],
    timeout: Duration,
    budget_ends: Instant,
) -> Result<ReportCases, TestCasesError> {
    let folder = report_folder(report_url, allowed_origins)
        .map_err(|e| TestCasesError::NotFetched(e.to_string()))?;
    let mut attempts = Vec::with_capacity(Format::ALL.len());
    for format in Format::ALL {
        let url = match folder.join(format.path()) {
            Ok(url) => url,
            Err(e) => {
                attempts.push(Attempt {
                    url: format!("{}{}", redacted(&folder), format.path()),
                    reason: format!("the URL cannot be built: {e}"),
                });
                continue;
            }
        };
        let shown = redacted(&url);
        let outcome = match get(client, &url, timeout, budget_ends, MAX_LISTING_BYTES).await {
            // Up to 64 MiB of JSON: parsed off the async workers.
            Ok(body) => tokio::task::spawn_blocking(move || format.parse(&body))
                .await
                .unwrap_or_else(|e| Err(format!("the parse stopped: {e}"))),
            Err(reason) => Err(reason),
        };
        match outcome {
            Ok(mut listing) => {
                tracing::debug!(url = %shown, cases = listing.in_report, "Allure test cases read");
                add_details(client, &folder, format, &mut listing, timeout, budget_ends).await;
                return Ok(ReportCases {
                    cases: listing.cases,
                    in_report: listing.in_report,
                    source: format.source(),
                    over_cap: listing.over_cap,
                });
            }
            Err(reason) => {
                tracing::debug!(url = %shown, %reason, "no Allure test cases here");
                attempts.push(Attempt { url: shown, reason });
            }
        }
    }
    Err(TestCasesError::Unavailable {
        folder: redacted(&folder),
        attempts,
    })
}

/// One capped GET within `timeout` and the budget, or why it gave nothing.
async fn get(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
    budget_ends: Instant,
    max: usize,
) -> Result<Vec<u8>, String> {
    let timeout = timeout.min(budget_ends.saturating_duration_since(Instant::now()));
    if timeout.is_zero() {
        return Err("not tried: the time budget was spent".to_owned());
    }
    match tokio::time::timeout(timeout, fetch_capped(client, url, timeout, max)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(FetchError::TooLarge)) => Err(format!("too large: more than {}", bytes(max))),
        Ok(Err(FetchError::Other(reason))) => Err(reason),
        Err(_) => Err(format!("timed out after {}", seconds(timeout))),
    }
}

fn bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Fills in the full name and message of the first [`MAX_DETAIL_FETCHES`] failed and broken
/// cases with a path-safe detail key, [`DETAIL_CONCURRENCY`] at a time.
async fn add_details(
    client: &reqwest::Client,
    folder: &Url,
    format: Format,
    listing: &mut Listing,
    timeout: Duration,
    budget_ends: Instant,
) {
    let mut wanted = listing
        .cases
        .iter()
        .zip(&listing.detail_keys)
        .enumerate()
        .filter(|(_, (case, _))| case.status.is_failure())
        .filter_map(|(i, (_, key))| {
            let key = key.as_deref().filter(|k| is_path_safe(k))?;
            Some((i, folder.join(&format.detail_path(key)).ok()?))
        })
        .take(MAX_DETAIL_FETCHES)
        .collect::<Vec<_>>()
        .into_iter();
    let mut running = JoinSet::new();
    let (mut fetched, mut failed) = (0usize, 0usize);
    loop {
        while running.len() < DETAIL_CONCURRENCY {
            let Some((i, url)) = wanted.next() else { break };
            let client = client.clone();
            running.spawn(async move {
                let body = get(&client, &url, timeout, budget_ends, MAX_DETAIL_BYTES).await;
                (i, body)
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let Ok((i, body)) = done else { continue };
        match body.ok().and_then(|b| format.parse_detail(&b)) {
            Some(detail) => {
                fetched += 1;
                let case = &mut listing.cases[i];
                case.full_name = detail.full_name.or(case.full_name.take());
                case.message = detail.message.or(case.message.take());
            }
            None => failed += 1,
        }
    }
    if fetched + failed > 0 {
        tracing::debug!(fetched, failed, "Allure test case details read");
    }
}

#[cfg(test)]
mod tests;
