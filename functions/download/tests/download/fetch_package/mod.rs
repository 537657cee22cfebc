//! `fetch_package` against a real HTTP server (axum on 127.0.0.1) serving real tar.gz files.
//!
//! Here: the `Env` fixture, the happy path and choosing the package from the listing;
//! integrity, network trouble and limits have their modules.

use crate::common;
use common::{Fault, TestServer};
use download::error::FetchError;
use download::fetch::{FetchedPackage, PackageRequest, fetch_package, http_client};
use shared::tasks::ErrorName;
use std::path::Path;
use std::time::Duration;
use url::Url;

mod integrity;
mod limits;
mod network;

const DIR: &str = "CDN/pass/20250613-master-abc/el7";
const GIB8: u64 = 8 << 30;

struct Env {
    server: TestServer,
    dest: tempfile::TempDir,
    client: reqwest::Client,
}

impl Env {
    async fn new() -> Self {
        Self::with_timeout(Duration::from_secs(5)).await
    }

    async fn with_timeout(timeout: Duration) -> Self {
        Self {
            server: TestServer::start().await,
            dest: tempfile::tempdir().unwrap(),
            client: http_client(timeout).unwrap(),
        }
    }

    /// Puts `bytes` as `DIR/name`; returns them.
    fn put(&self, name: &str, bytes: &[u8]) -> Vec<u8> {
        self.server.put(&format!("{DIR}/{name}"), bytes);
        bytes.to_vec()
    }

    /// The request path of `DIR/name` (decoded), for faults.
    fn route(&self, name: &str) -> String {
        format!("/pkgs/{DIR}/{name}")
    }

    async fn fetch(&self, service: &str) -> Result<FetchedPackage, FetchError> {
        self.fetch_with(&self.server.base_url(), DIR, service, GIB8)
            .await
    }

    async fn fetch_with(
        &self,
        base: &Url,
        path: &str,
        service: &str,
        max_bytes: u64,
    ) -> Result<FetchedPackage, FetchError> {
        let req = PackageRequest {
            base_url: base,
            package_path: path,
            service_name: service,
            dest_dir: self.dest.path(),
            max_bytes,
        };
        fetch_package(&self.client, &req).await
    }

    fn dest_is_empty(&self) -> bool {
        common::tree(self.dest.path()).is_empty()
    }

    fn package_hits(&self) -> Vec<String> {
        self.server
            .hits()
            .into_iter()
            .filter(|h| !h.ends_with('/'))
            .collect()
    }
}

fn assert_downloaded(got: &FetchedPackage, bytes: &[u8], dest: &Path) {
    assert_eq!(got.size, bytes.len() as u64);
    assert_eq!(got.sha256, common::sha256_hex(bytes));
    assert_eq!(
        std::fs::read(&got.path).unwrap(),
        bytes,
        "the file on disk is the served file"
    );
    assert!(
        got.path.starts_with(dest),
        "{:?} under {:?}",
        got.path,
        dest
    );
    assert_eq!(
        got.path.file_name().unwrap().to_str().unwrap(),
        got.file_name
    );
    let leftovers: Vec<String> = common::tree(dest)
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[track_caller]
fn assert_error(result: Result<FetchedPackage, FetchError>, name: ErrorName) -> FetchError {
    match result {
        Ok(p) => panic!("expected {name}, got a package: {p:?}"),
        Err(e) => {
            assert_eq!(e.error_name(), name, "{e:?}");
            e
        }
    }
}

#[tokio::test]
async fn happy_path() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.2.3.tar.gz", &common::package(200_000, 1));
    env.put("README.txt", b"hello");
    env.server.mkdir(&format!("{DIR}/debug"));

    let got = env.fetch("cds").await.unwrap();
    assert_downloaded(&got, &bytes, env.dest.path());
    assert_eq!(got.file_name, "cds-1.2.3.tar.gz");
    assert_eq!(
        got.url,
        format!("http://{}/pkgs/{DIR}/cds-1.2.3.tar.gz", env.server.addr)
    );
    assert_eq!(got.verified_with, None);
    // The base had no trailing slash: exactly one slash was added, nothing else was fetched.
    assert_eq!(
        env.server.hits(),
        [
            format!("/pkgs/{DIR}/"),
            format!("/pkgs/{DIR}/cds-1.2.3.tar.gz")
        ]
    );
}

#[tokio::test]
async fn base_url_with_trailing_slash_and_encoded_names() {
    let env = Env::new().await;
    let dir = "CDN/pass/2025 06 13#1/el7";
    let name = "cds-1.0 final+x%y.tar.gz";
    let bytes = common::package(10_000, 2);
    env.server.put(&format!("{dir}/{name}"), &bytes);
    let base = Url::parse(&format!("{}/", env.server.base_url())).unwrap();
    let got = env.fetch_with(&base, dir, "cds", GIB8).await.unwrap();
    assert_downloaded(&got, &bytes, env.dest.path());
    assert_eq!(got.file_name, name);
    assert_eq!(
        env.server.hits()[0],
        "/pkgs/CDN/pass/2025%2006%2013%231/el7/",
        "segments are percent-encoded, one slash between base and path"
    );
}

#[tokio::test]
async fn long_names_come_from_href_not_the_cut_text() {
    let env = Env::new().await;
    let name = "cds-1.2.3-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz";
    assert!(name.len() > 50);
    let bytes = env.put(name, &common::package(5_000, 3));
    let listing = common::nginx_html("/", &env.server.path(DIR));
    assert!(
        listing.contains("..&gt;</a>"),
        "the generator cuts the text like nginx: {listing}"
    );
    assert!(!listing.contains(&format!(">{name}<")));

    let got = env.fetch("cds").await.unwrap();
    assert_eq!(got.file_name, name);
    assert_downloaded(&got, &bytes, env.dest.path());
}

#[tokio::test]
async fn json_listing() {
    let env = Env::new().await;
    env.server.use_json();
    let bytes = env.put("cds-2.0.tgz", &common::package(5_000, 4));
    env.put("cds-1.0.tgz", &common::package(5_000, 5));
    env.server.mkdir(&format!("{DIR}/cds-9.tar.gz")); // a folder with a package-like name
    let got = env.fetch("cds").await.unwrap();
    assert_eq!(got.file_name, "cds-2.0.tgz");
    assert_downloaded(&got, &bytes, env.dest.path());
}

#[tokio::test]
async fn highest_version_wins() {
    let env = Env::new().await;
    let newest = common::now();
    for (name, mtime) in [
        ("cds-1.2.9.tar.gz", newest),
        ("cds-1.2.tar.gz", newest),
        ("cds-1.2.10.tar.gz", newest - 3600),
    ] {
        env.put(name, &common::package(2_000, mtime));
        env.server.set_mtime(&format!("{DIR}/{name}"), mtime);
    }
    let got = env.fetch("cds").await.unwrap();
    assert_eq!(got.file_name, "cds-1.2.10.tar.gz");
    assert_eq!(
        env.package_hits(),
        [env.route("cds-1.2.10.tar.gz")],
        "only the chosen file is downloaded"
    );
}

#[tokio::test]
async fn same_version_newest_wins() {
    let env = Env::new().await;
    env.put("cds-1.0.tar.gz", &common::package(2_000, 6));
    env.put("cds-1.0.tgz", &common::package(2_000, 7));
    env.server
        .set_mtime(&format!("{DIR}/cds-1.0.tar.gz"), 1_750_000_000);
    env.server
        .set_mtime(&format!("{DIR}/cds-1.0.tgz"), 1_760_000_000);
    assert_eq!(env.fetch("cds").await.unwrap().file_name, "cds-1.0.tgz");
}

#[tokio::test]
async fn service_prefix_needs_a_separator() {
    let env = Env::new().await;
    env.put("cdsx-9.tar.gz", &common::package(2_000, 8));
    env.put("cds2-9.tar.gz", &common::package(2_000, 9));
    env.put("cds_1.tgz", &common::package(2_000, 10));
    assert_eq!(env.fetch("cds").await.unwrap().file_name, "cds_1.tgz");
    assert_eq!(env.fetch("cdsx").await.unwrap().file_name, "cdsx-9.tar.gz");
}

#[tokio::test]
async fn no_match_lists_what_was_found() {
    let env = Env::new().await;
    env.put("cdsx-1.tar.gz", b"x");
    env.put("cds-1.zip", b"x");
    env.put("notes.txt", b"x");
    env.server.mkdir(&format!("{DIR}/el8"));
    let e = assert_error(env.fetch("cds").await, ErrorName::PackageNotFound);
    let m = e.to_string();
    for part in [
        "cdsx-1.tar.gz",
        "cds-1.zip",
        "notes.txt",
        "el8/",
        "\"cds\"",
        ".tar.gz or .tgz",
        DIR,
    ] {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
    assert!(env.package_hits().is_empty());
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn empty_folder() {
    let env = Env::new().await;
    env.server.mkdir(DIR);
    let e = assert_error(env.fetch("cds").await, ErrorName::PackageNotFound);
    assert!(e.to_string().contains("The folder is empty"), "{e}");
}

#[tokio::test]
async fn listing_404() {
    let env = Env::new().await;
    let e = assert_error(env.fetch("cds").await, ErrorName::PackageNotFound);
    assert!(matches!(e, FetchError::ListingNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(DIR), "{e}");
}

#[tokio::test]
async fn listing_links_to_other_hosts_are_ignored() {
    let env = Env::new().await;
    let other = TestServer::start().await;
    other.put(&format!("{DIR}/cds-9.tar.gz"), &common::package(1_000, 11));
    let html = format!(
        "<html><body><pre><a href=\"../\">../</a>\r\n<a href=\"http://{0}/pkgs/{DIR}/cds-9.tar.gz\">cds-9.tar.gz</a>\r\n<a href=\"//{0}/pkgs/{DIR}/cds-8.tar.gz\">cds-8.tar.gz</a>\r\n<a href=\"/pkgs/{DIR}/cds-7.tar.gz\">cds-7.tar.gz</a>\r\n</pre></body></html>",
        other.addr
    );
    env.server.fault(
        &format!("/pkgs/{DIR}/"),
        Fault::Body("text/html", html.clone()),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::PackageNotFound);
    assert!(
        e.to_string().contains("The folder is empty"),
        "absolute links are not files of the folder: {e}"
    );
    assert!(other.hits().is_empty());

    let bytes = env.put("cds-1.tar.gz", &common::package(1_000, 12));
    let html = html.replace(
        "</pre>",
        "<a href=\"cds-1.tar.gz\">cds-1.tar.gz</a>\r\n</pre>",
    );
    env.server
        .fault(&format!("/pkgs/{DIR}/"), Fault::Body("text/html", html));
    let got = env.fetch("cds").await.unwrap();
    assert_downloaded(&got, &bytes, env.dest.path());
    assert!(other.hits().is_empty(), "{:?}", other.hits());
}

#[tokio::test]
async fn not_a_listing() {
    let env = Env::new().await;
    env.server.fault(
        &format!("/pkgs/{DIR}/"),
        Fault::Body("application/json", "{\"error\": \"nope\"}".into()),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::ConfigError);
    assert!(matches!(e, FetchError::BadListing { .. }), "{e:?}");
}
