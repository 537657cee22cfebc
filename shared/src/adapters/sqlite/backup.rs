//! `crat backup` and `crat restore`: a consistent copy of the embedded store taken while the
//! server runs, and its restore into a stopped data folder.
//!
//! A backup is itself an SQLite database (any SQLite tool opens it): the store's tables as
//! they were at one moment (SQLite's online backup API, all pages in one step, so in one read
//! transaction that WAL lets run beside the server's writer), plus `crat_backup_files`: the
//! data folder's secrets files by name. It is written owner-only, as the secrets are.
//!
//! The server holds [`DataFolderLock`] while it runs; restore takes it too, so it refuses a
//! running server and no server starts halfway through a restore.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::config::{ADMIN_PASSWORD_FILE, JWT_SECRET_FILE};

use super::{MIGRATIONS, STORE_FILE, migrate};

/// The backup's own table: the data folder's files it carries besides the store.
const FILES_TABLE: &str = "crat_backup_files";
/// Files of the data folder a backup carries (when present).
const CARRIED: [&str; 2] = [JWT_SECRET_FILE, ADMIN_PASSWORD_FILE];
/// The lock file the running server holds in its data folder.
const LOCK_FILE: &str = "crat.lock";

/// Why a backup or restore did not happen, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackupError(String);

fn failed(what: impl std::fmt::Display, path: &Path, e: impl std::fmt::Display) -> BackupError {
    BackupError(format!("{what} {}: {e}", path.display()))
}

/// What a backup or restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The store's tables and their rows.
    pub tables: Vec<(String, u64)>,
    /// The data folder's files carried with it.
    pub files: Vec<String>,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: u64 = self.tables.iter().map(|t| t.1).sum();
        write!(f, "{} tables, {rows} rows", self.tables.len())?;
        if !self.files.is_empty() {
            write!(f, "; files: {}", self.files.join(", "))?;
        }
        Ok(())
    }
}

/// An exclusive lock on a data folder, held by the running server (released when dropped or
/// when the process ends, however it ends).
#[derive(Debug)]
pub struct DataFolderLock {
    _file: File,
}

impl DataFolderLock {
    /// Takes the lock, or says that a server (or a restore) holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, BackupError> {
        fs::create_dir_all(data_dir).map_err(|e| failed("cannot create", data_dir, e))?;
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| failed("cannot open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(BackupError(format!(
                "a crat server (or a restore) is using the data folder {}: stop it first \
                 (e.g. systemctl stop crat), then try again",
                data_dir.display()
            ))),
            Err(TryLockError::Error(e)) => Err(failed("cannot lock", &path, e)),
        }
    }
}

/// Copies the store in `data_dir` and its secrets files to the new file `to` (never over an
/// existing one), safely while the server runs and writes. Written to `to.partial` first, so
/// a backup that stops halfway leaves no file that looks whole.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Copied, BackupError> {
    let store = data_dir.join(STORE_FILE);
    if !store.is_file() {
        return Err(BackupError(format!(
            "there is no store to back up in {} (CRAT_DATA_DIR names the server's data folder)",
            data_dir.display()
        )));
    }
    if to.exists() {
        return Err(BackupError(format!(
            "{} already exists: name a new file (a backup never overwrites one)",
            to.display()
        )));
    }
    let partial = with_suffix(to, ".partial");
    let result = write_backup(data_dir, &store, &partial).and_then(|copied| {
        fs::rename(&partial, to).map_err(|e| failed("cannot rename to", to, e))?;
        Ok(copied)
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

fn write_backup(data_dir: &Path, store: &Path, partial: &Path) -> Result<Copied, BackupError> {
    let _ = fs::remove_file(partial);
    owner_only_file(partial)?;
    let source = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| failed("cannot open", store, e))?;
    source
        .busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| failed("cannot open", store, e))?;
    let mut copy = Connection::open(partial).map_err(|e| failed("cannot create", partial, e))?;
    {
        let backup =
            Backup::new(&source, &mut copy).map_err(|e| failed("cannot copy", store, e))?;
        // Every page in one step: one read transaction, so one moment of the store (in WAL
        // mode a reader never blocks the server's writer). Busy only while the file is
        // being opened or checkpointed: tried again for up to 30 s.
        let mut tries = 0;
        loop {
            match backup
                .step(-1)
                .map_err(|e| failed("cannot copy", store, e))?
            {
                StepResult::Done => break,
                StepResult::More => {}
                _ if tries < 300 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                _ => {
                    return Err(BackupError(format!(
                        "{} stayed locked for 30 s: try again",
                        store.display()
                    )));
                }
            }
        }
    }
    drop(source);
    copy.execute_batch(&format!(
        "CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL);"
    ))
    .map_err(|e| failed("cannot write", partial, e))?;
    let mut files = Vec::new();
    for name in CARRIED {
        let path = data_dir.join(name);
        match fs::read(&path) {
            Ok(content) => {
                copy.execute(
                    &format!("INSERT INTO {FILES_TABLE} (name, content) VALUES (?1, ?2)"),
                    rusqlite::params![name, content],
                )
                .map_err(|e| failed("cannot write", partial, e))?;
                files.push(name.to_owned());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed("cannot read", &path, e)),
        }
    }
    let tables = store_tables(&copy).map_err(|e| failed("cannot read", partial, e))?;
    copy.close()
        .map_err(|(_, e)| failed("cannot write", partial, e))?;
    File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| failed("cannot write", partial, e))?;
    Ok(Copied { tables, files })
}

/// Restores the backup `from` into `data_dir`, which no server may be using (`_lock` proves
/// it). A store already there is kept beside it as `crat.db.replaced-<time>` (with its WAL:
/// a journal must never meet another database), and so are secrets files it replaces. The
/// restored store is brought up to this version's schema.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    _lock: &DataFolderLock,
    stamp: &str,
) -> Result<Copied, BackupError> {
    let (schema, files) = read_backup(from)?;
    if schema > MIGRATIONS.len() {
        return Err(BackupError(format!(
            "{} was made by a newer crat (schema version {schema}; this one knows {}): \
             restore it with that version or a later one",
            from.display(),
            MIGRATIONS.len()
        )));
    }
    let store = data_dir.join(STORE_FILE);
    let incoming = data_dir.join(format!("{STORE_FILE}.restoring"));
    let _ = fs::remove_file(&incoming);
    owner_only_file(&incoming)?;
    fs::copy(from, &incoming).map_err(|e| failed("cannot copy to", &incoming, e))?;
    let prepared = (|| {
        let broken = |e: &dyn std::fmt::Display| failed("cannot prepare", &incoming, e);
        let c = Connection::open(&incoming).map_err(|e| broken(&e))?;
        c.execute_batch(&format!("DROP TABLE {FILES_TABLE};"))
            .map_err(|e| broken(&e))?;
        migrate(&c).map_err(|e| broken(&e))?;
        let tables = store_tables(&c).map_err(|e| broken(&e))?;
        c.close().map_err(|(_, e)| broken(&e))?;
        Ok(tables)
    })();
    let tables = match prepared {
        Ok(tables) => tables,
        Err(e) => {
            let _ = fs::remove_file(&incoming);
            return Err(e);
        }
    };
    for suffix in ["", "-wal", "-shm"] {
        let old = with_suffix(&store, suffix);
        if old.exists() {
            let aside = with_suffix(&store, &format!(".replaced-{stamp}{suffix}"));
            fs::rename(&old, &aside).map_err(|e| failed("cannot move aside", &old, e))?;
        }
    }
    for (name, content) in &files {
        let path = data_dir.join(name);
        if path.exists() {
            let aside = with_suffix(&path, &format!(".replaced-{stamp}"));
            fs::rename(&path, &aside).map_err(|e| failed("cannot move aside", &path, e))?;
        }
        let partial = with_suffix(&path, ".restoring");
        let _ = fs::remove_file(&partial);
        let mut file = owner_only_file(&partial)?;
        file.write_all(content)
            .and_then(|()| file.sync_all())
            .map_err(|e| failed("cannot write", &partial, e))?;
        fs::rename(&partial, &path).map_err(|e| failed("cannot write", &path, e))?;
    }
    File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(|e| failed("cannot write", &incoming, e))?;
    fs::rename(&incoming, &store).map_err(|e| failed("cannot write", &store, e))?;
    Ok(Copied {
        tables,
        files: files.into_iter().map(|f| f.0).collect(),
    })
}

/// The data folder's files a backup carries: (name, content).
type CarriedFiles = Vec<(String, Vec<u8>)>;

/// A backup's schema version and carried files, after checking that it is one and whole.
fn read_backup(from: &Path) -> Result<(usize, CarriedFiles), BackupError> {
    if !from.is_file() {
        return Err(BackupError(format!("{} is not a file", from.display())));
    }
    let not_a_backup = |why: String| {
        BackupError(format!(
            "{} is not a crat backup ({why}): make one with `crat backup FILE`",
            from.display()
        ))
    };
    let c = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not_a_backup(e.to_string()))?;
    let check: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not_a_backup(e.to_string()))?;
    if check != "ok" {
        return Err(BackupError(format!(
            "{} is damaged (SQLite's check says: {check}); restore another backup",
            from.display()
        )));
    }
    let has_files: Option<String> = c
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [FILES_TABLE],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| not_a_backup(e.to_string()))?;
    if has_files.is_none() {
        return Err(not_a_backup(format!("it has no {FILES_TABLE} table")));
    }
    let schema: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_a_backup(e.to_string()))?;
    let mut stmt = c
        .prepare(&format!(
            "SELECT name, content FROM {FILES_TABLE} ORDER BY name"
        ))
        .map_err(|e| not_a_backup(e.to_string()))?;
    let files = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| not_a_backup(e.to_string()))?;
    if let Some((name, _)) = files.iter().find(|(n, _)| !CARRIED.contains(&n.as_str())) {
        return Err(not_a_backup(format!("it carries an unknown file {name:?}")));
    }
    Ok((usize::try_from(schema).unwrap_or(usize::MAX), files))
}

/// The store's tables (not SQLite's own nor the backup's) with their row counts, by name.
pub fn store_tables(c: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let names: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name != ?1 ORDER BY name",
        )?
        .query_map([FILES_TABLE], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    names
        .into_iter()
        .map(|name| {
            let rows: i64 = c.query_row(&format!("SELECT COUNT(*) FROM \"{name}\""), [], |r| {
                r.get(0)
            })?;
            Ok((name, rows.max(0) as u64))
        })
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` readable and writable by its owner only (it will hold secrets).
fn owner_only_file(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| failed("cannot create", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file shaped like a backup: the files table, `files` in it, schema `version`.
    fn made_up_backup(path: &Path, version: usize, files: &[(&str, &[u8])]) {
        let c = Connection::open(path).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL);
             PRAGMA user_version = {version};"
        ))
        .unwrap();
        for (name, content) in files {
            c.execute(
                &format!("INSERT INTO {FILES_TABLE} (name, content) VALUES (?1, ?2)"),
                rusqlite::params![name, content],
            )
            .unwrap();
        }
    }

    fn refused(file: &Path, data: &Path) -> String {
        let lock = DataFolderLock::acquire(data).unwrap();
        let e = restore(file, data, &lock, "t").unwrap_err().to_string();
        assert!(!data.join(STORE_FILE).exists(), "nothing restored: {e}");
        e
    }

    #[test]
    fn a_backup_from_a_newer_crat_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("newer.backup");
        made_up_backup(&file, MIGRATIONS.len() + 1, &[]);
        let e = refused(&file, &dir.path().join("data"));
        assert!(e.contains("made by a newer crat"), "{e}");
    }

    #[test]
    fn a_file_carrying_anything_but_the_secrets_files_is_not_a_backup() {
        // Its names are joined to the data folder: only the known ones may come in.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("odd.backup");
        made_up_backup(&file, 1, &[("../outside", b"x")]);
        let e = refused(&file, &dir.path().join("data"));
        assert!(
            e.contains("is not a crat backup") && e.contains("../outside"),
            "{e}"
        );
        assert!(!dir.path().join("outside").exists());
    }

    #[test]
    fn a_data_folder_has_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataFolderLock::acquire(dir.path()).unwrap();
        let e = DataFolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("stop it first"), "{e}");
        drop(first);
        DataFolderLock::acquire(dir.path()).unwrap();
    }
}
