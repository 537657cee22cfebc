use std::time::Duration;

/// The HTTP client every task uses: rustls, no proxy from the environment, a connect
/// timeout, and redirects followed only within the same scheme, host and port — so a
/// package server or test server cannot send CRAT to another host.
pub fn http_client() -> reqwest::Client {
    let same_origin = reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if !same {
            attempt.error("redirect to another host refused")
        } else if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(same_origin)
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("crat/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
