//! Builds as Jenkins reports them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::field::{FieldError, has_control};

/// A Jenkins job name: 1–200 characters, no control characters. Folder jobs contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobName(String);

/// Reads as its text wherever a `&str` is taken (formatting, mail, logs).
impl std::ops::Deref for JobName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl JobName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if raw.trim().is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {} characters (got {n})", Self::MAX_CHARS),
            ));
        }
        if has_control(raw) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Jenkins build number: a positive integer, sent as a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BuildNumber(i64);

impl BuildNumber {
    pub fn parse(field: &str, raw: &Value) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be a positive integer such as \"101\"");
        let n = match raw {
            Value::Number(n) => n.as_i64().ok_or_else(bad)?,
            Value::String(s) => {
                let s = s.trim();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse::<i64>().map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        if n <= 0 {
            return Err(bad());
        }
        Ok(Self(n))
    }

    pub fn from_stored(n: i64) -> Self {
        Self(n)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for BuildNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A path relative to the package server's base URL, e.g. `CDN/pass/2025.../el7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackagePath(String);

/// Reads as its text wherever a `&str` is taken (formatting, mail, logs).
impl std::ops::Deref for PackagePath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PackagePath {
    pub const MAX_CHARS: usize = 1024;

    /// Normalises first (outer whitespace and trailing `/` dropped), then validates the
    /// normalised value, so whatever is accepted re-parses to itself.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let reject = |why: &str| Err(FieldError::new(field, why.to_owned()));
        if raw.len() > 4 * Self::MAX_CHARS {
            return reject("must be at most 1024 characters");
        }
        let path = raw
            .trim_start()
            .trim_end_matches(|c: char| c == '/' || c.is_whitespace());
        if path.is_empty() {
            return reject("must not be empty");
        }
        if path.chars().count() > Self::MAX_CHARS {
            return reject("must be at most 1024 characters");
        }
        if has_control(path) {
            return reject("must not contain control characters");
        }
        if path.contains('\\') {
            return reject("must use '/' separators, not backslashes");
        }
        if path.contains("://") || path.starts_with("//") {
            return reject(
                "must be a path relative to the package server, without a scheme or host",
            );
        }
        if path.starts_with('/') {
            return reject("must be relative to the package server (drop the leading '/')");
        }
        // A segment that is a dot segment once its spaces are gone ("CDN/. /x") is refused
        // too: servers and proxies differ on whether they trim.
        if path.split('/').any(|seg| matches!(seg.trim(), "." | "..")) {
            return reject("must not contain '.' or '..' segments");
        }
        if path
            .split('/')
            .next()
            .is_some_and(|first| first.contains(':'))
        {
            return reject("must not start with a scheme or drive letter");
        }
        Ok(Self(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A build as the webhook reported it, validated and ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuild {
    pub job_name: JobName,
    pub build_number: BuildNumber,
    pub build_user: Option<String>,
    pub package_path: PackagePath,
}

impl NewBuild {
    /// Parses the Jenkins webhook body; every error names the field as Jenkins sends it.
    pub fn from_webhook(body: &Value) -> Result<Self, FieldError> {
        let Some(obj) = body.as_object() else {
            return Err(FieldError::new(
                "body",
                "must be a JSON object with JOB_NAME, BUILD_NUMBER and PACKAGE_PATH",
            ));
        };
        let string = |name: &str| -> Result<Option<&str>, FieldError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(FieldError::new(name, "must be a string")),
            }
        };
        let required = |name: &str| -> Result<&str, FieldError> {
            string(name)?.ok_or_else(|| FieldError::new(name, "is required"))
        };

        let job_name = JobName::parse("JOB_NAME", required("JOB_NAME")?)?;
        let build_number = match obj.get("BUILD_NUMBER") {
            None | Some(Value::Null) => return Err(FieldError::new("BUILD_NUMBER", "is required")),
            Some(v) => BuildNumber::parse("BUILD_NUMBER", v)?,
        };
        let package_path = PackagePath::parse("PACKAGE_PATH", required("PACKAGE_PATH")?)?;
        let build_user = match string("BUILD_USER")?.map(str::trim) {
            None | Some("") => None,
            Some(u) if u.chars().count() > 200 => {
                return Err(FieldError::new(
                    "BUILD_USER",
                    "must be at most 200 characters",
                ));
            }
            Some(u) if has_control(u) => {
                return Err(FieldError::new(
                    "BUILD_USER",
                    "must not contain control characters",
                ));
            }
            Some(u) => Some(u.to_owned()),
        };
        Ok(Self {
            job_name,
            build_number,
            build_user,
            package_path,
        })
    }
}

/// A stored build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Build {
    pub id: i64,
    #[schema(value_type = String, example = "CDN_CORE")]
    pub job_name: JobName,
    #[schema(value_type = i64, example = 101)]
    pub build_number: BuildNumber,
    pub build_user: Option<String>,
    #[schema(value_type = String, example = "CDN/pass/20250613-master-27580974441fd35aa299d78a392aa4b59b018c27/el7")]
    pub package_path: PackagePath,
    pub created_at: DateTime<Utc>,
}

impl Build {
    pub fn new(id: i64, new: &NewBuild, created_at: DateTime<Utc>) -> Self {
        Self {
            id,
            job_name: new.job_name.clone(),
            build_number: new.build_number,
            build_user: new.build_user.clone(),
            package_path: new.package_path.clone(),
            created_at,
        }
    }
}

/// One job with its newest build (by build number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobSummary {
    #[schema(value_type = String)]
    pub job_name: JobName,
    pub latest_build: Build,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn webhook(overrides: Value) -> Value {
        let mut body = json!({"BUILD_USER": "JenkinsUser", "JOB_NAME": "CDN_CORE",
            "PACKAGE_PATH": "CDN/pass/20250613-master-2758/el7", "BUILD_NUMBER": "101"});
        for (k, v) in overrides.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    }

    #[test]
    fn valid_webhook_parses_with_string_or_number_build_number() {
        let b = NewBuild::from_webhook(&webhook(json!({}))).unwrap();
        assert_eq!(b.build_number.get(), 101);
        assert_eq!(b.job_name.as_str(), "CDN_CORE");
        assert_eq!(b.build_user.as_deref(), Some("JenkinsUser"));
        let b = NewBuild::from_webhook(&webhook(json!({"BUILD_NUMBER": 7}))).unwrap();
        assert_eq!(b.build_number.get(), 7);
    }

    #[test]
    fn folder_job_names_and_missing_build_user_are_accepted() {
        let mut body = webhook(json!({"JOB_NAME": "team/CDN_CORE"}));
        body.as_object_mut().unwrap().remove("BUILD_USER");
        let b = NewBuild::from_webhook(&body).unwrap();
        assert_eq!(b.job_name.as_str(), "team/CDN_CORE");
        assert_eq!(b.build_user, None);
        let b = NewBuild::from_webhook(&webhook(json!({"BUILD_USER": ""}))).unwrap();
        assert_eq!(b.build_user, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!({"JOB_NAME": ""}), "JOB_NAME"),
            (json!({"JOB_NAME": "   "}), "JOB_NAME"),
            (json!({"JOB_NAME": null}), "JOB_NAME"),
            (json!({"JOB_NAME": 5}), "JOB_NAME"),
            (json!({"JOB_NAME": "a\nb"}), "JOB_NAME"),
            (json!({"JOB_NAME": "x".repeat(201)}), "JOB_NAME"),
            (json!({"BUILD_NUMBER": "abc"}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": "0"}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": 0}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": -3}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": 1.5}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": "1e3"}), "BUILD_NUMBER"),
            (json!({"BUILD_NUMBER": null}), "BUILD_NUMBER"),
            (
                json!({"BUILD_NUMBER": "99999999999999999999"}),
                "BUILD_NUMBER",
            ),
            (json!({"PACKAGE_PATH": "/CDN/pass/el7"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": "CDN/../etc"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": ".."}), "PACKAGE_PATH"),
            (
                json!({"PACKAGE_PATH": "http://evil.example/x"}),
                "PACKAGE_PATH",
            ),
            (json!({"PACKAGE_PATH": "//evil.example/x"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": "file:x"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": "CDN\\pass"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": "CDN/\u{0}/x"}), "PACKAGE_PATH"),
            (json!({"PACKAGE_PATH": ""}), "PACKAGE_PATH"),
            (json!({"BUILD_USER": "a\r\nBcc: x"}), "BUILD_USER"),
            (json!({"BUILD_USER": 3}), "BUILD_USER"),
        ];
        for (override_, field) in cases {
            let err = NewBuild::from_webhook(&webhook(override_.clone())).unwrap_err();
            assert_eq!(err.field, field, "case {override_}: {err}");
        }
        assert_eq!(
            NewBuild::from_webhook(&json!([1])).unwrap_err().field,
            "body"
        );
    }

    #[test]
    fn package_path_is_normalised_before_it_is_checked() {
        // Accepted once as "CDN/. " and then never re-read: the stored value must re-parse.
        for raw in ["CDN/. /", "CDN/. ", "CDN/ ../x", "CDN/.. /", " ./CDN"] {
            let err = PackagePath::parse("PACKAGE_PATH", raw).unwrap_err();
            assert_eq!(err.field, "PACKAGE_PATH", "{raw:?}");
        }
        for raw in ["CDN/pass/el7 / ", " CDN/pass//", "CDN/a b/el7/"] {
            let p = PackagePath::parse("PACKAGE_PATH", raw).unwrap();
            assert_eq!(
                PackagePath::parse("PACKAGE_PATH", p.as_str()).unwrap(),
                p,
                "{raw:?}"
            );
        }
        assert_eq!(
            PackagePath::parse("p", "CDN/pass/el7 / ").unwrap().as_str(),
            "CDN/pass/el7"
        );
    }

    #[test]
    fn package_path_trailing_slash_is_dropped() {
        let p = PackagePath::parse("p", "CDN/pass/el7/").unwrap();
        assert_eq!(p.as_str(), "CDN/pass/el7");
    }
}
