//! Integrity: truncated bodies, broken archives and the checksum sidecars.

use super::*;
use crate::common;
use common::Fault;
use download::error::FetchError;
use shared::tasks::ErrorName;

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

/// The archive check runs while the body arrives and fails early on a damaged archive; the
/// download goes on all the same, so the failures keep their order: truncated first, then
/// the sidecar's digest, then the archive.
#[tokio::test]
async fn a_damaged_archive_does_not_hide_earlier_failures() {
    // Far more than the chunks the check's channel holds: the check gives up mid-body.
    let not_gzip = common::noise(4 << 20, 23);

    let env = Env::new().await;
    env.put("cds-1.tar.gz", &not_gzip);
    env.put(
        "cds-1.tar.gz.sha256",
        common::sha256_hex(b"something else").as_bytes(),
    );
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(matches!(e, FetchError::DigestMismatch { .. }), "{e:?}");
    assert!(env.dest_is_empty());

    let env = Env::new().await;
    env.put("cds-1.tar.gz", &not_gzip);
    env.server
        .fault(&env.route("cds-1.tar.gz"), Fault::Truncate);
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(matches!(e, FetchError::Truncated { .. }), "{e:?}");
    assert!(env.dest_is_empty());

    let env = Env::new().await;
    let bytes = env.put("cds-1.tar.gz", &not_gzip);
    env.put("cds-1.tar.gz.sha256", common::sha256_hex(&bytes).as_bytes());
    let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
    assert!(e.to_string().contains("not a gzip file"), "{e}");
    assert!(env.dest_is_empty());
}

/// A small file that inflates past the bound (100× its size, at least 64 MiB) is refused,
/// with a `Content-Length` (the bound is known from the start) and without one (chunked:
/// the check streams under the size cap's bound, then the final size's bound applies).
#[tokio::test]
async fn decompression_bomb_is_refused_with_and_without_content_length() {
    use std::io::Read;
    let bomb = {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::best(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(65 << 20);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "cds/zeros", std::io::repeat(0).take(65 << 20))
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    };
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    for chunked in [false, true] {
        let env = Env::new().await;
        env.put("cds-1.tar.gz", &bomb);
        if chunked {
            env.server.fault(&env.route("cds-1.tar.gz"), Fault::Chunked);
        }
        let e = assert_error(env.fetch("cds").await, ErrorName::IntegrityError);
        assert!(
            matches!(e, FetchError::Corrupt { .. }),
            "chunked {chunked}: {e:?}"
        );
        assert!(
            e.to_string()
                .contains("decompresses to more than 67108864 bytes"),
            "chunked {chunked}: {e}"
        );
        assert!(env.dest_is_empty());
    }
}
