//! The Allure report's summary: fetched from the report folder on an allowed origin (the
//! settings' `report_origins`, by default the test server's) (Allure 2
//! `widgets/summary.json`, Allure 3 `summary.json`, or `widgets/statistic.json`) and parsed
//! strictly — a count that is there but odd makes the whole summary unavailable rather than
//! guessed.

use std::fmt;
use std::time::Duration;

use crate::domain::Origin;
use crate::tasks::http::redacted;
use serde_json::{Map, Value};
use url::Url;

pub use crate::domain::Summary;

/// The largest summary body read (larger ones are refused as "too large").
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The largest count (and total) accepted; anything larger is taken as a broken file.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// The largest duration accepted, in milliseconds (about 100 years); larger ones are dropped.
pub(crate) const MAX_DURATION_MS: u64 = 100 * 366 * 24 * 3600 * 1000;

/// The counts, in the order they are read and summed.
const COUNT_FIELDS: [&str; 5] = ["passed", "failed", "broken", "skipped", "unknown"];

/// Which file the summary was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SummarySource {
    /// `widgets/summary.json` of an Allure 2 report.
    Allure2,
    /// The root `summary.json` of an Allure 3 report.
    Allure3,
    /// `widgets/statistic.json` (Allure 2 and 3).
    Statistic,
}

impl SummarySource {
    /// In the order [`read_summary`] tries them.
    pub const ALL: [SummarySource; 3] = [Self::Allure2, Self::Allure3, Self::Statistic];

    /// The file's path relative to the report folder.
    pub fn path(self) -> &'static str {
        match self {
            Self::Allure2 => "widgets/summary.json",
            Self::Allure3 => "summary.json",
            Self::Statistic => "widgets/statistic.json",
        }
    }

    /// Parses a body in this source's format.
    pub fn parse(self, bytes: &[u8]) -> Result<Summary, SummaryError> {
        match self {
            Self::Allure2 => parse_allure2(bytes),
            Self::Allure3 => parse_allure3(bytes),
            Self::Statistic => parse_statistic(bytes),
        }
    }
}

impl fmt::Display for SummarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allure2 => "Allure 2 widgets/summary.json",
            Self::Allure3 => "Allure 3 summary.json",
            Self::Statistic => "Allure widgets/statistic.json",
        })
    }
}

/// One URL [`read_summary`] tried, and why it gave no summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The URL as shown in messages (without a password).
    pub url: String,
    pub reason: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("the summary is empty")]
    Empty,
    #[error("the summary is too large: more than 1 MiB ({MAX_BODY_BYTES} bytes)")]
    TooLarge,
    #[error("the summary is not valid JSON: {0}")]
    NotJson(String),
    #[error("the summary is not a JSON object")]
    NotObject,
    #[error("the summary has no `{0}` object")]
    MissingObject(&'static str),
    #[error("the summary has none of the counts (total, passed, failed, broken, skipped, unknown)")]
    NoCounts,
    #[error("the summary field `{field}` {problem}")]
    InvalidField { field: String, problem: String },
    #[error("the summary total {total} is smaller than the sum of its counts ({sum})")]
    TotalTooSmall { total: u64, sum: u64 },
    #[error("the report URL {url:?} cannot be used: {reason}")]
    InvalidReportUrl { url: String, reason: String },
    #[error(
        "the report URL {url} is not on an allowed origin ({allowed}; see report_origins), so it was not fetched"
    )]
    OffOrigin { url: String, allowed: String },
    #[error("no Allure summary could be read: {}", list(.attempts))]
    Unavailable { attempts: Vec<Attempt> },
}

fn list(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(Attempt::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads the summary of the report at `report_url`: `widgets/summary.json` (Allure 2), then
/// `summary.json` (Allure 3), then `widgets/statistic.json`, returning the first that answers
/// 2xx and parses. The files are looked up inside the report folder, whether or not
/// `report_url` ends with `/` (a trailing `index.html` is dropped; query and fragment too).
///
/// Nothing is fetched unless `report_url` is http(s) on one of `allowed_origins` (the
/// settings' `report_origins`, by default the test server's origin: see
/// `Settings::allowed_report_origins`). Each GET uses the client's settings plus
/// `timeout` for the whole request (body included); a body over [`MAX_BODY_BYTES`] is cut
/// off and refused. Every failure (404, other statuses, timeouts, connection errors, too
/// large, unparsable) moves on to the next file; when none gives a summary the error lists
/// the URLs tried and why.
pub async fn read_summary(
    client: &reqwest::Client,
    report_url: &str,
    allowed_origins: &[Origin],
    timeout: Duration,
) -> Result<(Summary, SummarySource), SummaryError> {
    let folder = report_folder(report_url, allowed_origins)?;
    let mut attempts = Vec::with_capacity(SummarySource::ALL.len());
    // Every read together stays within the budget the notify function's Timeout is sized for.
    let budget_ends = tokio::time::Instant::now()
        + Duration::from_secs(u64::from(
            crate::domain::timing::NOTIFY_SUMMARY_BUDGET_SECONDS,
        ));
    for source in SummarySource::ALL {
        let timeout =
            timeout.min(budget_ends.saturating_duration_since(tokio::time::Instant::now()));
        let url = match folder.join(source.path()) {
            Ok(url) => url,
            Err(e) => {
                attempts.push(Attempt {
                    url: format!("{}{}", redacted(&folder), source.path()),
                    reason: format!("the URL cannot be built: {e}"),
                });
                continue;
            }
        };
        let shown = redacted(&url);
        let outcome = match tokio::time::timeout(timeout, fetch(client, &url, timeout)).await {
            Ok(Ok(body)) => source.parse(&body).map_err(|e| e.to_string()),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!("timed out after {}", seconds(timeout))),
        };
        match outcome {
            Ok(summary) => {
                tracing::debug!(url = %shown, %source, "Allure summary read");
                return Ok((summary, source));
            }
            Err(reason) => {
                tracing::debug!(url = %shown, %reason, "no Allure summary here");
                attempts.push(Attempt { url: shown, reason });
            }
        }
    }
    Err(SummaryError::Unavailable { attempts })
}

/// The report folder as a URL ending with `/`, after the origin check (the test-case
/// reader uses it too).
pub(crate) fn report_folder(
    report_url: &str,
    allowed_origins: &[Origin],
) -> Result<Url, SummaryError> {
    let invalid = |reason: String| SummaryError::InvalidReportUrl {
        url: report_url.to_owned(),
        reason,
    };
    let mut url = Url::parse(report_url.trim()).map_err(|e| invalid(e.to_string()))?;
    let Some(origin) = Origin::of_url(&url) else {
        return Err(invalid("not an http(s) URL with a host".to_owned()));
    };
    if !allowed_origins.contains(&origin) {
        let allowed = if allowed_origins.is_empty() {
            "none is set".to_owned()
        } else {
            allowed_origins
                .iter()
                .map(Origin::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(SummaryError::OffOrigin {
            url: redacted(&url),
            allowed,
        });
    }
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().to_owned();
    if path.ends_with("/index.html") {
        path.truncate(path.len() - "index.html".len());
    }
    if !path.ends_with('/') {
        path.push('/');
    }
    url.set_path(&path);
    Ok(url)
}

/// One GET: the body of a 200 answer, or why there is none.
async fn fetch(client: &reqwest::Client, url: &Url, timeout: Duration) -> Result<Vec<u8>, String> {
    fetch_capped(client, url, timeout, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            FetchError::TooLarge => SummaryError::TooLarge.to_string(),
            FetchError::Other(reason) => reason,
        })
}

/// Why [`fetch_capped`] has no body.
pub(crate) enum FetchError {
    /// Over the cap (the caller names the cap).
    TooLarge,
    /// A status other than 2xx, a connection error, a cut body, ...: said for a message.
    Other(String),
}

/// One GET: the body of a 2xx answer of at most `max` bytes, or why there is none.
pub(crate) async fn fetch_capped(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let response = client
        .get(url.clone())
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| FetchError::Other(request_error(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Other(format!("HTTP {status}")));
    }
    crate::tasks::http::read_capped(response, max)
        .await
        .map_err(|e| match e {
            crate::tasks::http::BodyError::TooLarge { .. } => FetchError::TooLarge,
            other => FetchError::Other(other.to_string()),
        })
}

/// The error with its causes ("connection refused", a refused redirect, ...), without the URL
/// (the caller shows it, without a password).
fn request_error(e: reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if timed_out && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

pub(crate) fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Allure 2 `widgets/summary.json`: `{"statistic": {failed, broken, skipped, passed, unknown,
/// total}, "time": {start, stop, duration, ...}}`. `duration_ms` is `time.duration`, else
/// `time.stop - time.start`, else none.
pub fn parse_allure2(bytes: &[u8]) -> Result<Summary, SummaryError> {
    let root = object(bytes)?;
    let statistic = main_object(&root, "statistic")?;
    let mut summary = counts(statistic, "statistic.", false)?;
    summary.duration_ms = root
        .get("time")
        .and_then(Value::as_object)
        .and_then(|time| {
            duration(time.get("duration")).or_else(|| {
                let start = millis(time.get("start"))?;
                let stop = millis(time.get("stop"))?;
                stop.checked_sub(start).filter(|&ms| ms <= MAX_DURATION_MS)
            })
        });
    Ok(summary)
}

/// Allure 3 root `summary.json`: `{"stats": {total, passed?, failed?, broken?, skipped?,
/// unknown?}, "duration"?: ms, ...}` with zero counts omitted.
pub fn parse_allure3(bytes: &[u8]) -> Result<Summary, SummaryError> {
    let root = object(bytes)?;
    let stats = main_object(&root, "stats")?;
    let mut summary = counts(stats, "stats.", false)?;
    summary.duration_ms = duration(root.get("duration"));
    Ok(summary)
}

/// `widgets/statistic.json`: `{"failed", "broken", "skipped", "passed", "unknown", "total"}`;
/// at least one of them must be there (an object with none is not a statistic).
pub fn parse_statistic(bytes: &[u8]) -> Result<Summary, SummaryError> {
    let root = object(bytes)?;
    counts(&root, "", true)
}

fn object(bytes: &[u8]) -> Result<Map<String, Value>, SummaryError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(SummaryError::TooLarge);
    }
    // A UTF-8 byte order mark (some Windows tools write one) is not JSON; skip it.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SummaryError::Empty);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SummaryError::NotObject),
        Err(e) => Err(SummaryError::NotJson(e.to_string())),
    }
}

fn main_object<'a>(
    root: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Map<String, Value>, SummaryError> {
    root.get(name)
        .and_then(Value::as_object)
        .ok_or(SummaryError::MissingObject(name))
}

/// The five counts and the total. Absent (or `null`) counts are 0; the total defaults to
/// their sum and may not be smaller than it.
fn counts(
    map: &Map<String, Value>,
    prefix: &str,
    require_one: bool,
) -> Result<Summary, SummaryError> {
    let mut values = [0u64; 5];
    let mut seen = false;
    for (slot, name) in values.iter_mut().zip(COUNT_FIELDS) {
        if let Some(n) = count(map, prefix, name)? {
            *slot = n;
            seen = true;
        }
    }
    let total = count(map, prefix, "total")?;
    if require_one && !seen && total.is_none() {
        return Err(SummaryError::NoCounts);
    }
    let [passed, failed, broken, skipped, unknown] = values;
    let sum: u64 = values.iter().sum();
    let total = total.unwrap_or(sum);
    if total < sum {
        return Err(SummaryError::TotalTooSmall { total, sum });
    }
    Ok(Summary {
        passed,
        failed,
        broken,
        skipped,
        unknown,
        total,
        duration_ms: None,
    })
}

fn count(map: &Map<String, Value>, prefix: &str, name: &str) -> Result<Option<u64>, SummaryError> {
    let invalid = |problem: String| SummaryError::InvalidField {
        field: format!("{prefix}{name}"),
        problem,
    };
    let n = match map.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n,
        Some(other) => {
            return Err(invalid(format!(
                "must be a whole number, not {}",
                kind(other)
            )));
        }
    };
    let negative = || invalid(format!("must not be negative ({n})"));
    let too_large = || invalid(format!("is too large ({n}; at most {MAX_COUNT})"));
    let value = match (n.as_u64(), n.as_f64()) {
        (Some(v), _) => v,
        (None, _) if n.as_i64().is_some() => return Err(negative()),
        (None, Some(f)) if f < 0.0 => return Err(negative()),
        (None, Some(f)) if f > MAX_COUNT as f64 => return Err(too_large()),
        // A whole, non-negative float no larger than MAX_COUNT is exact as an integer.
        (None, Some(f)) if f.fract() == 0.0 => f as u64,
        (None, _) => return Err(invalid(format!("must be a whole number, not {n}"))),
    };
    if value > MAX_COUNT {
        return Err(too_large());
    }
    Ok(Some(value))
}

/// A duration or timestamp in milliseconds (a non-negative number, rounded); anything odd
/// gives none — the duration is only shown, never relied on.
fn millis(value: Option<&Value>) -> Option<u64> {
    let n = value?.as_number()?;
    match n.as_u64() {
        Some(v) => Some(v),
        None => {
            let f = n.as_f64()?;
            // 2^53: beyond it a float no longer holds whole milliseconds.
            (0.0..=9_007_199_254_740_992.0)
                .contains(&f)
                .then(|| f.round() as u64)
        }
    }
}

/// A duration shown in the mail: at most [`MAX_DURATION_MS`].
fn duration(value: Option<&Value>) -> Option<u64> {
    millis(value).filter(|&ms| ms <= MAX_DURATION_MS)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
