//! Settings: typed, with defaults, changed by partial updates that are validated whole.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Email;
use super::config_values::{
    HttpUrl, Origin, parse_domain, parse_email_list, parse_origin_list, parse_text,
};
use super::field::FieldError;
use super::mail_language::MailLanguage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Settings {
    pub project_name: String,
    /// Where packages are downloaded from: this + PACKAGE_PATH + "/".
    #[schema(value_type = Option<String>)]
    pub package_download_base_url: Option<HttpUrl>,
    /// The team's test server (POST /api/deploy_and_test, GET /api/tasks/{id}).
    #[schema(value_type = Option<String>)]
    pub external_test_server_url: Option<HttpUrl>,
    /// Optional base for links in mail.
    #[schema(value_type = Option<String>)]
    pub report_base_url: Option<HttpUrl>,
    pub poll_interval_seconds: u32,
    pub poll_request_timeout_seconds: u32,
    pub max_monitor_seconds: u32,
    /// A run whose test server stays unreachable (refused, timeouts, 5xx, unreadable
    /// answers) this long fails at MONITOR instead of holding its lane until
    /// `max_monitor_seconds`.
    pub max_unreachable_seconds: u32,
    pub auto_sync_interval_hours: u32,
    /// Email domains allowed to log in; empty allows all.
    pub allowed_email_domains: Vec<String>,
    /// Copied on every result mail.
    #[schema(value_type = Vec<String>)]
    pub notify_cc: Vec<Email>,
    /// Origins (`scheme://host[:port]`) whose report links are read; empty: only the
    /// test server's origin.
    #[schema(schema_with = report_origins_schema)]
    pub report_origins: Vec<Origin>,
    /// The language of the result mails.
    pub mail_language: MailLanguage,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            project_name: "CRAT".into(),
            package_download_base_url: None,
            external_test_server_url: None,
            report_base_url: None,
            poll_interval_seconds: 60,
            poll_request_timeout_seconds: 30,
            max_monitor_seconds: 10_800,
            max_unreachable_seconds: 1_800,
            auto_sync_interval_hours: 24,
            allowed_email_domains: Vec::new(),
            notify_cc: Vec::new(),
            report_origins: Vec::new(),
            mail_language: MailLanguage::English,
        }
    }
}

/// Step Functions keeps at most this many events in one execution's history; past it
/// the execution fails (no Finalize, no mail, lock held).
pub const STEP_FUNCTIONS_HISTORY_LIMIT: u64 = 25_000;
/// Events one poll cycle of `statemachine/deploy_test.asl.json` adds to the history
/// (WaitBeforePoll 2, the Poll Lambda task 5, CheckPoll 2); a test counts them in the ASL.
pub const HISTORY_EVENTS_PER_POLL_CYCLE: u64 = 9;
/// The most poll cycles a run may take (`max_monitor_seconds / poll_interval_seconds`):
/// 2,400 × 9 = 21,600 events, leaving 3,400 for the other states and for retries.
pub const MAX_POLL_CYCLES: u64 = 2_400;

/// The keys a partial update may carry, for error messages.
pub const SETTINGS_KEYS: &[&str] = &[
    "project_name",
    "package_download_base_url",
    "external_test_server_url",
    "report_base_url",
    "poll_interval_seconds",
    "poll_request_timeout_seconds",
    "max_monitor_seconds",
    "max_unreachable_seconds",
    "auto_sync_interval_hours",
    "allowed_email_domains",
    "notify_cc",
    "report_origins",
    "mail_language",
];

fn int_in(key: &str, v: &Value, min: u32, max: u32) -> Result<u32, FieldError> {
    v.as_u64()
        .filter(|n| (u64::from(min)..=u64::from(max)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| FieldError::new(key, format!("must be an integer from {min} to {max}")))
}

fn optional_url(key: &str, v: &Value) -> Result<Option<HttpUrl>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => HttpUrl::parse(key, s).map(Some),
        _ => Err(FieldError::new(
            key,
            "must be an http(s) URL string, or null to clear it",
        )),
    }
}

fn string_list(key: &str, v: &Value) -> Result<Vec<String>, FieldError> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| FieldError::new(key, "must be a list of strings"))
}

impl Settings {
    /// These settings with the keys of `patch` applied. Every key is checked; an unknown
    /// key or a bad value is an error naming it, and nothing is applied.
    pub fn patched(&self, patch: &Value) -> Result<Self, FieldError> {
        let Some(obj) = patch.as_object() else {
            return Err(FieldError::new(
                "body",
                "must be a JSON object of settings to change",
            ));
        };
        let mut next = self.clone();
        for (key, v) in obj {
            let k = key.as_str();
            match k {
                "project_name" => {
                    let s = v
                        .as_str()
                        .ok_or_else(|| FieldError::new(k, "must be a string"))?;
                    let s = parse_text(k, s.trim(), 1, 100)?;
                    if s.contains(['\n', '\t']) {
                        return Err(FieldError::new(k, "must be one line"));
                    }
                    next.project_name = s;
                }
                "package_download_base_url" => next.package_download_base_url = optional_url(k, v)?,
                "external_test_server_url" => next.external_test_server_url = optional_url(k, v)?,
                "report_base_url" => next.report_base_url = optional_url(k, v)?,
                "poll_interval_seconds" => {
                    next.poll_interval_seconds =
                        int_in(k, v, 1, super::timing::MAX_POLL_INTERVAL_SECONDS)?
                }
                "poll_request_timeout_seconds" => {
                    next.poll_request_timeout_seconds =
                        int_in(k, v, 1, super::timing::MAX_POLL_REQUEST_TIMEOUT_SECONDS)?
                }
                "max_monitor_seconds" => {
                    // Bounded so the worst-case run ends within the state machine's TimeoutSeconds.
                    next.max_monitor_seconds =
                        int_in(k, v, 60, super::timing::MAX_MONITOR_SECONDS_LIMIT)?
                }
                "max_unreachable_seconds" => {
                    next.max_unreachable_seconds =
                        int_in(k, v, 60, super::timing::MAX_MONITOR_SECONDS_LIMIT)?
                }
                "auto_sync_interval_hours" => {
                    next.auto_sync_interval_hours = int_in(k, v, 1, 24 * 90)?
                }
                "allowed_email_domains" => {
                    let list = string_list(k, v)?;
                    let mut domains: Vec<String> = Vec::new();
                    for (i, d) in list.iter().enumerate() {
                        let d = parse_domain(&format!("{k}[{i}]"), d)?;
                        if !domains.contains(&d) {
                            domains.push(d);
                        }
                    }
                    next.allowed_email_domains = domains;
                }
                "notify_cc" => next.notify_cc = parse_email_list(k, &string_list(k, v)?)?,
                "report_origins" => {
                    next.report_origins = parse_origin_list(k, &string_list(k, v)?)?
                }
                "mail_language" => next.mail_language = MailLanguage::parse(k, v)?,
                other => {
                    return Err(FieldError::new(
                        other,
                        format!(
                            "is not a setting; the settings are {}",
                            SETTINGS_KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        if next.poll_request_timeout_seconds > next.max_monitor_seconds {
            return Err(FieldError::new(
                "poll_request_timeout_seconds",
                "must not exceed max_monitor_seconds",
            ));
        }
        let cycles = u64::from(next.max_monitor_seconds)
            .div_ceil(u64::from(next.poll_interval_seconds.max(1)));
        if cycles > MAX_POLL_CYCLES {
            // Name the key this patch changed (either fixes it); the message names both.
            let field = if obj.contains_key("poll_interval_seconds")
                || !obj.contains_key("max_monitor_seconds")
            {
                "poll_interval_seconds"
            } else {
                "max_monitor_seconds"
            };
            return Err(FieldError::new(
                field,
                format!(
                    "max_monitor_seconds / poll_interval_seconds = {} / {} = {cycles} poll cycles, \
                     more than the {MAX_POLL_CYCLES} that fit in Step Functions' {STEP_FUNCTIONS_HISTORY_LIMIT}-event \
                     execution history: raise poll_interval_seconds to at least {} or lower max_monitor_seconds to at most {}",
                    next.max_monitor_seconds,
                    next.poll_interval_seconds,
                    u64::from(next.max_monitor_seconds).div_ceil(MAX_POLL_CYCLES),
                    MAX_POLL_CYCLES * u64::from(next.poll_interval_seconds),
                ),
            ));
        }
        Ok(next)
    }
}

impl Settings {
    /// The origins report links may be read from: `report_origins`, or, while that is
    /// empty, the origin of `external_test_server_url` (none when that is not set either).
    pub fn allowed_report_origins(&self) -> Vec<Origin> {
        if !self.report_origins.is_empty() {
            return self.report_origins.clone();
        }
        self.external_test_server_url
            .as_ref()
            .and_then(|u| url::Url::parse(u.as_str()).ok())
            .and_then(|u| Origin::of_url(&u))
            .into_iter()
            .collect()
    }

    /// Why the report at `report_url` is not read (a short sentence for the run page and
    /// the mail), or `None` when it is read: at most [`MAX_REPORT_URL_CHARS`] characters,
    /// an http(s) URL without credentials, on an allowed origin
    /// ([`Self::allowed_report_origins`]). Poll and notify both decide with this.
    pub fn report_refusal(&self, report_url: &str) -> Option<String> {
        if report_url.chars().count() > MAX_REPORT_URL_CHARS {
            return Some(format!(
                "report not read: the link is longer than {MAX_REPORT_URL_CHARS} characters"
            ));
        }
        let shown: String = report_url.chars().take(200).collect();
        let Some(origin) = url::Url::parse(report_url.trim())
            .ok()
            .filter(|u| u.username().is_empty() && u.password().is_none())
            .and_then(|u| Origin::of_url(&u))
        else {
            return Some(format!(
                "report not read: {shown:?} is not an http(s) URL with a host (and no credentials)"
            ));
        };
        let allowed = self.allowed_report_origins();
        if allowed.contains(&origin) {
            return None;
        }
        // Short: the origin and the setting, never the whole list.
        let list = if self.report_origins.is_empty() {
            match allowed.first() {
                Some(server) => format!("empty, so only the test server's origin {server} is read"),
                None => "empty, and external_test_server_url is not set".to_owned(),
            }
        } else {
            format!("{} listed", self.report_origins.len())
        };
        Some(format!(
            "report not read: origin {origin} is not in report_origins ({list}); an admin adds it in the settings"
        ))
    }
}

/// `report_origins` in the OpenAPI document: at most 20 origins of at most 300 characters.
pub(super) fn report_origins_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(crate::domain::config_values::Origin::MAX_LEN)),
        )
        .max_items(Some(crate::domain::config_values::MAX_ORIGINS))
        .build()
}

/// The longest report link CRAT keeps or reads (characters); a longer one is kept cut
/// short (ending in "…") and refused by [`Settings::report_refusal`].
pub const MAX_REPORT_URL_CHARS: usize = 2048;

#[cfg(test)]
mod tests;
