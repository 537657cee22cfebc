//! Delivery against a REAL SMTP server on 127.0.0.1: aiosmtpd, started by each test through
//! `tests/smtp_sink.py` (which saves every accepted message to a folder), over plain SMTP,
//! STARTTLS and implicit TLS, with certificates this test makes with the `openssl` CLI (a
//! small CA and a leaf for `localhost`/`127.0.0.1`). Also: AUTH, refused recipients (4xx
//! and 5xx), a closed port, an untrusted certificate, and the outbox folder, whose mail is
//! also rendered in Chromium (`smtp/mail_in_chromium.rs`).
//!
//! Python: `$CRAT_PYTHON` (set by `make test`), else `.venv/bin/python` of the workspace,
//! else `python3`; it needs aiosmtpd (`pip install -r requirements-test.txt`). Without it
//! these tests fail, unless `CRAT_SKIP_SMTP_TESTS=1`.
//!
//! Here: the certificates, the sink, the mail fixtures and the outbox; delivery, refusals and
//! failures have their modules.

use lettre::Message;
use mail_parser::MessageParser;
use serde_json::{Value, json};
use shared::config::{Secret, SmtpConfig, SmtpSecurity};
use shared::domain::Email;
use shared::domain::run::{Run, Summary};
use shared::mail::compose::{MailContext, failure_mail, subject_for, success_mail};
use shared::mail::transport::{MailError, MailTransport, list_outbox};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod delivery;
mod failures;
mod refusals;

// The mail from the outbox, screenshotted in Chromium (uses this file's run, ctx, send).
mod mail_in_chromium;

// ---------------------------------------------------------------------------------------
// Python and aiosmtpd

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python to run the sink with, or `None` when the tests are to be skipped.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = workspace_root().join(".venv/bin/python");
            let python = match std::env::var_os("CRAT_PYTHON").filter(|p| !p.is_empty()) {
                Some(p) => PathBuf::from(p),
                None if venv.is_file() => venv,
                None => PathBuf::from("python3"),
            };
            let ok = Command::new(&python)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(python);
            }
            if std::env::var("CRAT_SKIP_SMTP_TESTS").as_deref() == Ok("1") {
                eprintln!(
                    "aiosmtpd is not importable by {}: SMTP tests skipped",
                    python.display()
                );
                return None;
            }
            panic!(
                "`{} -c 'import aiosmtpd'` failed: run `pip install -r requirements-test.txt` \
                 (or `make test-deps` and set CRAT_PYTHON=.venv/bin/python), \
                 or set CRAT_SKIP_SMTP_TESTS=1 to skip the SMTP tests",
                python.display()
            )
        })
        .clone()
}

// ---------------------------------------------------------------------------------------
// Certificates (openssl CLI)

struct Certs {
    _dir: tempfile::TempDir,
    ca_pem: Vec<u8>,
    leaf_cert: PathBuf,
    leaf_key: PathBuf,
    /// A CA that did not sign the leaf.
    other_ca_pem: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=CRAT test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        Certs {
            ca_pem: std::fs::read(d.join("ca.pem")).unwrap(),
            other_ca_pem: std::fs::read(d.join("other-ca.pem")).unwrap(),
            leaf_cert: d.join("leaf.pem"),
            leaf_key: d.join("leaf.key"),
            _dir: dir,
        }
    })
}

// ---------------------------------------------------------------------------------------
// The sink

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Plain,
    StartTls,
    Smtps,
}

struct Sink {
    child: Child,
    port: u16,
    folder: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sink(python: &Path, mode: Mode, auth: Option<&str>) -> Sink {
    start_sink_with(python, mode, auth, &[])
}

fn start_sink_with(python: &Path, mode: Mode, auth: Option<&str>, extra: &[&str]) -> Sink {
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--port", &port.to_string()])
        .arg("--folder")
        .arg(folder.path())
        .args([
            "--mode",
            match mode {
                Mode::Plain => "plain",
                Mode::StartTls => "starttls",
                Mode::Smtps => "smtps",
            },
        ]);
    if mode != Mode::Plain {
        let c = certs();
        cmd.arg("--cert")
            .arg(&c.leaf_cert)
            .arg("--key")
            .arg(&c.leaf_key);
    }
    if let Some(auth) = auth {
        cmd.args(["--auth", auth]);
    }
    cmd.args(extra);
    let mut child = cmd
        .stdin(Stdio::piped()) // closed when the test process ends: the sink then exits
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let sink = Sink {
        child,
        port,
        folder,
    };
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the SMTP sink did not start");
    assert_eq!(
        line.trim(),
        format!("ready {port}"),
        "the SMTP sink did not start"
    );
    sink
}

/// Message `n` (1-based) the sink saved: its bytes and its envelope facts.
fn saved(sink: &Sink, n: u32) -> (Vec<u8>, Value) {
    let json = sink.folder.path().join(format!("{n}.json"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !json.exists() {
        assert!(Instant::now() < deadline, "message {n} was not saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    let meta = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    (
        std::fs::read(sink.folder.path().join(format!("{n}.eml"))).unwrap(),
        meta,
    )
}

fn saved_count(sink: &Sink) -> usize {
    std::fs::read_dir(sink.folder.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}

// ---------------------------------------------------------------------------------------
// Mails and mailers

fn config(port: u16, security: SmtpSecurity, user: &str, password: Option<&str>) -> SmtpConfig {
    SmtpConfig {
        server: "127.0.0.1".into(),
        port,
        security,
        username: user.into(),
        password: password.map(Secret::new),
        from: "crat@example.com".into(),
    }
}

fn security(mode: Mode) -> SmtpSecurity {
    match mode {
        Mode::Plain => SmtpSecurity::Plain,
        Mode::StartTls => SmtpSecurity::StartTls,
        Mode::Smtps => SmtpSecurity::Tls,
    }
}

fn run(status: &str) -> Run {
    let step = |name: &str, status: &str, error: Option<&str>| {
        json!({"name": name, "status": status, "started_at": "2026-03-02T10:00:05Z",
               "finished_at": "2026-03-02T10:01:00Z", "details": {}, "error": error})
    };
    let failed = status == "FAILED";
    serde_json::from_value(json!({
        "id": 42, "test_item_id": 3, "test_item_name": "cds", "build_info_id": 123,
        "build": {"job_name": "CDN_CORE", "build_number": 101, "package_path": "CDN/pass/x/el7"},
        "parameter_set_id": 1, "parameter_set_version": 1, "params": {},
        "triggered_by": "dev@example.com", "status": status, "task_id": "t-1",
        "package_url": null, "package_size": null, "package_sha256": null,
        "report_url": "http://tests.example.com/reports/42/", "summary": null,
        "error_message": if failed { json!("package not found: no cds*.tar.gz in the listing") } else { Value::Null },
        "execution_id": "run-42", "started_at": "2026-03-02T10:00:00Z", "finished_at": "2026-03-02T10:02:00Z",
        "steps": [
            step("DOWNLOAD", if failed { "FAILED" } else { "SUCCEEDED" }, failed.then_some("package not found: no cds*.tar.gz in the listing")),
            step("TRIGGER", if failed { "SKIPPED" } else { "SUCCEEDED" }, None),
            step("MONITOR", if failed { "SKIPPED" } else { "SUCCEEDED" }, None),
            step("NOTIFY", "RUNNING", None),
        ],
        "notification": null, "revision": 3,
    }))
    .unwrap()
}

const SUMMARY: Summary = Summary {
    passed: 8,
    failed: 1,
    broken: 1,
    skipped: 0,
    unknown: 0,
    total: 10,
    duration_ms: Some(65_000),
};

fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 4, 4);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0x97; 48]).unwrap();
    }
    out
}

fn ctx<'a>(run: &'a Run, to: &[&str]) -> MailContext<'a> {
    MailContext {
        project_name: "CRAT",
        run,
        run_link: Some("https://crat.example.com/runs/42".into()),
        report_link: run.report_url.clone(),
        report_refused: None,
        summary: Some(&SUMMARY),
        summary_note: None,
        changes: None,
        chart_png: Some(tiny_png()),
        from: "crat@example.com",
        to: to.iter().map(|e| Email::parse("to", e).unwrap()).collect(),
        cc: vec![Email::parse("cc", "qa@example.com").unwrap()],
        language: shared::domain::MailLanguage::English,
    }
}

fn success(to: &[&str]) -> (Message, String) {
    let r = run("COMPLETED");
    let c = ctx(&r, to);
    (success_mail(&c).unwrap(), subject_for(&c))
}

async fn send(mailer: &MailTransport, message: &Message) -> Result<String, MailError> {
    tokio::time::timeout(Duration::from_secs(90), mailer.send(message))
        .await
        .expect("send did not finish within 90 s")
}

#[tokio::test]
async fn the_outbox_keeps_eml_files_that_list_outbox_returns() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("data/outbox"); // created on the first send
    assert!(list_outbox(&outbox, 10).unwrap().is_empty());
    let mailer = MailTransport::outbox(outbox.clone());

    let r = run("COMPLETED");
    let mut c = ctx(&r, &["dev@example.com", "lead@example.com"]);
    c.project_name = "CRÄT";
    let first = success_mail(&c).unwrap();
    let first_subject = subject_for(&c);
    let file1 = send(&mailer, &first).await.unwrap();
    std::thread::sleep(Duration::from_millis(20)); // distinct modification times
    let failed = run("FAILED");
    let second = failure_mail(&ctx(&failed, &["dev@example.com"])).unwrap();
    let file2 = send(&mailer, &second).await.unwrap();
    // The same message twice gets a second file, never overwriting the first.
    let file3 = send(&mailer, &second).await.unwrap();

    for f in [&file1, &file2, &file3] {
        assert!(
            f.ends_with(".eml") && !f.contains('/') && !f.starts_with('.'),
            "{f}"
        );
    }
    assert_ne!(file2, file3);
    let names: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temporary files left: {names:?}");

    let raw1 = std::fs::read(outbox.join(&file1)).unwrap();
    assert_eq!(raw1, first.formatted());
    let m = MessageParser::default().parse(&raw1).unwrap();
    assert_eq!(m.subject().unwrap(), first_subject);

    let listed = list_outbox(&outbox, 10).unwrap();
    assert_eq!(listed.len(), 3);
    let newest_first: Vec<&str> = listed.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(newest_first[2], file1, "{newest_first:?}");
    let entry1 = &listed[2];
    assert_eq!(
        entry1.subject,
        "[CRÄT] cds CDN_CORE #101 — tests failed, 8/10 passed"
    );
    assert_eq!(entry1.to, "dev@example.com, lead@example.com");
    assert_eq!(entry1.size, raw1.len() as u64);
    assert!(listed.iter().all(|e| e.modified <= chrono::Utc::now()));
    assert_eq!(
        listed[0].subject,
        "[CRAT] cds CDN_CORE #101 — error at DOWNLOAD"
    );
    let json = serde_json::to_value(entry1).unwrap();
    for key in ["file", "size", "modified", "subject", "to"] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }

    assert_eq!(list_outbox(&outbox, 1).unwrap().len(), 1);
    // Other files in the folder are ignored.
    std::fs::write(outbox.join("notes.txt"), "x").unwrap();
    std::fs::write(outbox.join(".half.eml.tmp"), "x").unwrap();
    assert_eq!(list_outbox(&outbox, 10).unwrap().len(), 3);
}
