//! The small GETs of a fetch (the listing, a checksum sidecar) and how request, status
//! and body errors become [`FetchError`]s; shared with the package stream.

use std::io;

use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderValue};
use url::Url;

use super::{MAX_LISTING_BYTES, MAX_SIDECAR_BYTES};
use crate::error::FetchError;
use crate::listing::{self, Listing};
use crate::verify::{self, DigestAlgorithm};
use shared::tasks::http::{OffOriginRedirect, TooManyRedirects, redacted};

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
pub(super) fn body_error(
    e: &reqwest::Error,
    url: &Url,
    received: u64,
    expected: Option<u64>,
) -> FetchError {
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
pub(super) fn check_status(response: &reqwest::Response, url: &Url) -> Result<(), FetchError> {
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
pub(super) async fn get(
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
pub(super) async fn fetch_listing(
    client: &reqwest::Client,
    url: &Url,
) -> Result<(Url, Listing), FetchError> {
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
pub(super) async fn fetch_sidecar(
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
