//! The one HTTP client of the task functions (package server, test server).

use std::time::Duration;

use url::Url;

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// The HTTP client for the outside servers (build it once and share it): rustls, no proxy
/// from the environment, `timeout` as connect timeout and as read timeout (a stall of that
/// long between two reads fails the request; a long download that keeps receiving data is
/// never cut), no `Referer`, and redirects followed only to the same scheme, host and port
/// as the original request, at most [`MAX_REDIRECTS`] hops — so an outside server cannot
/// send CRAT to another host. A refused redirect carries [`OffOriginRedirect`] in the
/// error's source chain.
///
/// Fails only if the TLS backend cannot be initialised; there is no fallback client,
/// since any other client would not keep the same-origin rule.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(same_origin_redirects())
        .no_proxy()
        .referer(false)
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .user_agent(concat!("crat/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the HTTP client could not be built (TLS): {e}"))
}

/// The redirect target refused by the client's policy (found again in the error chain).
#[derive(Debug, thiserror::Error)]
#[error("redirect to {target} refused: another scheme, host or port")]
pub struct OffOriginRedirect {
    pub target: String,
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
pub struct TooManyRedirects;

fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if !same {
            let target = redacted(attempt.url());
            attempt.error(OffOriginRedirect { target })
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(TooManyRedirects)
        } else {
            attempt.follow()
        }
    })
}

/// The largest answer read from the test server (trigger, poll): 1 MiB. A bigger one is a
/// clear error, never read into memory whole.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the answer was cut off")]
    Cut,
    #[error("the answer took too long to arrive")]
    TimedOut,
}

/// The body of `response`, at most `max` bytes: refused as soon as `Content-Length` or
/// the bytes received so far pass `max` (the rest is never read).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge { max });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(BodyError::TooLarge { max });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(BodyError::TimedOut),
            Err(_) => return Err(BodyError::Cut),
        }
    }
}

pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The URL as shown in messages: without a password.
pub fn redacted(url: &Url) -> String {
    if url.password().is_some() {
        let mut u = url.clone();
        let _ = u.set_password(None);
        u.to_string()
    } else {
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origins() {
        assert!(same_origin(&base("http://h/a"), &base("http://h:80/b")));
        assert!(!same_origin(&base("http://h/a"), &base("https://h/a")));
        assert!(!same_origin(&base("http://h:1/a"), &base("http://h:2/a")));
        assert!(!same_origin(
            &base("http://127.0.0.1/a"),
            &base("http://localhost/a")
        ));
        assert_eq!(redacted(&base("http://u:p@h/x")), "http://u@h/x");
    }
}
