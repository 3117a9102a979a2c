//! The Hugging Face hub cache, laid out as `huggingface_hub` lays it out, so models downloaded by
//! Python tools are found here and ours are found by them:
//!
//! ```text
//! <cache>/models--Org--Name/
//!   refs/main                     the commit "main" resolved to
//!   blobs/<sha256 or git sha1>    file contents, named by their hub hash
//!   blobs/<hash>.incomplete       a download in progress (resumed from its length)
//!   snapshots/<commit>/<file>     relative symlinks into blobs/
//! ```

use std::path::{Path, PathBuf};

use super::error::{CatalogError, Result};

/// A path from the environment variable `name`, unless unset or empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
/// else `~/.cache/huggingface/hub` (the same order `huggingface_hub` uses).
pub fn hub_cache_dir() -> Option<PathBuf> {
    env_path("HF_HUB_CACHE")
        .or_else(|| env_path("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| hf_home().map(|h| h.join("hub")))
}

/// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> Option<PathBuf> {
    env_path("HF_HOME")
        .or_else(|| env_path("XDG_CACHE_HOME").map(|x| x.join("huggingface")))
        .or_else(|| dirs::home_dir().map(|h| h.join(".cache").join("huggingface")))
}

/// Where packed (quantised) weights are kept between starts (onevision-model's `packed`):
/// `ONEVISION_PACKED_DIR`, else `$XDG_CACHE_HOME/onevision/packed`, else
/// `~/.cache/onevision/packed`.
pub fn packed_dir() -> Option<PathBuf> {
    env_path("ONEVISION_PACKED_DIR")
        .or_else(|| env_path("XDG_CACHE_HOME").map(|x| x.join("onevision").join("packed")))
        .or_else(|| dirs::home_dir().map(|h| h.join(".cache").join("onevision").join("packed")))
}

/// "Org/Name" -> "models--Org--Name".
pub fn repo_folder_name(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

/// "models--Org--Name" -> "Org/Name"; `None` for anything else.
pub fn repo_from_folder_name(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix("models--")?;
    let parts: Vec<&str> = rest.split("--").collect();
    (parts.len() >= 2 && parts.iter().all(|p| !p.is_empty())).then(|| parts.join("/"))
}

/// The name a model folder goes by: "Name" for a hub snapshot
/// (`…/models--Org--Name/snapshots/<commit>`, whose own name is only a commit hash), else the
/// folder's own name.
pub fn model_folder_name(dir: &Path) -> String {
    let own = || {
        dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let parent = dir.parent();
    let in_snapshots = parent.and_then(Path::file_name) == Some(std::ffi::OsStr::new("snapshots"));
    let repo = parent
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| repo_from_folder_name(&n.to_string_lossy()));
    match repo {
        Some(repo) if in_snapshots => repo.rsplit('/').next().map_or_else(own, str::to_string),
        _ => own(),
    }
}

/// One repository's folder in the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    pub root: PathBuf,
}

impl RepoCache {
    pub fn new(cache: &Path, repo: &str) -> RepoCache {
        RepoCache {
            root: cache.join(repo_folder_name(repo)),
        }
    }

    pub fn blob(&self, hash: &str) -> PathBuf {
        self.root.join("blobs").join(hash)
    }

    pub fn partial(&self, hash: &str) -> PathBuf {
        self.root.join("blobs").join(format!("{hash}.incomplete"))
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.root.join("snapshots").join(commit)
    }

    /// The commit a ref (a branch or tag name) points to, if the cache recorded it.
    pub fn read_ref(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("refs").join(name)).ok()?;
        let commit = text.trim();
        (!commit.is_empty()).then(|| commit.to_string())
    }

    pub fn write_ref(&self, name: &str, commit: &str) -> Result<()> {
        let path = self.root.join("refs").join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
        }
        std::fs::write(&path, commit).map_err(|e| CatalogError::io(&path, e))
    }

    /// Makes `snapshots/<commit>/<file>` point at the blob `hash`, replacing what was there.
    pub fn link(&self, commit: &str, file: &str, hash: &str) -> Result<PathBuf> {
        let dest = self.snapshot(commit).join(file);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| CatalogError::io(&dir, e))?;
        if dest.symlink_metadata().is_ok() {
            std::fs::remove_file(&dest).map_err(|e| CatalogError::io(&dest, e))?;
        }
        // snapshots/<commit>/<a/b/file> -> ../../(../..)blobs/<hash>: relative, so the cache can move.
        let depth = 2 + file.matches('/').count();
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(hash);
        place(&target, &self.blob(hash), &dest).map_err(|e| CatalogError::io(&dest, e))?;
        Ok(dest)
    }
}

#[cfg(unix)]
fn place(relative: &Path, _blob: &Path, dest: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(relative, dest)
}

/// Windows allows symlinks only to some users; `huggingface_hub` then keeps files in the
/// snapshot itself. A hard link keeps one copy on disk.
#[cfg(not(unix))]
fn place(_relative: &Path, blob: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::hard_link(blob, dest).or_else(|_| std::fs::copy(blob, dest).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_round_trip() {
        assert_eq!(
            repo_folder_name("Fancy-MLLM/R1-Onevision-7B"),
            "models--Fancy-MLLM--R1-Onevision-7B"
        );
        assert_eq!(
            repo_from_folder_name("models--Fancy-MLLM--R1-Onevision-7B").as_deref(),
            Some("Fancy-MLLM/R1-Onevision-7B")
        );
        assert_eq!(repo_from_folder_name("datasets--a--b"), None);
        assert_eq!(repo_from_folder_name("models--solo"), None);
    }

    #[test]
    fn snapshots_are_named_after_their_repository() {
        let snap = Path::new("/c/hub/models--Fancy-MLLM--R1-Onevision-7B-RL/snapshots/0a1b2c");
        assert_eq!(model_folder_name(snap), "R1-Onevision-7B-RL");
        assert_eq!(
            model_folder_name(Path::new("/models/R1-Onevision-7B")),
            "R1-Onevision-7B"
        );
        // A folder merely called "snapshots" elsewhere keeps its own name.
        assert_eq!(
            model_folder_name(Path::new("/home/me/snapshots/my-model")),
            "my-model"
        );
    }

    #[test]
    fn snapshot_links_resolve_to_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let repo = RepoCache::new(dir.path(), "Org/Name");
        std::fs::create_dir_all(repo.root.join("blobs")).unwrap();
        std::fs::write(repo.blob("abc"), b"hello").unwrap();
        let top = repo.link("c0ffee", "config.json", "abc").unwrap();
        let nested = repo.link("c0ffee", "sub/dir/x.json", "abc").unwrap();
        assert_eq!(std::fs::read(top).unwrap(), b"hello");
        assert_eq!(std::fs::read(&nested).unwrap(), b"hello");
        // Linking again replaces the old link.
        repo.link("c0ffee", "sub/dir/x.json", "abc").unwrap();
        repo.write_ref("main", "c0ffee").unwrap();
        assert_eq!(repo.read_ref("main").as_deref(), Some("c0ffee"));
    }
}
