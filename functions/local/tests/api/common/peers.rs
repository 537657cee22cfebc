//! The development peers (`devpeers/*.py`) as subprocesses on 127.0.0.1, and real
//! packages for the package server to serve.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Peer {
    pub url: String,
    _child: Child,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts `devpeers/<script>` with `args` and reads its URL from the first line it prints.
pub async fn start_peer(script: &str, args: &[&str]) -> Peer {
    let mut child = Command::new("python3")
        .arg(repo_root().join("devpeers").join(script))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the dev peers");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("peer started within 20 s")
        .unwrap()
        .expect("peer printed its URL");
    let url = first
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Peer { url, _child: child }
}

pub struct Peers {
    pub packages: Peer,
    pub test_server: Peer,
    pub package_root: tempfile::TempDir,
    client: reqwest::Client,
}

impl Peers {
    pub async fn start() -> Self {
        let package_root = tempfile::tempdir().unwrap();
        let packages = start_peer(
            "package_server.py",
            &["--root", package_root.path().to_str().unwrap()],
        )
        .await;
        let test_server = start_peer(
            "test_server.py",
            &[
                "--deploy-seconds",
                "0.3",
                "--test-seconds",
                "0.3",
                "--pending-seconds",
                "0.1",
            ],
        )
        .await;
        Self {
            packages,
            test_server,
            package_root,
            client: reqwest::Client::new(),
        }
    }

    /// Writes a real `.tar.gz` named `file` under `dir` (relative to the package root) and
    /// returns its sha256.
    pub fn add_package(&self, dir: &str, file: &str) -> String {
        let bytes = tar_gz(&[
            ("bin/cds", b"#!/bin/sh\necho cds\n".as_slice()),
            ("README", &[b'x'; 4096]),
        ]);
        self.add_file(dir, file, &bytes);
        hex::encode(Sha256::digest(&bytes))
    }

    pub fn add_file(&self, dir: &str, file: &str, bytes: &[u8]) {
        let folder = self.package_root.path().join(dir);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::File::create(folder.join(file))
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    pub async fn package_fault(&self, body: Value) {
        let r = self
            .client
            .post(format!("{}/_control", self.packages.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "package server control: {}",
            r.status()
        );
    }

    pub async fn clear_package_faults(&self) {
        let r = self
            .client
            .delete(format!("{}/_control", self.packages.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    pub async fn test_control(&self, body: Value) {
        let r = self
            .client
            .post(format!("{}/_control", self.test_server.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "test server control: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
    }

    /// How many POSTs reached `/api/deploy_and_test` so far (faulted ones included).
    pub async fn trigger_posts(&self) -> usize {
        let v: Value = self
            .client
            .get(format!("{}/_requests", self.test_server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == "/api/deploy_and_test")
            .count()
    }

    /// Pins the test server's task `task_id` to `status` from now on (its clock no longer matters).
    pub async fn pin_task(&self, task_id: &str, status: &str) {
        let r = self
            .client
            .post(format!("{}/_tasks/{task_id}", self.test_server.url))
            .json(&serde_json::json!({ "status": status }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "pin task: {}", r.status());
    }

    /// Every task the test server created, with the body CRAT sent.
    pub async fn tasks(&self) -> Vec<Value> {
        let v: Value = self
            .client
            .get(format!("{}/_tasks", self.test_server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["tasks"].as_array().unwrap().clone()
    }
}

pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}
