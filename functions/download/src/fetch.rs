//! Finding, streaming and verifying the package.
//!
//! 1. Listing URL = base URL + package path + `/` (each segment percent-encoded, exactly
//!    one `/` between parts). Fetched (capped at [`MAX_LISTING_BYTES`]) and parsed by
//!    [`crate::listing`].
//! 2. The package is chosen by [`crate::select`]; its URL and its sidecars' URLs are the
//!    listing URL plus the encoded file name, so only the base's server is ever contacted.
//! 3. A listed `<file>.sha256` (preferred) or `<file>.md5` is fetched (at most
//!    [`MAX_SIDECAR_BYTES`]) and parsed by [`crate::verify::parse_sidecar`].
//! 4. The package is streamed to `<dest_dir>/<unique folder>/<file>.part`: the async side
//!    reads the body chunk by chunk and hands each chunk over a bounded channel to a
//!    blocking writer thread, which hashes (sha256, plus md5 when needed) and writes it.
//!    Memory stays bounded (a few chunks in flight) whatever the package size. The byte
//!    count is checked against `max_bytes` as it grows (the download stops at once when it
//!    is exceeded) and against `Content-Length` at the end; the file is fsynced.
//! 5. Digest compared with the sidecar, then gzip + tar structure checked
//!    ([`crate::verify::verify_archive`], in `spawn_blocking`), and only then the `.part`
//!    file is renamed to its final name: a file under its final name is always verified.
//!
//! On any failure (and if the future is dropped mid-way) the unique folder is removed, so
//! nothing is left behind.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::Md5;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderValue};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use crate::error::FetchError;
use crate::listing::{self, Listing, ListingEntry};
use crate::select;
use crate::verify::{self, ArchiveError, DigestAlgorithm};

/// Listings larger than this are refused (a folder of ~100 000 files).
pub const MAX_LISTING_BYTES: usize = 16 * 1024 * 1024;
/// Checksum sidecars larger than this are refused.
pub const MAX_SIDECAR_BYTES: usize = 4 * 1024;
/// Redirect hops followed (all within the same origin).
/// Chunks buffered between the network and the disk writer.
const CHANNEL_CHUNKS: usize = 8;

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

pub use shared::tasks::http::{MAX_REDIRECTS, http_client};
use shared::tasks::http::{OffOriginRedirect, TooManyRedirects, redacted};

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

    let check_path = part_path.clone();
    let summary = tokio::task::spawn_blocking(move || verify::verify_archive(&check_path))
        .await
        .map_err(|_| {
            local_error(
                &part_path,
                "the archive check stopped unexpectedly".to_owned(),
            )
        })?
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

fn local_error(path: &Path, reason: String) -> FetchError {
    FetchError::LocalStorage {
        path: path.display().to_string(),
        reason,
    }
}

/// Maps a request error (before or while reading the headers) to a `FetchError`.
fn request_error(e: &reqwest::Error, url: &Url) -> FetchError {
    let shown = redacted(url);
    if let Some(off) = find_source::<OffOriginRedirect>(e) {
        return FetchError::RedirectRefused {
            url: shown,
            target: off.target.clone(),
        };
    }
    if find_source::<TooManyRedirects>(e).is_some() {
        return FetchError::TooManyRedirects { url: shown };
    }
    if e.is_redirect() {
        // A client not built by `http_client`, whose policy refused the redirect.
        return FetchError::RedirectNotFollowed { url: shown };
    }
    if e.is_timeout() {
        return FetchError::Timeout { url: shown };
    }
    if e.is_builder() {
        return FetchError::InvalidBaseUrl {
            url: shown,
            reason: "a request to it could not be built".to_owned(),
        };
    }
    let reason = if e.is_connect() {
        match io_kind(e) {
            Some(io::ErrorKind::ConnectionRefused) => "the connection was refused",
            _ => "no connection could be made",
        }
    } else {
        match io_kind(e) {
            Some(io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                "the connection was reset"
            }
            _ => "the connection failed",
        }
    };
    FetchError::Unreachable { url: shown, reason }
}

/// Maps an error while reading a body after `received` bytes.
fn body_error(e: &reqwest::Error, url: &Url, received: u64, expected: Option<u64>) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout { url: redacted(url) };
    }
    match io_kind(e) {
        Some(
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe,
        ) => FetchError::Unreachable {
            url: redacted(url),
            reason: "the connection was reset during the download",
        },
        // The server closed the connection before the announced length: truncated.
        _ => FetchError::Truncated {
            url: redacted(url),
            received,
            expected,
        },
    }
}

fn find_source<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

fn io_kind(e: &reqwest::Error) -> Option<io::ErrorKind> {
    find_source::<io::Error>(e).map(io::Error::kind)
}

/// Maps a non-success status of the listing or the package.
fn check_status(response: &reqwest::Response, url: &Url) -> Result<(), FetchError> {
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(FetchError::HttpStatus {
            url: redacted(url),
            status: status.as_u16(),
        })
    }
}

/// GETs `url` (following same-origin redirects only).
async fn get(
    client: &reqwest::Client,
    url: &Url,
    accept: &'static str,
) -> Result<reqwest::Response, FetchError> {
    client
        .get(url.clone())
        .header(ACCEPT, HeaderValue::from_static(accept))
        .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"))
        .send()
        .await
        .map_err(|e| request_error(&e, url))
}

/// Reads a small body, failing with `too_big` past `cap` bytes.
async fn read_capped(
    response: &mut reqwest::Response,
    url: &Url,
    cap: usize,
    too_big: impl Fn() -> FetchError,
) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(body_error(
                    &e,
                    url,
                    body.len() as u64,
                    response.content_length(),
                ));
            }
        }
    }
}

/// The listing at `url`: the folder's final URL (after same-origin redirects) and its files.
async fn fetch_listing(client: &reqwest::Client, url: &Url) -> Result<(Url, Listing), FetchError> {
    let mut response = get(client, url, "text/html, application/json;q=0.9, */*;q=0.1").await?;
    if matches!(response.status().as_u16(), 404 | 410) {
        return Err(FetchError::ListingNotFound { url: redacted(url) });
    }
    check_status(&response, url)?;
    let mut folder_url = response.url().clone();
    if !folder_url.path().ends_with('/') {
        // A server that answered without redirecting to the slash form: names are relative
        // to the folder we asked for.
        folder_url = url.clone();
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_capped(&mut response, url, MAX_LISTING_BYTES, || {
        FetchError::BadListing {
            url: redacted(url),
            reason: format!(
                "it is larger than {}",
                crate::error::bytes(MAX_LISTING_BYTES as u64)
            ),
        }
    })
    .await?;
    let listing = listing::parse_listing(content_type.as_deref(), &body).map_err(|e| {
        FetchError::BadListing {
            url: redacted(url),
            reason: e.to_string(),
        }
    })?;
    Ok((folder_url, listing))
}

/// The expected digest from the sidecar at `url`.
async fn fetch_sidecar(
    client: &reqwest::Client,
    url: &Url,
    file_name: &str,
    algorithm: DigestAlgorithm,
) -> Result<String, FetchError> {
    let bad = |reason: String| FetchError::BadSidecar {
        url: redacted(url),
        reason,
    };
    let mut response = get(client, url, "text/plain, */*;q=0.5").await?;
    match check_status(&response, url) {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e),
        Err(_) => {
            return Err(bad(format!(
                "it is listed but the server answered HTTP {}",
                response.status().as_u16()
            )));
        }
    }
    let body = read_capped(&mut response, url, MAX_SIDECAR_BYTES, || {
        bad(format!(
            "it is larger than {}",
            crate::error::bytes(MAX_SIDECAR_BYTES as u64)
        ))
    })
    .await?;
    let text = std::str::from_utf8(&body).map_err(|_| bad("it is not text".to_owned()))?;
    verify::parse_sidecar(text, file_name, algorithm).map_err(bad)
}

/// The streamed file, not yet renamed.
struct Written {
    work_dir: PathBuf,
    part_path: PathBuf,
    size: u64,
    sha256: String,
    md5: Option<String>,
}

/// Removes a folder tree when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = fs::remove_dir_all(&dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a failed download");
        }
    }
}

/// Creates `<dest_dir>/dl-<pid>-<time>-<n>` (never an existing folder).
fn create_unique_dir(dest_dir: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dest_dir)?;
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = dest_dir.join(format!("dl-{}-{nanos}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

enum Msg<B> {
    Data(B),
    Finish,
}

struct Digests {
    size: u64,
    sha256: String,
    md5: Option<String>,
}

/// The blocking writer: hashes and writes each chunk; on `Finish` flushes and fsyncs.
/// If the channel closes without `Finish` the download was abandoned: the file is removed.
fn write_chunks<B: AsRef<[u8]>>(
    path: &Path,
    mut rx: mpsc::Receiver<Msg<B>>,
    with_md5: bool,
) -> io::Result<Digests> {
    let file = fs::File::create_new(path)?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut sha256 = Sha256::new();
    let mut md5 = with_md5.then(Md5::new);
    let mut size = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(chunk)) => {
                let chunk = chunk.as_ref();
                sha256.update(chunk);
                if let Some(md5) = md5.as_mut() {
                    md5.update(chunk);
                }
                out.write_all(chunk)?;
                size += chunk.len() as u64;
            }
            Some(Msg::Finish) => break,
            None => {
                drop(out);
                let _ = fs::remove_file(path);
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "download abandoned",
                ));
            }
        }
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(Digests {
        size,
        sha256: hex::encode(sha256.finalize()),
        md5: md5.map(|m| hex::encode(m.finalize())),
    })
}

/// Streams `url` into `<unique dir>/<file_name>.part`.
async fn download(
    client: &reqwest::Client,
    url: &Url,
    file_name: &str,
    req: &PackageRequest<'_>,
    sidecar: Option<DigestAlgorithm>,
) -> Result<Written, FetchError> {
    let mut response = get(
        client,
        url,
        "application/gzip, application/octet-stream, */*;q=0.5",
    )
    .await?;
    check_status(&response, url)?;
    let expected = response.content_length();
    if let Some(length) = expected
        && length > req.max_bytes
    {
        return Err(FetchError::TooLarge {
            url: redacted(url),
            size: Some(length),
            limit: req.max_bytes,
        });
    }

    let dest_dir = req.dest_dir.to_path_buf();
    let work_dir = tokio::task::spawn_blocking(move || create_unique_dir(&dest_dir))
        .await
        .map_err(|_| {
            local_error(
                req.dest_dir,
                "the download folder could not be created".to_owned(),
            )
        })?
        .map_err(|e| {
            local_error(
                req.dest_dir,
                format!("the download folder could not be created ({})", e.kind()),
            )
        })?;
    let cleanup = RemoveOnDrop(Some(work_dir.clone()));
    let part_path = work_dir.join(format!("{file_name}.part"));

    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let writer_path = part_path.clone();
    let with_md5 = sidecar == Some(DigestAlgorithm::Md5);
    let writer = tokio::task::spawn_blocking(move || write_chunks(&writer_path, rx, with_md5));

    let mut received = 0u64;
    let streamed: Result<(), FetchError> = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > req.max_bytes {
                    break Err(FetchError::TooLarge {
                        url: redacted(url),
                        size: None,
                        limit: req.max_bytes,
                    });
                }
                if expected.is_some_and(|length| received > length) {
                    break Err(FetchError::Truncated {
                        url: redacted(url),
                        received,
                        expected,
                    });
                }
                if tx.send(Msg::Data(chunk)).await.is_err() {
                    break Ok(()); // the writer failed: its error is collected below
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(body_error(&e, url, received, expected)),
        }
    };
    drop(response); // stop receiving (closes the connection if the body was not finished)
    if let Err(e) = streamed {
        drop(tx);
        let _ = writer.await;
        return Err(e);
    }
    let _ = tx.send(Msg::Finish).await;
    drop(tx);
    let digests = writer
        .await
        .map_err(|_| local_error(&part_path, "the writer stopped unexpectedly".to_owned()))?
        .map_err(|e| {
            local_error(
                &part_path,
                format!("writing the file failed ({})", e.kind()),
            )
        })?;
    if let Some(length) = expected
        && digests.size != length
    {
        return Err(FetchError::Truncated {
            url: redacted(url),
            received: digests.size,
            expected,
        });
    }
    cleanup.disarm();
    Ok(Written {
        work_dir,
        part_path,
        size: digests.size,
        sha256: digests.sha256,
        md5: digests.md5,
    })
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
