//! `crat backup` while the server runs under a stream of webhooks, and `crat restore` into a
//! stopped data folder: the restored store is the backup's table for table (row counts and a
//! checksum of every row), carries the secrets (the generated admin password and a session
//! token issued before the backup still work), and a restore refuses a running server.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::binary::{Server, start};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Every store table (not SQLite's, not the backup's own) with its row count and a checksum
/// of its rows (sorted, so the order they are stored in does not matter).
fn tables(db: &Path) -> Vec<(String, usize, String)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let names: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name != 'crat_backup_files' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|name| {
            let mut stmt = c.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
            let columns = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    let values: Vec<String> = (0..columns)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(values.join("\u{1f}"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort();
            let mut hash = Sha256::new();
            for row in &rows {
                hash.update(row.as_bytes());
                hash.update(b"\x1e");
            }
            (name, rows.len(), hex::encode(hash.finalize()))
        })
        .collect()
}

fn count_of(tables: &[(String, usize, String)], table: &str) -> usize {
    tables.iter().find(|t| t.0 == table).expect(table).1
}

async fn crat(data_dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_crat"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRAT_DATA_DIR", data_dir)
        .current_dir(data_dir.parent().unwrap())
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn stop(mut server: Server) {
    server.child.kill().await.unwrap();
}

async fn admin_login(client: &Client, base: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_webhook_load_restores_to_an_identical_store_with_its_secrets() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // No ADMIN_PASSWD: the server generates one and keeps it in the data folder.
    let server = start(&data, &[]).await;
    let password = server
        .banner
        .iter()
        .find_map(|l| {
            l.rsplit_once("): ")
                .filter(|_| l.starts_with("Admin password"))
        })
        .map(|(_, p)| p.to_owned())
        .expect("the banner shows the generated admin password");
    let base = server.base.clone();
    let client = Client::new();
    let login = admin_login(&client, &base, &password).await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Webhooks keep arriving (each a new build) before, during and after the backup.
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop_load = Arc::new(AtomicBool::new(false));
    let load = {
        let (client, base) = (client.clone(), base.clone());
        let (acknowledged, stop_load) = (acknowledged.clone(), stop_load.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop_load.load(Ordering::SeqCst) {
                n += 1;
                let r = client
                    .post(format!("{base}/api/v1/builds"))
                    .json(
                        &json!({"JOB_NAME": "CDN_CORE", "BUILD_NUMBER": n.to_string(),
                        "PACKAGE_PATH": "CDN/pass/backup/el7"}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while acknowledged.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let file = root.path().join("crat.backup");
    let before = acknowledged.load(Ordering::SeqCst) as usize;
    let out = crat(&data, &["backup", file.to_str().unwrap()]).await;
    let after = acknowledged.load(Ordering::SeqCst) as usize;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("Backed up "), "{}", text(&out));
    while acknowledged.load(Ordering::SeqCst) < after as u64 + 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_load.store(true, Ordering::SeqCst);
    load.await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup holds secrets: owner only");
    }

    // One moment of the store: every build acknowledged before the backup began, none
    // acknowledged after it ended.
    let backed_up = tables(&file);
    let builds = count_of(&backed_up, "builds");
    assert!(
        (before..=after).contains(&builds),
        "{before} ≤ {builds} ≤ {after}"
    );
    assert!(count_of(&backed_up, "sessions") >= 1);

    // Never over an existing file; never into a folder a server is using.
    let again = crat(&data, &["backup", file.to_str().unwrap()]).await;
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    let refused = crat(&data, &["restore", file.to_str().unwrap()]).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("stop it first"),
        "{}",
        text(&refused)
    );
    let not_a_backup = root.path().join("notes.txt");
    std::fs::write(&not_a_backup, "hello").unwrap();
    stop(server).await;
    let live = tables(&data.join("crat.db"));
    assert!(
        count_of(&live, "builds") > builds,
        "the load went on after the backup"
    );
    let wrong = crat(&data, &["restore", not_a_backup.to_str().unwrap()]).await;
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("is not a crat backup"),
        "{}",
        text(&wrong)
    );
    assert_eq!(
        tables(&data.join("crat.db")),
        live,
        "a refused restore changes nothing"
    );

    // Into a new folder: the backup's store, table for table, and its secrets.
    let restored = root.path().join("restored");
    let out = crat(&restored, &["restore", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tables(&restored.join("crat.db")), backed_up);
    for secret in ["jwt_secret", "admin_password"] {
        assert_eq!(
            std::fs::read(restored.join(secret)).unwrap(),
            std::fs::read(data.join(secret)).unwrap(),
            "{secret}"
        );
    }
    let server = start(&restored, &[]).await;
    let base = server.base.clone();
    assert!(
        !server
            .banner
            .iter()
            .any(|l| l.starts_with("Admin password")),
        "the password came with the backup, none was generated: {:?}",
        server.banner
    );
    let me = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a session from before the backup"
    );
    // (A new login ends the admin's other sessions, so it comes second.)
    assert_eq!(
        admin_login(&client, &base, &password).await.status(),
        StatusCode::OK
    );
    stop(server).await;

    // Over the original folder: what it held is kept aside, the backup's store is in place.
    let out = crat(&data, &["restore", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tables(&data.join("crat.db")), backed_up);
    let aside: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crat.db.replaced-"))
        .collect();
    let kept = aside
        .iter()
        .find(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .unwrap_or_else(|| panic!("the replaced store is kept: {aside:?}"));
    assert_eq!(tables(&data.join(kept)), live);
}
