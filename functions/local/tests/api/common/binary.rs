//! The real `crat` binary as a subprocess.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub banner: Vec<String>,
}

/// Starts `crat` on a free port with only the data folder configured, and waits for its banner.
pub async fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    start_exe(
        std::path::Path::new(env!("CARGO_BIN_EXE_crat")),
        data_dir,
        env,
    )
    .await
}

/// [`start`] with another copy of the binary (e.g. one moved out of the checkout).
pub async fn start_exe(
    exe: &std::path::Path,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(exe)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CRAT_DATA_DIR", data_dir)
        .env("CRAT_BIND", "127.0.0.1")
        .env("PORT", "0")
        .envs(env.iter().copied())
        .current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("crat exited before its banner");
            banner.push(line.clone());
            if let Some(url) = line.strip_prefix("CRAT is running at ") {
                return url.replace("localhost", "127.0.0.1");
            }
        }
    })
    .await
    .expect("banner within 30 s");
    // Read the rest of the banner (data folder, maybe the password) without blocking forever.
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
    {
        banner.push(line);
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        child,
        base,
        banner,
    }
}
