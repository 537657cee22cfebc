//! Bounded memory: a package much larger than the allowed growth of the process's peak
//! resident memory downloads and verifies. Measured in a process of its own, so that no
//! other test runs in it while the peak is measured: the test runs this test binary again
//! with only the (otherwise ignored) measurement. Linux only (/proc/self).

use crate::common;

#[cfg(target_os = "linux")]
#[test]
fn download_memory_is_bounded() {
    const MEASUREMENT: &str = "memory::peak_growth_of_one_download";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([MEASUREMENT, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{MEASUREMENT} failed:\n{stdout}");
    assert!(
        stdout.contains("1 passed"),
        "{MEASUREMENT} did not run:\n{stdout}"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "run alone in a child process by download_memory_is_bounded"]
async fn peak_growth_of_one_download() {
    use std::io::{Read, Write};
    use std::time::Duration;

    use common::TestServer;
    use download::fetch::{PackageRequest, fetch_package, http_client};

    const PAYLOAD: u64 = 64 << 20;
    const ALLOWED_GROWTH_KIB: u64 = 24 << 10;

    fn status_kib(field: &str) -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    let server = TestServer::start().await;
    let rel = "big/el7/cds-1.0.tar.gz";
    // Written as a stream too (stored gzip blocks: quick even in a debug build).
    let path = server.path(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::none());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(PAYLOAD);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "cds/blob", std::io::repeat(0x42).take(PAYLOAD))
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();

    // Reset the peak (Linux >= 4.0); if not allowed, the current peak is the baseline.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let baseline = if reset {
        status_kib("VmRSS:")
    } else {
        status_kib("VmHWM:")
    };

    let dest = tempfile::tempdir().unwrap();
    let base = server.base_url();
    let client = http_client(Duration::from_secs(30)).unwrap();
    let req = PackageRequest {
        base_url: &base,
        package_path: "big/el7",
        service_name: "cds",
        dest_dir: dest.path(),
        max_bytes: 1 << 30,
    };
    let got = fetch_package(&client, &req).await.unwrap();
    assert_eq!(got.size, size);
    let growth = status_kib("VmHWM:").saturating_sub(baseline);
    eprintln!(
        "package {} MiB, peak resident growth {} KiB (peak reset: {reset})",
        size >> 20,
        growth
    );
    assert!(
        growth < ALLOWED_GROWTH_KIB,
        "peak resident memory grew by {growth} KiB for a {size}-byte package"
    );

    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut f = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut sha, &buf[..n]);
    }
    assert_eq!(got.sha256, hex::encode(sha2::Digest::finalize(sha)));
}
