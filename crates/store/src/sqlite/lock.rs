//! One process per database file.
//!
//! SQLite's own locks do not keep a second server off the file: in WAL mode two processes
//! take turns at the write lock and both serve. But this backend's guarantees assume it is
//! the only one (the change feed wakes only this process's watchers, the schedulers and
//! the token revocation cache run in this process), so opening takes an exclusive `flock`
//! on `<database>.lock` and holds it for the backend's life. The kernel drops the lock when
//! the process dies, however it dies, so a stale file never blocks a restart. The holder
//! writes its pid into the file, so the refusal can say who holds it.

use crate::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub(super) struct DbLock {
    _file: File,
}

/// Who holds a lock we were refused: a pid when the holder wrote one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockHolder(pub Option<u32>);

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(pid) => write!(f, "another process (pid {pid})"),
            None => f.write_str("another process"),
        }
    }
}

/// The lock file of a database: `<database>.lock` beside the real file (a symlinked data
/// directory or database file resolves to the same lock).
pub fn lock_path(db: &Path) -> PathBuf {
    let real = std::fs::canonicalize(db).ok().or_else(|| {
        let parent = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(db.file_name()?))
    });
    let mut path = real.unwrap_or_else(|| db.to_path_buf()).into_os_string();
    path.push(".lock");
    PathBuf::from(path)
}

/// Takes the exclusive lock of `db`, or says who holds it.
pub(super) fn acquire(db: &Path) -> Result<DbLock, StoreError> {
    let lock = lock_path(db);
    let io_err = |source| StoreError::LockFile { path: lock.display().to_string(), source };
    // Never truncate before holding the lock: the holder's pid is in there.
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock).map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Locked {
                path: db.display().to_string(),
                lock: lock.display().to_string(),
                holder: LockHolder(read_pid(&mut file)),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_err(e)),
    }
    file.set_len(0).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    writeln!(file, "{}", std::process::id()).map_err(io_err)?;
    Ok(DbLock { _file: file })
}

/// The pid the holder wrote (none while it is still writing it, or if it never did).
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
