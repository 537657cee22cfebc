//! The download Task function: runs [`fetch_package`] for a run and records the result
//! on the run (DOWNLOADING → DOWNLOADED, the DOWNLOAD step, package url/size/sha256).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use shared::Deps;
use shared::domain::{DownloadDetails, RunStatus, StepName, StepStatus};
use shared::tasks::ErrorName;
use shared::tasks::{RunRef, TaskError, ensure_live, note_step_error, update_run};

use crate::fetch::{PackageRequest, fetch_package};

/// Packages larger than this are refused (a sanity bound, far above real packages).
pub const MAX_PACKAGE_BYTES: u64 = 8 * 1024 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct DownloadOutput {
    pub package_url: String,
    pub package_size: u64,
    pub package_sha256: String,
}

/// The download folders this process is using now: runs on different lanes download at
/// the same time in one local server, and each must keep its folder while another clears
/// the leftovers of killed invocations.
static IN_USE: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Default::default);

/// A download folder marked in use until dropped.
struct InUse(PathBuf);

impl InUse {
    fn mark(dir: PathBuf) -> Self {
        IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.clone());
        Self(dir)
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Removes everything under `dir` left by earlier invocations (not the folders of the
/// downloads running in this process); `dir` itself stays.
pub async fn clear_leftovers(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&path)
        {
            continue;
        }
        let removed = match entry.file_type().await {
            Ok(t) if t.is_dir() => tokio::fs::remove_dir_all(&path).await,
            _ => tokio::fs::remove_file(&path).await,
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed a leftover download"),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a leftover download")
            }
        }
    }
}

#[tracing::instrument(skip_all, fields(run_id = input.run_id))]
pub async fn handle(deps: &Deps, input: RunRef) -> Result<DownloadOutput, TaskError> {
    let state = deps;
    let now = state.clock.now();
    let run = update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        if run.package_sha256.is_none() {
            run.begin_step(StepName::Download, RunStatus::Downloading, now);
        }
        Ok(())
    })
    .await?;
    // Idempotent: a retried or resumed download of a verified package does nothing.
    if let (Some(url), Some(size), Some(sha)) =
        (&run.package_url, run.package_size, &run.package_sha256)
    {
        return Ok(DownloadOutput {
            package_url: url.clone(),
            package_size: size,
            package_sha256: sha.clone(),
        });
    }
    let fail = |e: TaskError| note_step_error(state, input.run_id, StepName::Download, e);
    let Some(base) = state.settings().await?.package_download_base_url else {
        return Err(fail(TaskError::new(
            ErrorName::ConfigError,
            "package_download_base_url is not set; an admin sets it in the settings",
        ))
        .await);
    };
    let base = match url::Url::parse(&format!("{base}/")) {
        Ok(u) => u,
        Err(_) => {
            return Err(fail(TaskError::new(
                ErrorName::ConfigError,
                "package_download_base_url is not a usable URL",
            ))
            .await);
        }
    };
    let downloads = deps.work_dir.join("downloads");
    // A killed invocation (timeout, out of memory) leaves its partial file behind, and Lambda
    // keeps /tmp between invocations: free the space first. Lambda runs one invocation per
    // sandbox; locally, runs of other lanes may be downloading now: their folders are kept.
    let dest_dir = downloads.join(&run.execution_id);
    let _in_use = InUse::mark(dest_dir.clone());
    clear_leftovers(&downloads).await;
    let request = PackageRequest {
        base_url: &base,
        package_path: &run.build.package_path,
        service_name: &run.test_item_name,
        dest_dir: &dest_dir,
        max_bytes: MAX_PACKAGE_BYTES,
    };
    let fetched = match fetch_package(&deps.http, &request).await {
        Ok(p) => p,
        Err(e) => return Err(fail(TaskError::new(e.error_name(), e.to_string())).await),
    };
    // The test server downloads the package itself; the copy here only proved it sound.
    if let Err(e) = tokio::fs::remove_dir_all(&dest_dir).await {
        tracing::warn!(error = %e, dir = %dest_dir.display(), "could not remove the verified download");
    }
    let done = state.clock.now();
    update_run(state, input.run_id, |run| {
        ensure_live(run)?;
        run.package_url = Some(fetched.url.clone());
        run.package_size = Some(fetched.size);
        run.package_sha256 = Some(fetched.sha256.clone());
        run.status = RunStatus::Downloaded;
        run.finish_step(StepName::Download, StepStatus::Succeeded, None, done);
        run.edit_details(|d: &mut DownloadDetails| {
            d.file_name = Some(fetched.file_name.clone());
            d.size = Some(fetched.size);
            d.sha256 = Some(fetched.sha256.clone());
            d.verified_with.clone_from(&fetched.verified_with);
        });
        Ok(())
    })
    .await?;
    tracing::info!(file = %fetched.file_name, size = fetched.size, "package verified");
    Ok(DownloadOutput {
        package_url: fetched.url,
        package_size: fetched.size,
        package_sha256: fetched.sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leftovers_of_killed_invocations_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(downloads.join("run-7")).unwrap();
        std::fs::write(
            downloads.join("run-7").join("cds-1.0.0.tar.gz.part"),
            [0u8; 4096],
        )
        .unwrap();
        std::fs::write(downloads.join("stray"), b"x").unwrap();
        clear_leftovers(&downloads).await;
        assert!(downloads.is_dir());
        assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 0);
        // No folder yet (first invocation): nothing to do, no error.
        clear_leftovers(&dir.path().join("missing")).await;
    }

    #[tokio::test]
    async fn the_folder_of_a_download_running_beside_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("downloads");
        let running = downloads.join("run-8");
        std::fs::create_dir_all(&running).unwrap();
        std::fs::create_dir_all(downloads.join("run-7")).unwrap();
        let in_use = InUse::mark(running.clone());
        clear_leftovers(&downloads).await;
        assert!(running.is_dir(), "another lane's download keeps its folder");
        assert!(!downloads.join("run-7").exists(), "a leftover goes");
        drop(in_use);
        clear_leftovers(&downloads).await;
        assert!(
            !running.exists(),
            "once done, it is a leftover like any other"
        );
    }

    /// The template's default /tmp for the download function holds the largest package
    /// this function accepts, with room for the listing and sidecars.
    #[test]
    fn the_template_s_ephemeral_storage_holds_the_largest_package() {
        let template = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
        )
        .unwrap();
        let block = template
            .split("  DownloadEphemeralStorageMiB:")
            .nth(1)
            .expect("the DownloadEphemeralStorageMiB parameter");
        let number = |key: &str| -> u64 {
            block
                .lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{key} of DownloadEphemeralStorageMiB"))
        };
        let cap_mib = MAX_PACKAGE_BYTES / (1024 * 1024);
        for key in ["Default:", "MinValue:"] {
            assert!(
                number(key) > cap_mib,
                "DownloadEphemeralStorageMiB {key} must exceed the {cap_mib} MiB package cap"
            );
        }
        assert!(number("MaxValue:") <= 10_240, "Lambda's limit");
        assert!(template.contains("Size: !Ref DownloadEphemeralStorageMiB"));
    }
}
