//! Where a server's API key is kept between starts: the OS keyring (Secret Service) where one
//! runs, else a file in the app's data folder that only this user can read. Each key belongs to
//! one server address and is never handed to another. Blocking (the keyring is a D-Bus call):
//! call these off the async threads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const KEY_FILE: &str = "server-key.json";
const KEYRING_SERVICE: &str = "OneVision Desk server API key";

/// Where a remembered key went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptIn {
    Keyring,
    PrivateFile,
}

/// The fallback file: the key and the one server address it is for.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    base_url: String,
    api_key: String,
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

fn keyring_entry(base: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, base)
}

/// Remembers `key` for `base`, in the keyring when one answers, else in the private file.
pub fn remember_key(
    dir: &Path,
    base: &str,
    key: &str,
    use_keyring: bool,
) -> std::io::Result<KeptIn> {
    if use_keyring {
        match keyring_entry(base).and_then(|e| e.set_password(key)) {
            Ok(()) => {
                // A key left in the file from before must not outlive the one in the keyring.
                remove_file(dir)?;
                return Ok(KeptIn::Keyring);
            }
            Err(e) => {
                tracing::info!(error = %e, "no OS keyring; keeping the key in a private file")
            }
        }
    }
    let stored = StoredKey {
        base_url: base.to_owned(),
        api_key: key.to_owned(),
    };
    let text = serde_json::to_string(&stored).map_err(std::io::Error::other)?;
    write_private(&key_path(dir), &text)?;
    Ok(KeptIn::PrivateFile)
}

/// The key remembered for `base`, from the keyring or the file.
pub fn remembered_key(dir: &Path, base: &str, use_keyring: bool) -> Option<String> {
    if use_keyring {
        if let Ok(key) = keyring_entry(base).and_then(|e| e.get_password()) {
            return Some(key);
        }
    }
    let text = std::fs::read_to_string(key_path(dir)).ok()?;
    let stored: StoredKey = serde_json::from_str(&text).ok()?;
    (stored.base_url == base).then_some(stored.api_key)
}

/// Forgets any key remembered for `base`, wherever it was kept.
pub fn forget_key(dir: &Path, base: &str, use_keyring: bool) -> std::io::Result<()> {
    if use_keyring {
        // No entry, or no keyring at all: nothing to forget there.
        let _ = keyring_entry(base).and_then(|e| e.delete_credential());
    }
    remove_file(dir)
}

fn remove_file(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(key_path(dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `text` so that only this user can read it (0600 on Unix), replacing the file whole.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_file_is_private_and_only_for_its_server() {
        let dir = tempfile::tempdir().unwrap();
        let a = "http://a:8000/v1";
        assert_eq!(
            remember_key(dir.path(), a, "k1", false).unwrap(),
            KeptIn::PrivateFile
        );
        assert_eq!(remembered_key(dir.path(), a, false).as_deref(), Some("k1"));
        assert_eq!(remembered_key(dir.path(), "http://b:8000/v1", false), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        forget_key(dir.path(), a, false).unwrap();
        assert_eq!(remembered_key(dir.path(), a, false), None);
        // Forgetting twice is not an error.
        forget_key(dir.path(), a, false).unwrap();
    }

    #[test]
    fn with_the_keyring_asked_a_key_is_kept_somewhere_and_found_again() {
        // Where a Secret Service runs the key goes there, else (CI, these VMs) into the file;
        // either way it comes back, and forgetting clears both.
        let dir = tempfile::tempdir().unwrap();
        let base = "http://onevision-test.invalid:1/v1";
        let kept = remember_key(dir.path(), base, "k-test", true).unwrap();
        assert_eq!(
            dir.path().join(KEY_FILE).exists(),
            kept == KeptIn::PrivateFile
        );
        assert_eq!(
            remembered_key(dir.path(), base, true).as_deref(),
            Some("k-test")
        );
        forget_key(dir.path(), base, true).unwrap();
        assert_eq!(remembered_key(dir.path(), base, true), None);
    }
}
