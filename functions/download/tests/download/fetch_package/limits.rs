//! Size limits, the destination folder and requests that cannot be served.

use super::*;
use crate::common;
use common::Fault;
use download::error::FetchError;
use download::fetch::{PackageRequest, fetch_package};
use shared::tasks::ErrorName;
use url::Url;

#[tokio::test]
async fn max_bytes_from_content_length() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(100_000, 29));
    let e = assert_error(
        env.fetch_with(&env.server.base_url(), DIR, "cds", 50_000)
            .await,
        ErrorName::IntegrityError,
    );
    assert!(
        matches!(e, FetchError::TooLarge { size: Some(n), limit: 50_000, .. } if n == bytes.len() as u64),
        "{e:?}"
    );
    assert!(env.dest_is_empty(), "{:?}", common::tree(env.dest.path()));
}

#[tokio::test]
async fn max_bytes_while_streaming() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(1_000_000, 30));
    env.server.fault(&env.route("cds-1.tar.gz"), Fault::Chunked);
    // A listing that shows no exact size (like `autoindex_exact_size off`).
    let html = "<pre><a href=\"cds-1.tar.gz\">cds-1.tar.gz</a>  13-Jun-2025 10:00   1M\r\n</pre>";
    env.server.fault(
        &format!("/pkgs/{DIR}/"),
        Fault::Body("text/html", html.into()),
    );
    let e = assert_error(
        env.fetch_with(&env.server.base_url(), DIR, "cds", 200_000)
            .await,
        ErrorName::IntegrityError,
    );
    assert!(
        matches!(e, FetchError::TooLarge { size: None, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("stopped"), "{e}");
    assert!(env.dest_is_empty(), "{:?}", common::tree(env.dest.path()));
}

#[tokio::test]
async fn max_bytes_from_the_listing_size() {
    let env = Env::new().await;
    env.server.use_json();
    env.put("cds-1.tar.gz", &common::package(100_000, 31));
    let e = assert_error(
        env.fetch_with(&env.server.base_url(), DIR, "cds", 50_000)
            .await,
        ErrorName::IntegrityError,
    );
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e:?}");
    assert!(env.package_hits().is_empty(), "refused before downloading");
}

#[tokio::test]
async fn concurrent_downloads_do_not_clobber() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(100_000, 32));
    let (a, b) = tokio::join!(env.fetch("cds"), env.fetch("cds"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.path, b.path);
    assert_downloaded(&a, &bytes, env.dest.path());
    assert_downloaded(&b, &bytes, env.dest.path());
}

#[tokio::test]
async fn dest_dir_is_created() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(1_000, 33));
    let dest = env.dest.path().join("a/b/c");
    let base = env.server.base_url();
    let req = PackageRequest {
        base_url: &base,
        package_path: DIR,
        service_name: "cds",
        dest_dir: &dest,
        max_bytes: GIB8,
    };
    let got = fetch_package(&env.client, &req).await.unwrap();
    assert_downloaded(&got, &bytes, &dest);
}

#[tokio::test]
async fn unusable_requests() {
    let env = Env::new().await;
    let ftp = Url::parse("ftp://127.0.0.1/pkgs/").unwrap();
    let e = assert_error(
        env.fetch_with(&ftp, DIR, "cds", GIB8).await,
        ErrorName::ConfigError,
    );
    assert!(matches!(e, FetchError::InvalidBaseUrl { .. }), "{e:?}");
    assert_error(
        env.fetch_with(&env.server.base_url(), "CDN/../etc", "cds", GIB8)
            .await,
        ErrorName::ConfigError,
    );
    assert_error(env.fetch("").await, ErrorName::ConfigError);
    assert!(env.server.hits().is_empty());
}
