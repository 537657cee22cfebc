//! Streaming the package to disk (step 4 of [`super`]): the network side sends chunks over
//! a bounded channel to a blocking writer that hashes and writes them, so memory stays
//! bounded; the unique download folder is removed on failure or when the future is dropped.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use url::Url;

use super::PackageRequest;
use super::requests::{body_error, check_status, get};
use crate::error::FetchError;
use crate::verify::DigestAlgorithm;
use shared::tasks::http::redacted;

/// Chunks buffered between the network and the disk writer.
const CHANNEL_CHUNKS: usize = 8;

pub(super) fn local_error(path: &Path, reason: String) -> FetchError {
    FetchError::LocalStorage {
        path: path.display().to_string(),
        reason,
    }
}

/// The streamed file, not yet renamed.
pub(super) struct Written {
    pub(super) work_dir: PathBuf,
    pub(super) part_path: PathBuf,
    pub(super) size: u64,
    pub(super) sha256: String,
    pub(super) md5: Option<String>,
}

/// Removes a folder tree when dropped, unless disarmed.
pub(super) struct RemoveOnDrop(pub(super) Option<PathBuf>);

impl RemoveOnDrop {
    pub(super) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take()
            && let Err(e) = fs::remove_dir_all(&dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a failed download");
        }
    }
}

/// Creates `<dest_dir>/dl-<pid>-<time>-<n>` (never an existing folder).
fn create_unique_dir(dest_dir: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dest_dir)?;
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = dest_dir.join(format!("dl-{}-{nanos}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

enum Msg<B> {
    Data(B),
    Finish,
}

struct Digests {
    size: u64,
    sha256: String,
    md5: Option<String>,
}

/// The blocking writer: hashes and writes each chunk; on `Finish` flushes and fsyncs.
/// If the channel closes without `Finish` the download was abandoned: the file is removed.
fn write_chunks<B: AsRef<[u8]>>(
    path: &Path,
    mut rx: mpsc::Receiver<Msg<B>>,
    with_md5: bool,
) -> io::Result<Digests> {
    let file = fs::File::create_new(path)?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut sha256 = Sha256::new();
    let mut md5 = with_md5.then(Md5::new);
    let mut size = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(chunk)) => {
                let chunk = chunk.as_ref();
                sha256.update(chunk);
                if let Some(md5) = md5.as_mut() {
                    md5.update(chunk);
                }
                out.write_all(chunk)?;
                size += chunk.len() as u64;
            }
            Some(Msg::Finish) => break,
            None => {
                drop(out);
                let _ = fs::remove_file(path);
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "download abandoned",
                ));
            }
        }
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(Digests {
        size,
        sha256: hex::encode(sha256.finalize()),
        md5: md5.map(|m| hex::encode(m.finalize())),
    })
}

/// Streams `url` into `<unique dir>/<file_name>.part`.
pub(super) async fn download(
    client: &reqwest::Client,
    url: &Url,
    file_name: &str,
    req: &PackageRequest<'_>,
    sidecar: Option<DigestAlgorithm>,
) -> Result<Written, FetchError> {
    let mut response = get(
        client,
        url,
        "application/gzip, application/octet-stream, */*;q=0.5",
    )
    .await?;
    check_status(&response, url)?;
    let expected = response.content_length();
    if let Some(length) = expected
        && length > req.max_bytes
    {
        return Err(FetchError::TooLarge {
            url: redacted(url),
            size: Some(length),
            limit: req.max_bytes,
        });
    }

    let dest_dir = req.dest_dir.to_path_buf();
    let work_dir = tokio::task::spawn_blocking(move || create_unique_dir(&dest_dir))
        .await
        .map_err(|_| {
            local_error(
                req.dest_dir,
                "the download folder could not be created".to_owned(),
            )
        })?
        .map_err(|e| {
            local_error(
                req.dest_dir,
                format!("the download folder could not be created ({})", e.kind()),
            )
        })?;
    let cleanup = RemoveOnDrop(Some(work_dir.clone()));
    let part_path = work_dir.join(format!("{file_name}.part"));

    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let writer_path = part_path.clone();
    let with_md5 = sidecar == Some(DigestAlgorithm::Md5);
    let writer = tokio::task::spawn_blocking(move || write_chunks(&writer_path, rx, with_md5));

    let mut received = 0u64;
    let streamed: Result<(), FetchError> = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > req.max_bytes {
                    break Err(FetchError::TooLarge {
                        url: redacted(url),
                        size: None,
                        limit: req.max_bytes,
                    });
                }
                if expected.is_some_and(|length| received > length) {
                    break Err(FetchError::Truncated {
                        url: redacted(url),
                        received,
                        expected,
                    });
                }
                if tx.send(Msg::Data(chunk)).await.is_err() {
                    break Ok(()); // the writer failed: its error is collected below
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(body_error(&e, url, received, expected)),
        }
    };
    drop(response); // stop receiving (closes the connection if the body was not finished)
    if let Err(e) = streamed {
        drop(tx);
        let _ = writer.await;
        return Err(e);
    }
    let _ = tx.send(Msg::Finish).await;
    drop(tx);
    let digests = writer
        .await
        .map_err(|_| local_error(&part_path, "the writer stopped unexpectedly".to_owned()))?
        .map_err(|e| {
            local_error(
                &part_path,
                format!("writing the file failed ({})", e.kind()),
            )
        })?;
    if let Some(length) = expected
        && digests.size != length
    {
        return Err(FetchError::Truncated {
            url: redacted(url),
            received: digests.size,
            expected,
        });
    }
    cleanup.disarm();
    Ok(Written {
        work_dir,
        part_path,
        size: digests.size,
        sha256: digests.sha256,
        md5: digests.md5,
    })
}
