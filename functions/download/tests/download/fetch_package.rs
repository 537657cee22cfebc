//! `fetch_package` against a real HTTP server (axum on 127.0.0.1) serving real tar.gz files.

use crate::common;

use shared::tasks::ErrorName;
use std::path::Path;
use std::time::Duration;

use common::{Fault, TestServer};
use download::error::FetchError;
use download::fetch::{FetchedPackage, PackageRequest, fetch_package, http_client};
use url::Url;

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

#[tokio::test]
async fn truncated_body_is_an_integrity_error() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(100_000, 13));
    env.server
        .fault(&env.route("cds-1.tar.gz"), Fault::Truncate);
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(matches!(e, FetchError::Truncated { .. }), "{e:?}");
    assert!(e.to_string().contains("incomplete"), "{e}");
    assert!(env.dest_is_empty(), "{:?}", common::tree(env.dest.path()));
}

#[tokio::test]
async fn chunked_download_without_content_length_works() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(300_000, 14));
    env.server.fault(&env.route("cds-1.tar.gz"), Fault::Chunked);
    let got = env.fetch("cds").await.unwrap();
    assert_downloaded(&got, &bytes, env.dest.path());
}

#[tokio::test]
async fn corrupt_gzip_is_an_integrity_error() {
    let env = Env::new().await;
    let mut bytes = common::package(50_000, 15);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    env.put("cds-1.tar.gz", &bytes);
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(matches!(e, FetchError::Corrupt { .. }), "{e:?}");
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn not_gzip_is_an_integrity_error() {
    let env = Env::new().await;
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_cksum();
    tar.append_data(&mut h, "a", &b"abc"[..]).unwrap();
    env.put("cds-1.tar.gz", &tar.into_inner().unwrap()); // a plain tar
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(e.to_string().contains("not a gzip file"), "{e}");
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn gzip_of_garbage_is_an_integrity_error() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::gzip(&common::noise(20_000, 16)));
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(e.to_string().contains("tar archive"), "{e}");
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn sha256_sidecar_match() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(20_000, 17));
    env.put(
        "cds-1.tar.gz.sha256",
        format!(
            "{}  cds-1.tar.gz\n",
            common::sha256_hex(&bytes).to_uppercase()
        )
        .as_bytes(),
    );
    let got = env.fetch("cds").await.unwrap();
    assert_eq!(got.verified_with.as_deref(), Some("sha256"));
    assert_downloaded(&got, &bytes, env.dest.path());
}

#[tokio::test]
async fn sha256_sidecar_bsd_format_match() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(20_000, 18));
    env.put(
        "cds-1.tar.gz.sha256",
        format!("SHA256 (cds-1.tar.gz) = {}\n", common::sha256_hex(&bytes)).as_bytes(),
    );
    assert_eq!(
        env.fetch("cds").await.unwrap().verified_with.as_deref(),
        Some("sha256")
    );
}

#[tokio::test]
async fn sha256_sidecar_mismatch() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(20_000, 19));
    env.put(
        "cds-1.tar.gz.sha256",
        common::sha256_hex(b"something else").as_bytes(),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(
        matches!(
            e,
            FetchError::DigestMismatch {
                algorithm: "sha256",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(env.dest_is_empty());
}

#[tokio::test]
async fn md5_sidecar_match_and_mismatch() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(20_000, 20));
    env.put("cds-1.tar.gz.md5", common::md5_hex(&bytes).as_bytes());
    assert_eq!(
        env.fetch("cds").await.unwrap().verified_with.as_deref(),
        Some("md5")
    );

    env.put(
        "cds-1.tar.gz.md5",
        format!("{}  cds-1.tar.gz", common::md5_hex(b"other")).as_bytes(),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(
        matches!(
            e,
            FetchError::DigestMismatch {
                algorithm: "md5",
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn sha256_sidecar_is_preferred_over_md5() {
    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &common::package(20_000, 21));
    env.put("cds-1.tar.gz.sha256", common::sha256_hex(&bytes).as_bytes());
    env.put("cds-1.tar.gz.md5", common::md5_hex(b"wrong").as_bytes());
    assert_eq!(
        env.fetch("cds").await.unwrap().verified_with.as_deref(),
        Some("sha256")
    );
    assert!(!env.server.hits().iter().any(|h| h.ends_with(".md5")));
}

#[tokio::test]
async fn unreadable_sidecars() {
    let env = Env::new().await;
    env.put("cds-1.tar.gz", &common::package(20_000, 22));
    env.put("cds-1.tar.gz.sha256", b"this is not a digest");
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(matches!(e, FetchError::BadSidecar { .. }), "{e:?}");

    env.put("cds-1.tar.gz.sha256", &vec![b'a'; 5000]);
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(e.to_string().contains("larger than"), "{e}");

    env.server
        .fault(&env.route("cds-1.tar.gz.sha256"), Fault::Status(404));
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(e.to_string().contains("404"), "{e}");

    env.server
        .fault(&env.route("cds-1.tar.gz.sha256"), Fault::Status(503));
    assert_error(env.fetch("cds").await, ErrorName::Transient);
    assert!(env.dest_is_empty());
}

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
