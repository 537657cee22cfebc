//! Runs the download step's core once, for `bench/download.sh`:
//! `fetch_package BASE_URL PACKAGE_PATH SERVICE DEST_DIR` prints the result as JSON.

use std::path::Path;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, path, service, dest] = args.as_slice() else {
        return Err("usage: fetch_package BASE_URL PACKAGE_PATH SERVICE DEST_DIR".into());
    };
    let base = url::Url::parse(base)?;
    let client = shared::tasks::http::http_client(shared::tasks::HTTP_STALL_TIMEOUT)?;
    let request = download::fetch::PackageRequest {
        base_url: &base,
        package_path: path,
        service_name: service,
        dest_dir: Path::new(dest),
        max_bytes: download::task::MAX_PACKAGE_BYTES,
    };
    let started = Instant::now();
    let fetched = download::fetch::fetch_package(&client, &request).await?;
    println!(
        "{{\"file\":\"{}\",\"size\":{},\"sha256\":\"{}\",\"seconds\":{:.3}}}",
        fetched.file_name,
        fetched.size,
        fetched.sha256,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
