//! Telling a dead writer from a live one. Every open store holds an exclusive lock on a small
//! file named after it; the operating system drops that lock when the process dies, however it
//! dies. A `streaming` row whose owner's lock can be taken was left by a dead process, so the app
//! and the CLI can share one database without either declaring the other's live reply
//! interrupted.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::now_ms;
use crate::error::{Result, StoreError};

/// An exclusive lock held for as long as the store is open.
#[derive(Debug)]
pub(crate) struct OwnerLock {
    id: String,
    path: PathBuf,
    file: File,
}

/// What a lock file says about a past owner.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    Alive,
    Dead,
}

impl OwnerLock {
    /// Creates and locks a lock file with a fresh id in `dir`.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        // Unique per process (pid), per open store in it (counter) and across pid reuse (time).
        let id = format!(
            "{:x}-{:x}-{:x}",
            std::process::id(),
            now_ms(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(format!("{id}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        // Fully qualified: std's inherent `File::try_lock` is newer than our minimum Rust.
        fs4::FileExt::try_lock(&file)
            .map_err(|e| StoreError::io(&path, std::io::Error::from(e)))?;
        Ok(OwnerLock { id, path, file })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Unlock before removing: Windows refuses to delete a locked file.
        let _ = fs4::FileExt::unlock(&self.file);
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "could not remove lock file");
        }
    }
}

/// Whether the store that wrote `owner` into a row is still open somewhere. Ids that are not ones
/// we generate are treated as dead without touching the file system, so a crafted database cannot
/// make us open arbitrary paths.
pub(crate) fn liveness(dir: &Path, owner: &str) -> Liveness {
    let well_formed = !owner.is_empty()
        && owner.len() <= 64
        && owner.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !well_formed {
        return Liveness::Dead;
    }
    let path = dir.join(format!("{owner}.lock"));
    let Ok(file) = OpenOptions::new().write(true).open(&path) else {
        return Liveness::Dead;
    };
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {
            // Its owner is gone: tidy the file up (best effort; another opener may race us).
            let _ = fs4::FileExt::unlock(&file);
            let _ = fs::remove_file(&path);
            Liveness::Dead
        }
        Err(fs4::TryLockError::WouldBlock) => Liveness::Alive,
        Err(fs4::TryLockError::Error(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot test lock; assuming its owner is alive");
            Liveness::Alive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_alive_and_a_released_one_dead() {
        let dir = tempfile::tempdir().unwrap();
        let lock = OwnerLock::acquire(dir.path()).unwrap();
        let id = lock.id().to_owned();
        assert_eq!(liveness(dir.path(), &id), Liveness::Alive);
        drop(lock);
        assert_eq!(liveness(dir.path(), &id), Liveness::Dead);
        assert_eq!(liveness(dir.path(), "../../etc/passwd"), Liveness::Dead);
        assert_eq!(liveness(dir.path(), ""), Liveness::Dead);
    }
}
