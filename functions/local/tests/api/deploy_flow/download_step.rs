//! Runs that fail at DOWNLOAD: no matching package, broken packages.

use super::*;
use crate::common;
use common::Backend;
use common::peers::tar_gz;
use serde_json::json;
use shared::tasks::ErrorName;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_package_fails_at_download_listing_what_was_found() {
    let f = setup(Backend::Sqlite).await.unwrap();
    f.peers.add_package(PKG_DIR, "sds-1.0.0.tar.gz");
    f.peers.add_file(PKG_DIR, "notes.txt", b"hi");
    let run = f.fails_at("DOWNLOAD").await;
    let msg = run["error_message"].as_str().unwrap();
    assert!(
        msg.contains("sds-1.0.0.tar.gz") && msg.contains("cds"),
        "{msg}"
    );
    assert_eq!(
        run["steps"][0]["details"]["error_name"],
        ErrorName::PackageNotFound.as_str()
    );
    assert!(
        f.peers.tasks().await.is_empty(),
        "nothing was sent to the test server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_packages_fail_at_download() {
    let f = setup(Backend::Sqlite).await.unwrap();
    let file = "cds-1.0.0.tar.gz";
    let path = format!("/{PKG_DIR}/{file}");
    // Truncated: the full Content-Length, half the bytes.
    f.peers.add_package(PKG_DIR, file);
    f.peers
        .package_fault(json!({"path": path, "fault": "truncate"}))
        .await;
    let run = f.fails_at("DOWNLOAD").await;
    assert_eq!(
        run["steps"][0]["details"]["error_name"],
        ErrorName::IntegrityError.as_str(),
        "{run}"
    );

    // Not gzip at all.
    f.peers.clear_package_faults().await;
    f.peers
        .add_file(PKG_DIR, file, b"this is not a gzip file at all, just text");
    let run = f.fails_at("DOWNLOAD").await;
    assert_eq!(
        run["steps"][0]["details"]["error_name"],
        ErrorName::IntegrityError.as_str(),
        "{run}"
    );

    // A sound package whose sha256 sidecar disagrees.
    let good = tar_gz(&[("a", b"aaaa")]);
    f.peers.add_file(PKG_DIR, file, &good);
    f.peers.add_file(
        PKG_DIR,
        &format!("{file}.sha256"),
        format!("{}  {file}\n", "0".repeat(64)).as_bytes(),
    );
    let run = f.fails_at("DOWNLOAD").await;
    assert_eq!(
        run["steps"][0]["details"]["error_name"],
        ErrorName::IntegrityError.as_str(),
        "{run}"
    );
    assert!(
        run["error_message"].as_str().unwrap().contains("sha256"),
        "{run}"
    );
    assert!(f.peers.tasks().await.is_empty());
}
