//! Integrity checks: checksum sidecar files and the gzip + tar structure of a package.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// The digest a sidecar file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Md5,
}

impl DigestAlgorithm {
    /// `"sha256"` or `"md5"`: the sidecar's extension and [`crate::fetch::FetchedPackage::verified_with`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    /// Length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Md5 => 32,
        }
    }

    /// The sidecar's file name for package `file_name`: `<file>.sha256` / `<file>.md5`.
    pub fn sidecar_name(self, file_name: &str) -> String {
        format!("{file_name}.{}", self.name())
    }
}

/// Reads the expected digest of `file_name` from a sidecar's text. Accepted lines:
/// `HEX`, `HEX  name` / `HEX *name` (sha256sum / md5sum output) and
/// `SHA256 (name) = HEX` / `MD5 (name) = HEX` (BSD style). When the sidecar lists several
/// files the line naming `file_name` is used (a leading `./` or directory is ignored); a
/// single line is used whatever name it gives. Returns the digest in lower case, or a
/// phrase saying why the sidecar is unusable.
pub fn parse_sidecar(
    text: &str,
    file_name: &str,
    algorithm: DigestAlgorithm,
) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries: Vec<(String, Option<&str>)> = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let entry = parse_sidecar_line(line, algorithm).ok_or_else(|| {
            format!(
                "it does not hold a {}-digit {} digest",
                algorithm.hex_len(),
                algorithm.name()
            )
        })?;
        entries.push(entry);
    }
    let base = |n: &str| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned();
    if let Some((hex, _)) = entries
        .iter()
        .find(|(_, name)| name.is_some_and(|n| base(n) == file_name))
    {
        return Ok(hex.clone());
    }
    match entries.as_slice() {
        [(hex, _)] => Ok(hex.clone()),
        [] => Err("it is empty".to_owned()),
        _ => Err(format!("it lists several digests but none for {file_name}")),
    }
}

fn parse_sidecar_line(line: &str, algorithm: DigestAlgorithm) -> Option<(String, Option<&str>)> {
    let is_digest =
        |s: &str| s.len() == algorithm.hex_len() && s.bytes().all(|b| b.is_ascii_hexdigit());
    // BSD style: `SHA256 (name) = HEX`.
    if let Some((left, hex)) = line.rsplit_once('=') {
        let hex = hex.trim();
        let left = left.trim();
        if is_digest(hex)
            && let Some(open) = left.find('(')
            && left.ends_with(')')
            && algorithm_label_matches(left[..open].trim(), algorithm)
        {
            return Some((
                hex.to_ascii_lowercase(),
                Some(&left[open + 1..left.len() - 1]),
            ));
        }
    }
    // GNU style: `HEX`, `HEX  name`, `HEX *name`.
    let (hex, name) = match line.split_once(char::is_whitespace) {
        Some((hex, rest)) => {
            let name = rest.trim_start();
            let name = name.strip_prefix('*').unwrap_or(name);
            (hex, (!name.is_empty()).then_some(name))
        }
        None => (line, None),
    };
    let hex = hex.strip_prefix('\\').unwrap_or(hex); // sha256sum escapes odd names with a leading '\'
    is_digest(hex).then(|| (hex.to_ascii_lowercase(), name))
}

/// `SHA256`, `SHA-256`, `SHA2-256` / `MD5`, `MD-5`, any case.
fn algorithm_label_matches(label: &str, algorithm: DigestAlgorithm) -> bool {
    let label = label.to_ascii_lowercase().replace('-', "");
    match algorithm {
        DigestAlgorithm::Sha256 => label == "sha256" || label == "sha2256",
        DigestAlgorithm::Md5 => label == "md5",
    }
}

/// What a successful structure check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Entries in the tar archive (files, folders, links...).
    pub entries: u64,
    /// Bytes of tar stream after decompression.
    pub uncompressed_bytes: u64,
}

/// Why a package failed the structure check (phrases for a sentence about the file).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("it is not a gzip file")]
    NotGzip,
    #[error("its gzip data is corrupt ({0})")]
    Gzip(String),
    #[error("the tar archive inside is unreadable ({0})")]
    Tar(String),
    #[error("the tar archive inside holds no entries")]
    Empty,
    #[error("it could not be read back from local storage ({0})")]
    Io(io::ErrorKind),
    #[error(
        "it decompresses to more than {limit} bytes (over {MAX_EXPANSION} times its size, or the {MIN_DECOMPRESSED_LIMIT}-byte floor): not a package but a decompression bomb, or the wrong file"
    )]
    TooLarge { limit: u64 },
}

/// The decompressed tar stream may be at most this many times the compressed file (real
/// packages of binaries expand 2–10×), so a small "zip bomb" cannot keep the function
/// busy for its whole timeout...
pub const MAX_EXPANSION: u64 = 100;
/// ...but never less than this, so tiny packages of very compressible files still pass.
pub const MIN_DECOMPRESSED_LIMIT: u64 = 64 * 1024 * 1024;

/// The decompressed-size limit for a package of `compressed` bytes.
pub fn decompressed_limit(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_EXPANSION)
        .max(MIN_DECOMPRESSED_LIMIT)
}

/// Decompresses `path` (gzip, possibly multi-member) and walks the tar archive inside to
/// its end: [`check_archive`] on the file. Blocking: call it from `spawn_blocking`.
pub fn verify_archive(path: &Path) -> Result<ArchiveSummary, ArchiveError> {
    let compressed = std::fs::metadata(path)
        .map_err(|e| ArchiveError::Io(e.kind()))?
        .len();
    verify_archive_within(path, decompressed_limit(compressed))
}

/// [`verify_archive`] with an explicit bound on the decompressed bytes: reading stops
/// (with [`ArchiveError::TooLarge`]) as soon as the stream passes `max_decompressed`.
pub fn verify_archive_within(
    path: &Path,
    max_decompressed: u64,
) -> Result<ArchiveSummary, ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::Io(e.kind()))?;
    check_archive(BufReader::with_capacity(64 * 1024, file), max_decompressed)
}

/// Read size of the tar walk: large reads let the inflater write straight into one buffer.
const WALK_BUFFER: usize = 128 * 1024;

/// Decompresses `input` (gzip, possibly multi-member) and walks the tar archive inside to
/// its end, reading every entry's data, then reads the gzip stream to its end so its CRC
/// and length trailer are checked too. Reading stops (with [`ArchiveError::TooLarge`]) as
/// soon as the decompressed stream passes `max_decompressed`. `input` is the file, or the
/// download itself as it arrives (so nothing is read twice). Blocking; memory use is
/// constant (a few buffers), whatever the package size.
pub fn check_archive<R: BufRead>(
    mut input: R,
    max_decompressed: u64,
) -> Result<ArchiveSummary, ArchiveError> {
    let mut magic = [0u8; 2];
    match input.read_exact(&mut magic) {
        Ok(()) if magic == [0x1f, 0x8b] => {}
        Ok(()) => return Err(ArchiveError::NotGzip),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(ArchiveError::NotGzip),
        Err(e) => return Err(ArchiveError::Io(e.kind())),
    }
    let mut gz = Tracked {
        inner: MultiGzDecoder::new(io::Cursor::new(magic).chain(input)),
        error: None,
        bytes: 0,
        limit: max_decompressed,
        too_large: false,
    };

    let mut entries = 0u64;
    let mut buffer = vec![0u8; WALK_BUFFER];
    let mut drain = |reader: &mut dyn Read| -> io::Result<()> {
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    };
    let walked: io::Result<()> = (|| {
        let mut archive = tar::Archive::new(&mut gz);
        for entry in archive.entries()? {
            drain(&mut entry?)?;
            entries += 1;
        }
        // Past the end-of-archive blocks: padding and the gzip trailer (CRC32, ISIZE).
        drain(&mut archive.into_inner())
    })();

    if gz.too_large {
        return Err(ArchiveError::TooLarge {
            limit: max_decompressed,
        });
    }
    if let Some(gzip_error) = gz.error.take() {
        return Err(ArchiveError::Gzip(gzip_error));
    }
    if let Err(e) = walked {
        return Err(ArchiveError::Tar(e.to_string()));
    }
    if entries == 0 {
        return Err(ArchiveError::Empty);
    }
    Ok(ArchiveSummary {
        entries,
        uncompressed_bytes: gz.bytes,
    })
}

/// A reader that remembers the first error of the reader it wraps, so a failure of the
/// gzip layer can be told from a failure of the tar layer above it.
struct Tracked<R> {
    inner: R,
    error: Option<String>,
    bytes: u64,
    /// Reading fails once `bytes` would pass this.
    limit: u64,
    too_large: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                if self.bytes > self.limit {
                    self.too_large = true;
                    return Err(io::Error::other("decompressed size limit passed"));
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(match e.kind() {
                        io::ErrorKind::UnexpectedEof => "the file ends too early".to_owned(),
                        _ => e.to_string(),
                    });
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SHA: &str = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    const MD5: &str = "098f6bcd4621d373cade4e832627b4f6";

    #[test]
    fn sidecar_formats() {
        let sha = DigestAlgorithm::Sha256;
        let want = SHA.to_ascii_lowercase();
        for text in [
            SHA.to_owned(),
            format!("{SHA}\n"),
            format!("  {SHA}  cds-1.tar.gz\r\n"),
            format!("{SHA} *cds-1.tar.gz"),
            format!("{SHA}  ./dist/cds-1.tar.gz"),
            format!("SHA256 (cds-1.tar.gz) = {SHA}"),
            format!("SHA2-256 (cds-1.tar.gz) = {SHA}"),
            format!("{SHA}  renamed.tar.gz"),
            format!(
                "# comment\n{}  other.tar.gz\n{SHA}  cds-1.tar.gz\n",
                "0".repeat(64)
            ),
        ] {
            assert_eq!(
                parse_sidecar(&text, "cds-1.tar.gz", sha),
                Ok(want.clone()),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_sidecar(
                &format!("MD5 (cds-1.tar.gz) = {MD5}"),
                "cds-1.tar.gz",
                DigestAlgorithm::Md5
            ),
            Ok(MD5.into())
        );
        assert_eq!(
            parse_sidecar(MD5, "cds-1.tar.gz", DigestAlgorithm::Md5),
            Ok(MD5.into())
        );
    }

    #[test]
    fn unusable_sidecars() {
        let sha = DigestAlgorithm::Sha256;
        assert!(parse_sidecar("", "f", sha).is_err());
        assert!(parse_sidecar("not a digest", "f", sha).is_err());
        assert!(
            parse_sidecar(MD5, "f", sha).is_err(),
            "an md5 digest in a .sha256 file"
        );
        assert!(parse_sidecar(&format!("MD5 (f) = {MD5}"), "f", sha).is_err());
        assert!(parse_sidecar(&format!("{SHA}  a\n{SHA}  b"), "f", sha).is_err());
        assert!(parse_sidecar(&format!("{}g", &SHA[..63]), "f", sha).is_err());
    }

    fn tar_gz(payload: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(payload.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "bin/app", payload).unwrap();
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    fn check(bytes: &[u8]) -> Result<ArchiveSummary, ArchiveError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tar.gz");
        std::fs::write(&path, bytes).unwrap();
        verify_archive(&path)
    }

    #[test]
    fn archive_checks() {
        let good = tar_gz(&[7u8; 10_000]);
        let summary = check(&good).unwrap();
        assert_eq!(summary.entries, 1);
        assert!(summary.uncompressed_bytes >= 10_000);

        assert!(matches!(check(b"plain text"), Err(ArchiveError::NotGzip)));
        assert!(matches!(check(b""), Err(ArchiveError::NotGzip)));
        assert!(
            matches!(check(&good[..good.len() - 4]), Err(ArchiveError::Gzip(_))),
            "cut trailer"
        );

        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff; // CRC32 in the trailer
        assert!(matches!(check(&bad_crc), Err(ArchiveError::Gzip(_))));

        let mut garbage = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        garbage.write_all(&[0x55u8; 4096]).unwrap();
        assert!(matches!(
            check(&garbage.finish().unwrap()),
            Err(ArchiveError::Tar(_))
        ));

        let mut zeros = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        zeros.write_all(&[0u8; 4096]).unwrap();
        assert!(matches!(
            check(&zeros.finish().unwrap()),
            Err(ArchiveError::Empty)
        ));

        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk after the gzip member");
        assert!(matches!(check(&trailing), Err(ArchiveError::Gzip(_))));
    }

    #[test]
    fn decompressed_size_is_bounded() {
        assert_eq!(decompressed_limit(1), MIN_DECOMPRESSED_LIMIT);
        assert_eq!(decompressed_limit(1 << 30), 100 << 30);
        assert_eq!(decompressed_limit(u64::MAX), u64::MAX);

        // 1 MiB of zeros compresses to about 1 KiB: over a 100 KiB bound it is refused...
        let bomb = tar_gz(&vec![0u8; 1 << 20]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tar.gz");
        std::fs::write(&path, &bomb).unwrap();
        let err = verify_archive_within(&path, 100 * 1024).unwrap_err();
        assert!(
            matches!(err, ArchiveError::TooLarge { limit } if limit == 100 * 1024),
            "{err:?}"
        );
        assert!(err.to_string().contains("more than 102400 bytes"), "{err}");
        // ...and within the default bound (64 MiB floor) it passes.
        assert_eq!(verify_archive(&path).unwrap().entries, 1);
        assert!(verify_archive_within(&path, 2 << 20).is_ok());
    }
}
