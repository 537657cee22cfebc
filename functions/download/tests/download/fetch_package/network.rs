//! Network trouble: server errors, refused connections, redirects, slow and stalled answers.

use super::*;
use crate::common;
use common::{Fault, TestServer};
use download::error::FetchError;
use download::fetch::{PackageRequest, fetch_package};
use shared::tasks::ErrorName;
use std::time::Duration;
use url::Url;

#[tokio::test]
async fn server_errors_are_transient() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(2_000, 23));
    env.server
        .fault(&env.route("cds-1.tar.gz"), Fault::Status(500));
    let e = assert_error(env.fetch("cds").await, ErrorName::Transient);
    assert!(e.to_string().contains("500"), "{e}");
    assert!(env.dest_is_empty());

    env.server
        .fault(&env.route("cds-1.tar.gz"), Fault::Status(429));
    assert_error(env.fetch("cds").await, ErrorName::Transient);

    env.server
        .fault(&format!("/pkgs/{DIR}/"), Fault::Status(503));
    assert_error(env.fetch("cds").await, ErrorName::Transient);

    env.server
        .fault(&format!("/pkgs/{DIR}/"), Fault::Status(403));
    assert_error(env.fetch("cds").await, ErrorName::ConfigError);
}

#[tokio::test]
async fn package_gone_after_listing() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", b"x");
    env.server
        .fault(&env.route("cds-1.tar.gz"), Fault::Status(404));
    assert_error(env.fetch("cds").await, ErrorName::PackageNotFound);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let env = Env::new().await;
    let base = Url::parse(&format!("http://127.0.0.1:{}/pkgs/", common::closed_port())).unwrap();
    let e = assert_error(
        env.fetch_with(&base, DIR, "cds", GIB8).await,
        ErrorName::Transient,
    );
    assert!(matches!(e, FetchError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("refused"), "{e}");
}

#[tokio::test]
async fn redirect_to_another_port_is_refused() {
    let env = Env::new().await;
    let other = TestServer::start().await;
    let bytes = common::package(2_000, 24);
    env.put("cds-1.tar.gz", &bytes);
    other.put(&format!("{DIR}/cds-1.tar.gz"), &bytes);
    env.server.fault(
        &env.route("cds-1.tar.gz"),
        Fault::Redirect(format!("http://{}/pkgs/{DIR}/cds-1.tar.gz", other.addr)),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::ConfigError);
    assert!(matches!(e, FetchError::RedirectRefused { .. }), "{e:?}");
    assert!(e.to_string().contains(&other.addr.to_string()), "{e}");
    assert!(
        other.hits().is_empty(),
        "the other server was never contacted"
    );
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn redirect_to_another_host_name_is_refused() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(2_000, 25));
    let port = env.server.addr.port();
    env.server.fault(
        &format!("/pkgs/{DIR}/"),
        Fault::Redirect(format!("http://localhost:{port}/pkgs/{DIR}/")),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::ConfigError);
    assert!(matches!(e, FetchError::RedirectRefused { .. }), "{e:?}");
    assert_eq!(env.server.hits().len(), 1);
}

#[tokio::test]
async fn redirect_within_the_same_server_is_followed() {
    let env = Env::new().await;
    let bytes = common::package(2_000, 26);
    env.put("cds-1.tar.gz", &bytes);
    env.server.put("mirror/cds-1.tar.gz", &bytes);
    env.server.fault(
        &env.route("cds-1.tar.gz"),
        Fault::Redirect("/pkgs/mirror/cds-1.tar.gz".into()),
    );
    let got = env.fetch("cds").await.unwrap();
    assert_downloaded(&got, &bytes, env.dest.path());
}

#[tokio::test]
async fn redirect_loop_is_stopped() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", b"x");
    env.server.fault(
        &env.route("cds-1.tar.gz"),
        Fault::Redirect(format!("/pkgs/{DIR}/cds-1.tar.gz")),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::ConfigError);
    assert!(matches!(e, FetchError::TooManyRedirects { .. }), "{e:?}");
}

#[tokio::test]
async fn slow_answer_is_transient() {
    let env = Env::with_timeout(Duration::from_millis(300)).await;
    env.put("cds-1.tar.gz", &common::package(2_000, 27));
    env.server.fault(
        &format!("/pkgs/{DIR}/"),
        Fault::Slow(Duration::from_secs(3)),
    );
    let started = std::time::Instant::now();
    let e = assert_error(env.fetch("cds").await, ErrorName::Transient);
    assert!(matches!(e, FetchError::Timeout { .. }), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stalled_body_is_transient() {
    let env = Env::with_timeout(Duration::from_millis(300)).await;
    env.put("cds-1.tar.gz", &common::package(20_000, 28));
    env.server.fault(
        &env.route("cds-1.tar.gz"),
        Fault::StallBody(Duration::from_secs(3)),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::Transient);
    assert!(matches!(e, FetchError::Timeout { .. }), "{e:?}");
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn callers_own_client_refusing_redirects() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(2_000, 34));
    env.server.fault(
        &env.route("cds-1.tar.gz"),
        Fault::Redirect("/pkgs/elsewhere.tar.gz".into()),
    );
    let base = env.server.base_url();
    let req = PackageRequest {
        base_url: &base,
        package_path: DIR,
        service_name: "cds",
        dest_dir: env.dest.path(),
        max_bytes: GIB8,
    };
    let refusing = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|a| {
            a.error("no redirects")
        }))
        .build()
        .unwrap();
    let e = assert_error(fetch_package(&refusing, &req).await, ErrorName::ConfigError);
    assert!(matches!(e, FetchError::RedirectNotFollowed { .. }), "{e:?}");
    let stopping = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let e = assert_error(fetch_package(&stopping, &req).await, ErrorName::ConfigError);
    assert!(e.to_string().contains("HTTP 302"), "{e}");
    assert!(env.dest_is_empty());
}
