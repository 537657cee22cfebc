//! Finding, streaming and verifying the package.
//!
//! 1. Listing URL = base URL + package path + `/` (each segment percent-encoded, exactly
//!    one `/` between parts). Fetched (capped at [`MAX_LISTING_BYTES`]) and parsed by
//!    [`crate::listing`].
//! 2. The package is chosen by [`crate::select`]; its URL and its sidecars' URLs are the
//!    listing URL plus the encoded file name, so only the base's server is ever contacted.
//! 3. A listed `<file>.sha256` (preferred) or `<file>.md5` is fetched (at most
//!    [`MAX_SIDECAR_BYTES`]) and parsed by [`crate::verify::parse_sidecar`].
//! 4. The package is streamed to `<dest_dir>/<unique folder>/<file>.part` and checked in
//!    the same pass: the async side reads the body chunk by chunk and hands each chunk over
//!    bounded channels to blocking stages running beside it: the writer (sha256 + file),
//!    the md5 hasher when the sidecar is md5, and the gzip + tar structure check
//!    ([`crate::verify::check_archive`] on the bytes as they arrive). Nothing is read back;
//!    memory stays bounded (a few chunks in flight) whatever the package size. The byte
//!    count is checked against `max_bytes` as it grows (the download stops at once when it
//!    is exceeded) and against `Content-Length` at the end; the file is fsynced.
//! 5. Digest compared with the sidecar, then the structure check's outcome, and only then
//!    the `.part` file is renamed to its final name: a file under its final name is always
//!    verified.
//!
//! On any failure (and if the future is dropped mid-way) the unique folder is removed, so
//! nothing is left behind.
//!
//! Steps 1 and 3 (small capped GETs, and how request errors map to [`FetchError`]) live in
//! `fetch/requests.rs`, step 4 in `fetch/stream.rs`; this file keeps the order of the steps.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use url::Url;

use crate::error::FetchError;
use crate::listing::{self, Listing, ListingEntry};
use crate::select;
use crate::verify::{self, ArchiveError, DigestAlgorithm};

mod requests;
mod stream;

use requests::{fetch_listing, fetch_sidecar};
use stream::{RemoveOnDrop, Written, download, local_error};

/// Listings larger than this are refused (a folder of ~100 000 files).
pub const MAX_LISTING_BYTES: usize = 16 * 1024 * 1024;
/// Checksum sidecars larger than this are refused.
pub const MAX_SIDECAR_BYTES: usize = 4 * 1024;

/// What to download and where.
#[derive(Debug, Clone, Copy)]
pub struct PackageRequest<'a> {
    /// `package_download_base_url` (absolute http(s)); may or may not end with `/`.
    pub base_url: &'a Url,
    /// Relative folder path, e.g. `CDN/pass/20250613-master-abc/el7` (not percent-encoded).
    pub package_path: &'a str,
    /// The test item's name: the file name must start with it (then `-`, `_` or `.`).
    pub service_name: &'a str,
    /// Where to write (created if missing). The file goes into a new unique sub-folder.
    pub dest_dir: &'a Path,
    /// Packages larger than this are refused.
    pub max_bytes: u64,
}

/// A downloaded and verified package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchedPackage {
    /// The package's URL (as downloaded; includes credentials if the base URL has them).
    pub url: String,
    /// The file name from the listing.
    pub file_name: String,
    /// Local path: `<dest_dir>/<unique folder>/<file_name>`. The caller owns the unique
    /// folder (`path.parent()`) and removes it when done.
    pub path: PathBuf,
    /// Bytes on disk (= `Content-Length` when the server sent one).
    pub size: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// `"sha256"` or `"md5"` when a sidecar checksum was listed and matched.
    pub verified_with: Option<String>,
}

use shared::tasks::http::redacted;
pub use shared::tasks::http::{MAX_REDIRECTS, http_client};

/// The listing URL: `base_url` + the encoded segments of `package_path` + `/`.
/// Empty segments (doubled, leading or trailing `/`) are ignored; `.` and `..` are refused.
pub fn listing_url(base_url: &Url, package_path: &str) -> Result<Url, FetchError> {
    let invalid = |reason: &str| FetchError::InvalidBaseUrl {
        url: redacted(base_url),
        reason: reason.to_owned(),
    };
    if !matches!(base_url.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    if base_url.host_str().is_none_or(str::is_empty) || base_url.cannot_be_a_base() {
        return Err(invalid("it has no host"));
    }
    if base_url.query().is_some() {
        return Err(invalid("it must not have a query string"));
    }
    let mut url = base_url.clone();
    url.set_fragment(None);
    // Trailing slashes of the base (`/pkgs/`, even `/pkgs//`) all collapse into the one `/`.
    let trailing_empty = base_url
        .path_segments()
        .map_or(0, |s| s.rev().take_while(|s| s.is_empty()).count());
    {
        let Ok(mut segments) = url.path_segments_mut() else {
            return Err(invalid("it has no path"));
        };
        for _ in 0..trailing_empty {
            segments.pop();
        }
        for segment in package_path.split(['/', '\\']).filter(|s| !s.is_empty()) {
            if segment == "." || segment == ".." || segment.chars().any(char::is_control) {
                return Err(FetchError::InvalidRequest {
                    reason: format!(
                        "the package path \"{}\" is not a plain relative path",
                        package_path.escape_debug()
                    ),
                });
            }
            segments.push(segment);
        }
        segments.push("");
    }
    Ok(url)
}

/// `folder_url` (ending in `/`) + the encoded `name`.
fn file_url(folder_url: &Url, name: &str) -> Url {
    let mut url = folder_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        segments.push(name);
    }
    url
}

/// Finds the package of `req.service_name` in the listing of `req.package_path`,
/// downloads it to a new unique folder under `req.dest_dir` and verifies it.
/// See the module documentation for the steps and [`FetchError`] for the failures.
pub async fn fetch_package(
    client: &reqwest::Client,
    req: &PackageRequest<'_>,
) -> Result<FetchedPackage, FetchError> {
    let service = req.service_name;
    if service.is_empty() || !listing::is_plain_name(service) {
        return Err(FetchError::InvalidRequest {
            reason: format!(
                "the service name \"{}\" cannot start a file name",
                service.escape_debug()
            ),
        });
    }
    let listing_url = listing_url(req.base_url, req.package_path)?;
    let (folder_url, listing) = fetch_listing(client, &listing_url).await?;
    tracing::debug!(url = %redacted(&folder_url), files = listing.files.len(), "package listing read");

    let chosen = select::choose_package(&listing, service)
        .cloned()
        .ok_or_else(|| FetchError::NoMatchingFile {
            url: redacted(&folder_url),
            service: service.to_owned(),
            found: listing.files.iter().map(|f| f.name.clone()).collect(),
            directories: listing.directories.clone(),
        })?;
    let package_url = file_url(&folder_url, &chosen.name);
    tracing::info!(url = %redacted(&package_url), size = ?chosen.size, "package chosen");
    if let Some(size) = chosen.size
        && size > req.max_bytes
    {
        return Err(FetchError::TooLarge {
            url: redacted(&package_url),
            size: Some(size),
            limit: req.max_bytes,
        });
    }

    let sidecar = sidecar_of(&listing, &chosen);
    let expected = match sidecar {
        Some(algorithm) => {
            let url = file_url(&folder_url, &algorithm.sidecar_name(&chosen.name));
            Some((
                algorithm,
                fetch_sidecar(client, &url, &chosen.name, algorithm).await?,
            ))
        }
        None => None,
    };

    let written = download(client, &package_url, &chosen.name, req, sidecar).await?;
    let Written {
        work_dir,
        part_path,
        size,
        sha256,
        md5,
        archive,
    } = written;
    let cleanup = RemoveOnDrop(Some(work_dir.clone()));

    if let Some((algorithm, expected)) = &expected {
        let actual = match algorithm {
            DigestAlgorithm::Sha256 => Some(&sha256),
            DigestAlgorithm::Md5 => md5.as_ref(),
        };
        if actual != Some(expected) {
            return Err(FetchError::DigestMismatch {
                file_name: chosen.name.clone(),
                algorithm: algorithm.name(),
                expected: expected.clone(),
                actual: actual.cloned().unwrap_or_default(),
            });
        }
    }

    let summary = archive
        .and_then(|summary| {
            // Without a Content-Length the check ran under the size cap's bound; the bound
            // of the actual size applies all the same.
            let limit = verify::decompressed_limit(size);
            if summary.uncompressed_bytes > limit {
                return Err(ArchiveError::TooLarge { limit });
            }
            Ok(summary)
        })
        .map_err(|e| match e {
            ArchiveError::Io(kind) => local_error(&part_path, kind.to_string()),
            other => FetchError::Corrupt {
                file_name: chosen.name.clone(),
                reason: other.to_string(),
            },
        })?;

    let final_path = work_dir.join(&chosen.name);
    let (from, to) = (part_path.clone(), final_path.clone());
    tokio::task::spawn_blocking(move || {
        fs::rename(&from, &to)?;
        if let Some(dir) = to.parent() {
            // Make the rename durable; opening a folder fails on some platforms: best effort.
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok::<(), io::Error>(())
    })
    .await
    .map_err(|_| {
        local_error(
            &final_path,
            "the final rename stopped unexpectedly".to_owned(),
        )
    })?
    .map_err(|e| local_error(&final_path, e.kind().to_string()))?;

    cleanup.disarm();
    tracing::info!(
        url = %redacted(&package_url),
        size,
        sha256 = %sha256,
        entries = summary.entries,
        uncompressed = summary.uncompressed_bytes,
        verified_with = sidecar.map(DigestAlgorithm::name),
        "package downloaded and verified"
    );
    Ok(FetchedPackage {
        url: package_url.to_string(),
        file_name: chosen.name,
        path: final_path,
        size,
        sha256,
        verified_with: sidecar.map(|a| a.name().to_owned()),
    })
}

/// The sidecar to use: `<file>.sha256` if listed, else `<file>.md5` if listed.
fn sidecar_of(listing: &Listing, chosen: &ListingEntry) -> Option<DigestAlgorithm> {
    [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
        .into_iter()
        .find(|a| listing.file(&a.sidecar_name(&chosen.name)).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::tasks::ErrorName;

    fn base(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn listing_url_joins_with_one_slash() {
        let want = "http://h:8080/pkgs/CDN/pass/20250613-master-abc/el7/";
        for b in [
            "http://h:8080/pkgs",
            "http://h:8080/pkgs/",
            "http://h:8080/pkgs//",
        ] {
            for p in [
                "CDN/pass/20250613-master-abc/el7",
                "/CDN/pass/20250613-master-abc/el7/",
                "CDN//pass/20250613-master-abc/el7",
            ] {
                assert_eq!(
                    listing_url(&base(b), p).unwrap().as_str(),
                    want,
                    "{b} + {p}"
                );
            }
        }
        assert_eq!(
            listing_url(&base("https://h"), "a").unwrap().as_str(),
            "https://h/a/"
        );
        assert_eq!(
            listing_url(&base("https://h//"), "a").unwrap().as_str(),
            "https://h/a/"
        );
        assert_eq!(
            listing_url(&base("https://h//"), "").unwrap().as_str(),
            "https://h/"
        );
        assert_eq!(
            listing_url(&base("https://h/#frag"), "a").unwrap().as_str(),
            "https://h/a/"
        );
        assert_eq!(
            listing_url(&base("https://h/x/"), "").unwrap().as_str(),
            "https://h/x/"
        );
        assert_eq!(
            listing_url(&base("http://h/p/"), "a b/100%/x#y?z")
                .unwrap()
                .as_str(),
            "http://h/p/a%20b/100%25/x%23y%3Fz/"
        );
    }

    #[test]
    fn listing_url_refusals() {
        for b in [
            "ftp://h/x",
            "file:///tmp/x",
            "mailto:a@b",
            "http://h/x?token=1",
        ] {
            let e = listing_url(&base(b), "a").unwrap_err();
            assert_eq!(e.error_name(), ErrorName::ConfigError, "{b}");
            assert!(matches!(e, FetchError::InvalidBaseUrl { .. }), "{b}");
        }
        for p in ["../x", "a/./b", "a/../../b", "a/\u{7}"] {
            assert!(
                matches!(
                    listing_url(&base("http://h/"), p),
                    Err(FetchError::InvalidRequest { .. })
                ),
                "{p}"
            );
        }
        let e = listing_url(&base("ftp://user:secret@h/x"), "a").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn file_urls_are_encoded_under_the_folder() {
        let folder = base("http://h/p/el7/");
        assert_eq!(
            file_url(&folder, "cds-1.0 final.tar.gz").as_str(),
            "http://h/p/el7/cds-1.0%20final.tar.gz"
        );
        assert_eq!(
            file_url(&folder, "a?b#c%.tgz").as_str(),
            "http://h/p/el7/a%3Fb%23c%25.tgz"
        );
    }
}
