//! Streaming the package to disk (step 4 of [`super`]), checking it in the same pass: the
//! network side hands each chunk over bounded channels to blocking stages on threads of
//! their own, which run beside the transfer and beside each other:
//! - the writer: sha256 and the `.part` file;
//! - the md5 hasher (only when the sidecar is md5: md5 is slower than sha256 with SHA-NI);
//! - the archive check: gunzip + tar walk ([`verify::check_archive`]) on the bytes as they
//!   arrive, so the file is never read back.
//!
//! Chunks are shared (reference counted), not copied, and each channel holds a few, so
//! memory stays bounded whatever the package size. When the transfer fails, or the future
//! is dropped, every channel closes: the stages stop at the end of what they hold, the
//! writer removes its file and the unique download folder is removed.

use std::fs;
use std::io::{self, BufRead, BufWriter, Read, Write};
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
use crate::verify::{self, ArchiveError, ArchiveSummary, DigestAlgorithm};
use shared::tasks::http::redacted;

/// Chunks buffered between the network and each stage.
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
    /// The archive check's outcome, on the whole body.
    pub(super) archive: Result<ArchiveSummary, ArchiveError>,
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
}

/// The blocking writer: hashes and writes each chunk; on `Finish` flushes and fsyncs.
/// If the channel closes without `Finish` the download was abandoned: the file is removed.
fn write_chunks<B: AsRef<[u8]>>(
    path: &Path,
    mut rx: mpsc::Receiver<Msg<B>>,
) -> io::Result<Digests> {
    let file = fs::File::create_new(path)?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut sha256 = Sha256::new();
    let mut size = 0u64;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Data(chunk)) => {
                let chunk = chunk.as_ref();
                sha256.update(chunk);
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
    })
}

/// The chunks of a channel as one byte stream, for the stages that read (the archive check,
/// the md5 hasher). The stream ends when the channel closes: a stage cannot tell a finished
/// download from an abandoned one, so its result counts only once the transfer succeeded.
struct ChannelReader<B> {
    rx: mpsc::Receiver<B>,
    chunk: Option<B>,
    offset: usize,
}

impl<B: AsRef<[u8]>> ChannelReader<B> {
    fn new(rx: mpsc::Receiver<B>) -> Self {
        Self {
            rx,
            chunk: None,
            offset: 0,
        }
    }
}

impl<B: AsRef<[u8]>> BufRead for ChannelReader<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self
            .chunk
            .as_ref()
            .is_none_or(|c| self.offset >= c.as_ref().len())
        {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = Some(chunk);
                    self.offset = 0;
                }
                None => {
                    self.chunk = None;
                    return Ok(&[]);
                }
            }
        }
        Ok(self
            .chunk
            .as_ref()
            .map_or(&[][..], |c| &c.as_ref()[self.offset..]))
    }

    fn consume(&mut self, amount: usize) {
        self.offset += amount;
    }
}

impl<B: AsRef<[u8]>> Read for ChannelReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The md5 stage: the digest of everything the channel carried.
fn md5_of<B: AsRef<[u8]>>(rx: mpsc::Receiver<B>) -> String {
    let mut input = ChannelReader::new(rx);
    let mut md5 = Md5::new();
    loop {
        let chunk = match input.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        md5.update(chunk);
        let n = chunk.len();
        input.consume(n);
    }
    hex::encode(md5.finalize())
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
    let writer = tokio::task::spawn_blocking(move || write_chunks(&writer_path, rx));
    // With a Content-Length the final size is known (any other size fails as truncated), so
    // the decompression bound is exact from the start; without, the size cap bounds it while
    // streaming and the exact bound is applied to the final size by the caller.
    let decompressed_limit = verify::decompressed_limit(expected.unwrap_or(req.max_bytes));
    let (check_tx, check_rx) = mpsc::channel(CHANNEL_CHUNKS);
    let checker = tokio::task::spawn_blocking(move || {
        verify::check_archive(ChannelReader::new(check_rx), decompressed_limit)
    });
    let (md5_tx, md5) = if sidecar == Some(DigestAlgorithm::Md5) {
        let (md5_tx, md5_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let md5 = tokio::task::spawn_blocking(move || md5_of(md5_rx));
        (Some(md5_tx), Some(md5))
    } else {
        (None, None)
    };
    // A stage that has its answer early (the check of a damaged archive) closes its channel;
    // the others go on, so the errors keep today's precedence (truncated, then the digest).
    let mut readers: Vec<mpsc::Sender<_>> =
        [Some(check_tx), md5_tx].into_iter().flatten().collect();

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
                let mut index = 0;
                while index < readers.len() {
                    if readers[index].send(chunk.clone()).await.is_ok() {
                        index += 1;
                    } else {
                        readers.swap_remove(index);
                    }
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
    drop(readers); // the end of the stream for the check and the md5 hasher
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
    let stopped =
        |stage: &str| local_error(&part_path, format!("the {stage} stopped unexpectedly"));
    let archive = checker.await.map_err(|_| stopped("archive check"))?;
    let md5 = match md5 {
        Some(md5) => Some(md5.await.map_err(|_| stopped("md5 hasher"))?),
        None => None,
    };
    cleanup.disarm();
    Ok(Written {
        work_dir,
        part_path,
        size: digests.size,
        sha256: digests.sha256,
        md5,
        archive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bytes` cut into chunks of 0, 1, 2, ... 700 bytes (cycling), then closes.
    fn feed(bytes: Vec<u8>) -> mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = mpsc::channel(2);
        std::thread::spawn(move || {
            let mut rest = &bytes[..];
            let mut size = 0;
            while !rest.is_empty() {
                let n = size.min(rest.len());
                tx.blocking_send(rest[..n].to_vec()).unwrap();
                rest = &rest[n..];
                size = (size + 1) % 701;
            }
        });
        rx
    }

    fn tar_gz(payload: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(payload.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "bin/app", payload).unwrap();
        let mut gz = tar.into_inner().unwrap();
        gz.flush().unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn the_channel_reads_as_the_byte_stream_it_carried() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        ChannelReader::new(feed(bytes.clone()))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, bytes);
        use md5::Digest as _;
        assert_eq!(
            md5_of(feed(bytes.clone())),
            hex::encode(Md5::digest(&bytes))
        );
        assert_eq!(md5_of(feed(Vec::new())), hex::encode(Md5::digest(b"")));
    }

    #[test]
    fn the_archive_check_on_the_stream_matches_the_check_of_the_file() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let good = tar_gz(&payload);
        let check = |bytes: &[u8]| {
            verify::check_archive(ChannelReader::new(feed(bytes.to_vec())), 64 << 20)
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.tar.gz");
        fs::write(&file, &good).unwrap();
        assert_eq!(
            check(&good).unwrap(),
            verify::verify_archive(&file).unwrap()
        );
        assert!(matches!(check(b""), Err(ArchiveError::NotGzip)));
        assert!(matches!(check(b"\x1f"), Err(ArchiveError::NotGzip)));
        assert!(matches!(
            check(&good[..good.len() / 2]),
            Err(ArchiveError::Gzip(_))
        ));
        assert!(matches!(
            verify::check_archive(ChannelReader::new(feed(good)), 100_000),
            Err(ArchiveError::TooLarge { limit: 100_000 })
        ));
    }
}
