//! Why a download failed, and the stable ASL error name of each failure.

use std::fmt::Write as _;

use shared::tasks::{ErrorName, TaskError};

/// A failed [`crate::fetch::fetch_package`]. `Display` is a human sentence naming at most
/// the URL and what was found; [`FetchError::error_name`] is the ASL error name.
/// URLs in messages never carry a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// `package_download_base_url` cannot be used (not http(s), no host, has a query...).
    #[error("The package download base URL {url} cannot be used: {reason}.")]
    InvalidBaseUrl { url: String, reason: String },

    /// The request itself is unusable (empty service name, `..` in the package path).
    #[error("The package download request is invalid: {reason}.")]
    InvalidRequest { reason: String },

    /// The package folder's listing answered 404 (or 410).
    #[error("The package folder {url} does not exist on the package server.")]
    ListingNotFound { url: String },

    /// The listing has no file for the service.
    #[error("{}", no_match_message(.url, .service, .found, .directories))]
    NoMatchingFile {
        url: String,
        service: String,
        found: Vec<String>,
        directories: Vec<String>,
    },

    /// The listing is neither nginx autoindex HTML nor JSON (or is too large).
    #[error("The answer from {url} is not a directory listing: {reason}.")]
    BadListing { url: String, reason: String },

    /// An HTTP status that is not success (mapped by status, see `error_name`).
    #[error("{}", status_message(.url, *.status))]
    HttpStatus { url: String, status: u16 },

    /// Connection refused or reset, DNS failure, broken connection.
    #[error("The package server could not be reached for {url}: {reason}.")]
    Unreachable { url: String, reason: &'static str },

    /// No answer (or no data) within the client's timeout.
    #[error("The package server did not answer in time for {url}.")]
    Timeout { url: String },

    /// The server redirected to another scheme, host or port.
    #[error(
        "The package server redirected {url} to {target}, on another server; only redirects to the same server are followed."
    )]
    RedirectRefused { url: String, target: String },

    /// The client's redirect policy refused a redirect (a client not from `http_client`).
    #[error(
        "The package server redirected {url} somewhere this service does not follow; only redirects to the same server are followed."
    )]
    RedirectNotFollowed { url: String },

    /// A redirect loop or chain that is too long.
    #[error("The package server redirected {url} too many times.")]
    TooManyRedirects { url: String },

    /// Larger than `max_bytes` (by the listing, `Content-Length`, or the bytes received).
    #[error("{}", too_large_message(.url, *.size, *.limit))]
    TooLarge {
        url: String,
        size: Option<u64>,
        limit: u64,
    },

    /// The body ended before `Content-Length` bytes, or differed from it.
    #[error("{}", truncated_message(.url, *.received, *.expected))]
    Truncated {
        url: String,
        received: u64,
        expected: Option<u64>,
    },

    /// Not gzip, corrupt gzip, unreadable or empty tar.
    #[error("The package {file_name} is damaged: {reason}.")]
    Corrupt { file_name: String, reason: String },

    /// The digest differs from the listed sidecar's.
    #[error(
        "The package {file_name} does not match its {algorithm} checksum file: expected {expected}, got {actual}."
    )]
    DigestMismatch {
        file_name: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },

    /// A listed sidecar could not be downloaded or read.
    #[error("The checksum file {url} could not be used: {reason}.")]
    BadSidecar { url: String, reason: String },

    /// Local storage failed (folder not creatable, disk full...).
    #[error("The package could not be stored locally: {reason}.")]
    LocalStorage { path: String, reason: String },
}

impl FetchError {
    /// The ASL error name: one of `Crat.PackageNotFound`, `Crat.IntegrityError`,
    /// `Crat.Transient`, `Crat.ConfigError`.
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::ListingNotFound { .. } | Self::NoMatchingFile { .. } => {
                ErrorName::PackageNotFound
            }
            Self::HttpStatus { status, .. } => match status {
                404 | 410 => ErrorName::PackageNotFound,
                408 | 425 | 429 | 500..=599 => ErrorName::Transient,
                _ => ErrorName::ConfigError,
            },
            Self::Unreachable { .. } | Self::Timeout { .. } => ErrorName::Transient,
            Self::TooLarge { .. }
            | Self::Truncated { .. }
            | Self::Corrupt { .. }
            | Self::DigestMismatch { .. }
            | Self::BadSidecar { .. } => ErrorName::IntegrityError,
            Self::InvalidBaseUrl { .. }
            | Self::InvalidRequest { .. }
            | Self::BadListing { .. }
            | Self::RedirectRefused { .. }
            | Self::RedirectNotFollowed { .. }
            | Self::TooManyRedirects { .. }
            | Self::LocalStorage { .. } => ErrorName::ConfigError,
        }
    }

    /// Whether the step is worth retrying as is (`Crat.Transient`).
    pub fn is_transient(&self) -> bool {
        self.error_name() == ErrorName::Transient
    }
}

impl From<FetchError> for TaskError {
    fn from(e: FetchError) -> Self {
        TaskError::new(e.error_name(), e.to_string())
    }
}

/// At most this many names are listed in a "no matching file" message.
const MAX_NAMES_IN_MESSAGE: usize = 50;

fn no_match_message(url: &str, service: &str, found: &[String], directories: &[String]) -> String {
    let mut m = format!(
        "No package for \"{service}\" in {url}: looked for a file named \"{service}\" followed by '-', '_' or '.' and ending in .tar.gz or .tgz."
    );
    if found.is_empty() && directories.is_empty() {
        m.push_str(" The folder is empty.");
        return m;
    }
    if found.is_empty() {
        m.push_str(" The folder has no files.");
    } else {
        let _ = write!(m, " Files found: {}.", name_list(found, ""));
    }
    if !directories.is_empty() {
        let _ = write!(m, " Sub-folders: {}.", name_list(directories, "/"));
    }
    m
}

fn name_list(names: &[String], suffix: &str) -> String {
    let mut s = names
        .iter()
        .take(MAX_NAMES_IN_MESSAGE)
        .map(|n| format!("{n}{suffix}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_NAMES_IN_MESSAGE {
        let _ = write!(s, " and {} more", names.len() - MAX_NAMES_IN_MESSAGE);
    }
    s
}

fn status_message(url: &str, status: u16) -> String {
    match status {
        404 | 410 => format!("The package server no longer has {url} (HTTP {status})."),
        429 => format!("The package server is busy (HTTP 429) for {url}."),
        500..=599 => format!("The package server failed with HTTP {status} for {url}."),
        401 | 403 => format!("The package server refused access to {url} (HTTP {status})."),
        _ => format!("The package server answered HTTP {status} for {url}."),
    }
}

fn too_large_message(url: &str, size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!(
            "The package {url} is {}, more than the limit of {}.",
            bytes(size),
            bytes(limit)
        ),
        None => format!(
            "The package {url} is larger than the limit of {}; the download was stopped.",
            bytes(limit)
        ),
    }
}

fn truncated_message(url: &str, received: u64, expected: Option<u64>) -> String {
    match expected {
        Some(expected) => format!(
            "The download of {url} is incomplete: received {received} of the {expected} bytes announced by the server."
        ),
        None => format!("The download of {url} ended early, after {received} bytes."),
    }
}

/// `8 GiB (8589934592 bytes)`, `512 bytes`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut unit = None;
    let mut value = n as f64;
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    match unit {
        None => format!("{n} bytes"),
        Some(u) => {
            let shown = if (value - value.round()).abs() < 0.05 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            };
            format!("{shown} {u} ({n} bytes)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let url = || "http://h/x/".to_owned();
        let cases: Vec<(FetchError, ErrorName)> = vec![
            (
                FetchError::ListingNotFound { url: url() },
                ErrorName::PackageNotFound,
            ),
            (
                FetchError::NoMatchingFile {
                    url: url(),
                    service: "cds".into(),
                    found: vec![],
                    directories: vec![],
                },
                ErrorName::PackageNotFound,
            ),
            (
                FetchError::HttpStatus {
                    url: url(),
                    status: 404,
                },
                ErrorName::PackageNotFound,
            ),
            (
                FetchError::HttpStatus {
                    url: url(),
                    status: 500,
                },
                ErrorName::Transient,
            ),
            (
                FetchError::HttpStatus {
                    url: url(),
                    status: 503,
                },
                ErrorName::Transient,
            ),
            (
                FetchError::HttpStatus {
                    url: url(),
                    status: 429,
                },
                ErrorName::Transient,
            ),
            (
                FetchError::HttpStatus {
                    url: url(),
                    status: 403,
                },
                ErrorName::ConfigError,
            ),
            (
                FetchError::Unreachable {
                    url: url(),
                    reason: "refused",
                },
                ErrorName::Transient,
            ),
            (FetchError::Timeout { url: url() }, ErrorName::Transient),
            (
                FetchError::TooLarge {
                    url: url(),
                    size: None,
                    limit: 1,
                },
                ErrorName::IntegrityError,
            ),
            (
                FetchError::Truncated {
                    url: url(),
                    received: 1,
                    expected: Some(2),
                },
                ErrorName::IntegrityError,
            ),
            (
                FetchError::Corrupt {
                    file_name: "f".into(),
                    reason: "x".into(),
                },
                ErrorName::IntegrityError,
            ),
            (
                FetchError::BadSidecar {
                    url: url(),
                    reason: "x".into(),
                },
                ErrorName::IntegrityError,
            ),
            (
                FetchError::InvalidBaseUrl {
                    url: url(),
                    reason: "x".into(),
                },
                ErrorName::ConfigError,
            ),
            (
                FetchError::RedirectRefused {
                    url: url(),
                    target: url(),
                },
                ErrorName::ConfigError,
            ),
        ];
        for (e, name) in cases {
            assert_eq!(e.error_name(), name, "{e}");
            let task: TaskError = e.into();
            assert_eq!(task.name, name);
        }
    }

    #[test]
    fn messages() {
        let e = FetchError::NoMatchingFile {
            url: "http://h/el7/".into(),
            service: "cds".into(),
            found: vec!["cdsx-1.tar.gz".into(), "notes.txt".into()],
            directories: vec!["debug".into()],
        };
        let m = e.to_string();
        assert!(m.contains("Files found: cdsx-1.tar.gz, notes.txt."), "{m}");
        assert!(m.contains("Sub-folders: debug/."), "{m}");
        assert!(m.contains("\"cds\""), "{m}");
        let many: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
        let m = no_match_message("u", "cds", &many, &[]);
        assert!(m.contains("f49 and 10 more"), "{m}");
        assert!(!m.contains("f50"), "{m}");
        assert!(no_match_message("u", "cds", &[], &[]).ends_with("The folder is empty."));
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(8 << 30), "8 GiB (8589934592 bytes)");
        assert_eq!(bytes(1536), "1.5 KiB (1536 bytes)");
    }
}
