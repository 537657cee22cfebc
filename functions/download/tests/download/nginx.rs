//! Against a real nginx with `autoindex` (HTML and `autoindex_format json`), when an
//! `nginx` binary is installed (`apt-get install -y nginx-light`); skipped otherwise.
//! The test starts nginx itself on 127.0.0.1 (foreground, single process) and stops it.

use crate::common;

use shared::tasks::ErrorName;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use download::fetch::{PackageRequest, fetch_package, http_client};
use download::listing;
use url::Url;

struct Nginx {
    child: Child,
    port: u16,
    _prefix: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn start_nginx(binary: &Path) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().to_path_buf();
    let root = p.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(p.join("tmp")).unwrap();
    let port = common::closed_port();
    let d = p.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
         fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
         default_type application/octet-stream;\n\
         server {{\n    listen 127.0.0.1:{port};\n\
         location /pkgs/ {{ alias {d}/www/; autoindex on; }}\n\
         location /json/ {{ alias {d}/www/; autoindex on; autoindex_format json; }}\n  }}\n}}\n"
    );
    std::fs::write(p.join("nginx.conf"), conf).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(&p)
        .arg("-c")
        .arg(p.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx {
        child,
        port,
        _prefix: prefix,
        root,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {:?}",
            std::fs::read_to_string(p.join("error.log"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[tokio::test]
async fn real_nginx_autoindex() {
    let Some(binary) = nginx_binary() else {
        eprintln!("nginx is not installed: skipped");
        return;
    };
    let nginx = start_nginx(&binary);
    let put = |rel: &str, bytes: &[u8]| {
        let path = nginx.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let long = "cds-1.2.10-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz";
    let long_pkg = common::package(30_000, 1);
    put(&format!("CDN/pass/a/el7/{long}"), &long_pkg);
    put(
        &format!("CDN/pass/a/el7/{long}.sha256"),
        common::sha256_hex(&long_pkg).as_bytes(),
    );
    put(
        "CDN/pass/a/el7/cds-1.2.9-build-20250613-master-abcdef0123456789-el7-x86_64.tar.gz",
        b"older",
    );
    put("CDN/pass/a/el7/cdsx-9.tar.gz", b"other service");
    std::fs::create_dir_all(nginx.root.join("CDN/pass/a/el7/debug")).unwrap();
    let odd = "cds-2.0 a&b:c %41<x>.tar.gz";
    let odd_pkg = common::package(5_000, 2);
    put(&format!("CDN/pass/b c/{odd}"), &odd_pkg);

    let client = http_client(Duration::from_secs(5)).unwrap();
    let dest = tempfile::tempdir().unwrap();

    // The raw listing parses to the real names, exact sizes and times.
    let folder = format!("http://127.0.0.1:{}/pkgs/CDN/pass/a/el7/", nginx.port);
    let html = client
        .get(&folder)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("..&gt;</a>"),
        "nginx cut the long name's text: {html}"
    );
    let parsed = listing::parse_html(&html);
    let entry = parsed.file(long).unwrap();
    assert_eq!(entry.size, Some(long_pkg.len() as u64));
    assert!(
        entry.mtime.unwrap().abs_diff(common::now() as i64) < 120,
        "{entry:?}"
    );
    assert_eq!(parsed.directories, ["debug"]);
    assert_eq!(parsed.files.len(), 4);

    for prefix in ["pkgs", "json"] {
        let base = Url::parse(&format!("http://127.0.0.1:{}/{prefix}", nginx.port)).unwrap();
        let fetch = |path: &'static str| {
            let (base, dest, client) = (base.clone(), dest.path().to_path_buf(), client.clone());
            async move {
                let req = PackageRequest {
                    base_url: &base,
                    package_path: path,
                    service_name: "cds",
                    dest_dir: &dest,
                    max_bytes: 1 << 30,
                };
                fetch_package(&client, &req).await
            }
        };
        let got = fetch("CDN/pass/a/el7").await.unwrap();
        assert_eq!(got.file_name, long, "{prefix}");
        assert_eq!(got.verified_with.as_deref(), Some("sha256"), "{prefix}");
        assert_eq!(std::fs::read(&got.path).unwrap(), long_pkg);

        let got = fetch("CDN/pass/b c").await.unwrap();
        assert_eq!(got.file_name, odd, "{prefix}");
        assert_eq!(std::fs::read(&got.path).unwrap(), odd_pkg);

        let e = fetch("CDN/pass/missing").await.unwrap_err();
        assert_eq!(e.error_name(), ErrorName::PackageNotFound, "{prefix}: {e}");
    }
}
