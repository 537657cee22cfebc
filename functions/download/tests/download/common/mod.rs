//! A real HTTP package server for the tests: axum on 127.0.0.1:0 serving a temp folder
//! under `/pkgs/` with nginx-style autoindex listings (HTML, or JSON when switched), plus
//! per-path faults. And helpers that build real tar.gz files.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;
use url::Url;

/// What to do instead of serving a path normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with a short body.
    Status(u16),
    /// Full `Content-Length`, half of the body, then the connection is dropped.
    Truncate,
    /// No `Content-Length` (chunked transfer encoding).
    Chunked,
    /// 302 to this location.
    Redirect(String),
    /// Wait this long before answering.
    Slow(Duration),
    /// Send the headers and the first 1 KiB, then wait this long before the rest.
    StallBody(Duration),
    /// Serve this body with this content type instead.
    Body(&'static str, String),
}

struct Shared {
    root: PathBuf,
    json: AtomicBool,
    faults: Mutex<HashMap<String, Fault>>,
    hits: Mutex<Vec<String>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared {
            root: dir.path().to_path_buf(),
            json: AtomicBool::new(false),
            faults: Mutex::new(HashMap::new()),
            hits: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            _dir: dir,
            shared,
        }
    }

    /// `http://127.0.0.1:PORT/pkgs` (no trailing slash).
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/pkgs", self.addr)).unwrap()
    }

    /// Writes `bytes` at `rel` (under the served `/pkgs/` folder).
    pub fn put(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path(rel)).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.shared.root.join(rel)
    }

    pub fn set_mtime(&self, rel: &str, unix: u64) {
        let f = std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(unix))
            .unwrap();
    }

    /// Listings in `autoindex_format json` from now on.
    pub fn use_json(&self) {
        self.shared.json.store(true, Ordering::SeqCst);
    }

    /// A fault for the request path (decoded), e.g. `/pkgs/el7/cds-1.tar.gz`.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .insert(path.to_owned(), fault);
    }

    /// Request paths received so far (raw, percent-encoded as sent).
    pub fn hits(&self) -> Vec<String> {
        self.shared.hits.lock().unwrap().clone()
    }
}

async fn handle(State(st): State<Arc<Shared>>, uri: Uri) -> Response {
    let raw = uri.path().to_owned();
    st.hits.lock().unwrap().push(raw.clone());
    let path = percent_decode(&raw);
    let fault = st.faults.lock().unwrap().get(&path).cloned();
    match fault {
        Some(Fault::Status(code)) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                format!("status {code}\n"),
            )
                .into_response();
        }
        Some(Fault::Redirect(location)) => {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, location)
                .body(Body::empty())
                .unwrap();
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Body(content_type, body)) => {
            return ([(header::CONTENT_TYPE, content_type)], body).into_response();
        }
        _ => {}
    }
    let Some(rel) = path.strip_prefix("/pkgs/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if rel.split('/').any(|s| s == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let fs_path = st.root.join(rel);
    if path.ends_with('/') {
        if !fs_path.is_dir() {
            return (
                StatusCode::NOT_FOUND,
                "<html><body>404 Not Found</body></html>",
            )
                .into_response();
        }
        return if st.json.load(Ordering::SeqCst) {
            (
                [(header::CONTENT_TYPE, "application/json")],
                nginx_json(&fs_path),
            )
                .into_response()
        } else {
            (
                [(header::CONTENT_TYPE, "text/html")],
                nginx_html(&path, &fs_path),
            )
                .into_response()
        };
    }
    if fs_path.is_dir() {
        return Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, format!("{raw}/"))
            .body(Body::empty())
            .unwrap();
    }
    if !fs_path.is_file() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let len = std::fs::metadata(&fs_path).unwrap().len();
    let base = Response::builder().header(header::CONTENT_TYPE, "application/octet-stream");
    match fault {
        Some(Fault::Truncate) => {
            let bytes = std::fs::read(&fs_path).unwrap();
            let half = bytes[..bytes.len() / 2].to_vec();
            // The pause lets the headers and the first half reach the client before the drop.
            let body = stream::iter(vec![Ok::<_, io::Error>(half)]).chain(stream::once(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(io::Error::other("simulated drop"))
            }));
            base.header(header::CONTENT_LENGTH, len)
                .body(Body::from_stream(body))
                .unwrap()
        }
        Some(Fault::Chunked) => base.body(Body::from_stream(file_stream(fs_path))).unwrap(),
        Some(Fault::StallBody(d)) => {
            let bytes = std::fs::read(&fs_path).unwrap();
            let (head, tail) = bytes.split_at(bytes.len().min(1024));
            let (head, tail) = (head.to_vec(), tail.to_vec());
            let body =
                stream::iter(vec![Ok::<_, io::Error>(head)]).chain(stream::once(async move {
                    tokio::time::sleep(d).await;
                    Ok(tail)
                }));
            base.header(header::CONTENT_LENGTH, len)
                .body(Body::from_stream(body))
                .unwrap()
        }
        _ => base
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from_stream(file_stream(fs_path)))
            .unwrap(),
    }
}

/// The file in 64 KiB chunks, read as the client consumes them (the server never holds
/// the whole file either).
fn file_stream(
    path: PathBuf,
) -> impl futures_util::Stream<Item = io::Result<Vec<u8>>> + Send + 'static {
    let file = std::fs::File::open(path).unwrap();
    stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

struct Item {
    name: String,
    dir: bool,
    mtime: u64,
    size: u64,
}

fn items(dir: &Path) -> Vec<Item> {
    let mut items: Vec<Item> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            Item {
                name: e.file_name().into_string().unwrap(),
                dir: md.is_dir(),
                mtime: md
                    .modified()
                    .unwrap()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
                size: md.len(),
            }
        })
        .collect();
    // nginx: folders first, then by name.
    items.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    items
}

/// nginx's autoindex HTML, byte for byte in spirit: CRLF line ends, percent-encoded hrefs
/// (`./` before names with ':'), HTML-escaped text cut to 47 chars + `..>` past 50.
pub fn nginx_html(uri_path: &str, dir: &Path) -> String {
    let title = html_escape(uri_path);
    let mut out = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n<h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for item in items(dir) {
        let mut name = item.name.clone();
        if item.dir {
            name.push('/');
        }
        let mut href = percent_encode(&item.name);
        if item.name.contains(':') {
            href.insert_str(0, "./");
        }
        if item.dir {
            href.push('/');
        }
        let chars = name.chars().count();
        let text = if chars > 50 {
            format!("{}..>", name.chars().take(47).collect::<String>())
        } else {
            name
        };
        let pad = 50usize.saturating_sub(chars.min(50)) + 1;
        let size = if item.dir {
            "-".to_owned()
        } else {
            item.size.to_string()
        };
        out.push_str(&format!(
            "<a href=\"{href}\">{}</a>{}{} {size:>19}\r\n",
            html_escape(&text),
            " ".repeat(pad),
            nginx_date(item.mtime)
        ));
    }
    out.push_str("</pre><hr></body>\r\n</html>\r\n");
    out
}

/// `autoindex_format json`.
pub fn nginx_json(dir: &Path) -> String {
    let entries: Vec<serde_json::Value> = items(dir)
        .into_iter()
        .map(|i| {
            if i.dir {
                serde_json::json!({"name": i.name, "type": "directory", "mtime": http_date(i.mtime)})
            } else {
                serde_json::json!({"name": i.name, "type": "file", "mtime": http_date(i.mtime), "size": i.size})
            }
        })
        .collect();
    serde_json::to_string_pretty(&entries).unwrap()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn civil(unix: u64) -> (i64, usize, u64, u64, u64, u64) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

fn nginx_date(unix: u64) -> String {
    let (y, m, d, hh, mm, _) = civil(unix);
    format!("{d:02}-{}-{y} {hh:02}:{mm:02}", MONTHS[m - 1])
}

fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (y, m, d, hh, mm, ss) = civil(unix);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} GMT",
        DAYS[(unix / 86_400 % 7) as usize],
        MONTHS[m - 1]
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Everything but unreserved characters, as nginx's URI-component escaping.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A real tar.gz holding `files` (name, content).
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    gzip(&tar.into_inner().unwrap())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Incompressible bytes (xorshift), so a package's size is predictable.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A typical package: a few files, ~`payload` bytes of incompressible content.
pub fn package(payload: usize, seed: u64) -> Vec<u8> {
    let big = noise(payload, seed);
    tar_gz(&[
        ("cds/bin/cds", &big),
        ("cds/etc/cds.conf", b"port = 8080\n"),
        ("cds/VERSION", b"1.2.3\n"),
    ])
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// Everything under `dir`, recursively (relative paths), for "nothing left behind" checks.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            out.push(name.clone());
            if e.file_type().unwrap().is_dir() {
                out.extend(tree(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
            }
        }
    }
    out.sort();
    out
}

/// A port nothing listens on (bound then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
