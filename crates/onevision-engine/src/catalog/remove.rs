//! Removing a model from this machine to free its disk: a Hugging Face cache snapshot, or the
//! model files of a folder the student added, and with either the packed weights kept for it.
//!
//! Only what belongs to the model goes. In the cache, blobs another snapshot still links to stay
//! (the last snapshot takes its repository's whole folder with it). In a folder of the student's
//! own, only the checkpoint's files are deleted; anything else there, and so the folder, stays.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use onevision_model::weights::{INDEX_FILE, SINGLE_FILE};
use onevision_model::CONFIG_FILE;

use super::cache::repo_from_folder_name;
use super::error::{CatalogError, Result};
use super::verify::TOKENIZER_FILE;

/// Files a checkpoint folder carries besides its config, tokenizer and weights.
const SIDE_FILES: &[&str] = &[
    "generation_config.json",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.json",
    "chat_template.jinja",
];

/// What a removal deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Bytes of the model's files and packed weights that are gone.
    pub freed_bytes: u64,
    /// How many packed-weight files went with it.
    pub packed_files: usize,
}

/// Removes the model at `path` (as [`super::discover`] found it) and its packed weights under
/// `packed_dir`.
pub fn remove_model(path: &Path, packed_dir: Option<&Path>) -> Result<Removed> {
    if !path.join(CONFIG_FILE).is_file() {
        return Err(CatalogError::Incomplete {
            path: path.to_path_buf(),
            reason: format!("has no {CONFIG_FILE}: it is not a model folder, nothing was removed"),
        });
    }
    // Packed files are named after the resolved folder, so they are found before it goes.
    let packed = packed_dir
        .map(|d| onevision_model::packed::kept_files(d, path))
        .unwrap_or_default();
    let mut freed = match hub_repo_root(path) {
        Some(root) => remove_snapshot(&root, path)?,
        None => remove_checkpoint_files(path)?,
    };
    for f in &packed {
        freed += file_len(f);
        std::fs::remove_file(f).map_err(|e| CatalogError::io(f, e))?;
    }
    Ok(Removed {
        freed_bytes: freed,
        packed_files: packed.len(),
    })
}

/// `<cache>/models--Org--Name` when `path` is one of its `snapshots/<commit>` folders.
fn hub_repo_root(path: &Path) -> Option<PathBuf> {
    let snapshots = path.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let root = snapshots.parent()?;
    repo_from_folder_name(root.file_name()?.to_str()?)?;
    Some(root.to_path_buf())
}

fn remove_snapshot(root: &Path, snapshot: &Path) -> Result<u64> {
    let snapshots = root.join("snapshots");
    let others: Vec<PathBuf> = subdirs(&snapshots)?
        .into_iter()
        .filter(|s| s.file_name() != snapshot.file_name())
        .collect();
    if others.is_empty() {
        let freed = tree_bytes(root);
        std::fs::remove_dir_all(root).map_err(|e| CatalogError::io(root, e))?;
        return Ok(freed);
    }
    let still_linked: HashSet<PathBuf> = others.iter().flat_map(|s| linked_blobs(s)).collect();
    let mut freed = 0;
    for blob in linked_blobs(snapshot) {
        if !still_linked.contains(&blob) {
            freed += file_len(&blob);
            std::fs::remove_file(&blob).map_err(|e| CatalogError::io(&blob, e))?;
        }
    }
    // Files stored in the snapshot itself (no symlinks, as on some Windows set-ups) count too.
    freed += tree_bytes(snapshot);
    std::fs::remove_dir_all(snapshot).map_err(|e| CatalogError::io(snapshot, e))?;
    if let Some(commit) = snapshot.file_name().and_then(|c| c.to_str()) {
        remove_refs_to(&root.join("refs"), commit)?;
    }
    Ok(freed)
}

/// The blobs a snapshot's symlinks point to, as resolved paths.
fn linked_blobs(snapshot: &Path) -> Vec<PathBuf> {
    let mut blobs = Vec::new();
    let mut pending = vec![snapshot.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let p = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_symlink() {
                if let Ok(blob) = std::fs::canonicalize(&p) {
                    blobs.push(blob);
                }
            } else if meta.is_dir() {
                pending.push(p);
            }
        }
    }
    blobs
}

/// Deletes every ref file naming `commit` (refs/main for the snapshot "main" resolved to).
fn remove_refs_to(refs: &Path, commit: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(refs) else {
        return Ok(());
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let p = entry.path();
        if p.is_file() && std::fs::read_to_string(&p).is_ok_and(|t| t.trim() == commit) {
            std::fs::remove_file(&p).map_err(|e| CatalogError::io(&p, e))?;
        }
    }
    Ok(())
}

/// Deletes the checkpoint's own files from a folder of the student's, then the folder if that
/// left it empty.
fn remove_checkpoint_files(dir: &Path) -> Result<u64> {
    let mut names: Vec<String> = [CONFIG_FILE, TOKENIZER_FILE, INDEX_FILE, SINGLE_FILE]
        .iter()
        .chain(SIDE_FILES)
        .map(|s| s.to_string())
        .collect();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| CatalogError::io(dir, e))?
        .filter_map(|e| e.ok())
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".safetensors") {
            names.push(name);
        }
    }
    let mut freed = 0;
    for name in names {
        let f = dir.join(&name);
        if f.is_file() {
            freed += file_len(&f);
            std::fs::remove_file(&f).map_err(|e| CatalogError::io(&f, e))?;
        }
    }
    let empty = std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_none());
    if empty {
        std::fs::remove_dir(dir).map_err(|e| CatalogError::io(dir, e))?;
    }
    Ok(freed)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| CatalogError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect())
}

fn file_len(f: &Path) -> u64 {
    std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)
}

/// Bytes of the plain files under `dir`, symlinks not followed (each blob counts once).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match std::fs::symlink_metadata(e.path()) {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevision_model::Quantization;

    fn write(path: &Path, bytes: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![7u8; bytes]).unwrap();
    }

    /// One snapshot of a cache repository: each `(file, blob, bytes)` a symlink to that blob,
    /// written with `bytes` bytes unless another snapshot already did.
    fn snapshot(root: &Path, commit: &str, files: &[(&str, &str, usize)]) -> PathBuf {
        let snap = root.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        for (file, blob, bytes) in files {
            let b = root.join("blobs").join(blob);
            if !b.exists() {
                write(&b, *bytes);
            }
            std::os::unix::fs::symlink(Path::new("../../blobs").join(blob), snap.join(file))
                .unwrap();
        }
        snap
    }

    #[test]
    fn the_last_snapshot_takes_the_repository_and_its_packed_weights() {
        let cache = tempfile::tempdir().unwrap();
        let packed = tempfile::tempdir().unwrap();
        let root = cache.path().join("models--Fancy-Tech--R1-Onevision-7B");
        let snap = snapshot(
            &root,
            "abc",
            &[("config.json", "c1", 10), ("model.safetensors", "w1", 1000)],
        );
        write(&root.join("blobs").join("w2.incomplete"), 500);
        write(&root.join("refs").join("main"), 3);
        let q4k = onevision_model::packed::target_file(packed.path(), &snap, Quantization::Q4K);
        write(&q4k, 300);
        let elsewhere = packed
            .path()
            .join("Qwen2.5-VL-3B-q4k-0123456789abcdef.gguf");
        write(&elsewhere, 30);

        let removed = remove_model(&snap, Some(packed.path())).unwrap();
        assert_eq!(
            removed,
            Removed {
                freed_bytes: 10 + 1000 + 500 + 3 + 300,
                packed_files: 1
            }
        );
        assert!(!root.exists() && !q4k.exists());
        assert!(cache.path().is_dir() && elsewhere.is_file());
    }

    #[test]
    fn a_snapshot_beside_another_keeps_the_blobs_they_share() {
        let cache = tempfile::tempdir().unwrap();
        let root = cache.path().join("models--Qwen--Qwen2.5-VL-3B-Instruct");
        let old = snapshot(
            &root,
            "old",
            &[("config.json", "c1", 10), ("model.safetensors", "w1", 1000)],
        );
        let new = snapshot(
            &root,
            "new",
            &[("config.json", "c2", 20), ("model.safetensors", "w1", 1000)],
        );
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs").join("main"), "new").unwrap();

        let removed = remove_model(&new, None).unwrap();
        assert_eq!(
            removed,
            Removed {
                freed_bytes: 20,
                packed_files: 0
            }
        );
        assert!(!new.exists() && !root.join("blobs").join("c2").exists());
        assert!(!root.join("refs").join("main").exists());
        assert!(root.join("blobs").join("w1").is_file() && root.join("blobs").join("c1").is_file());
        assert!(old.join("model.safetensors").is_file());
    }

    #[test]
    fn a_folder_of_ones_own_loses_only_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("my-model");
        for (f, n) in [
            ("config.json", 10),
            ("tokenizer.json", 20),
            ("generation_config.json", 5),
            ("model-00001-of-00002.safetensors", 100),
            ("model-00002-of-00002.safetensors", 100),
            ("model.safetensors.index.json", 7),
            ("notes.txt", 3),
        ] {
            write(&model.join(f), n);
        }
        let removed = remove_model(&model, None).unwrap();
        assert_eq!(removed.freed_bytes, 242);
        let left: Vec<_> = std::fs::read_dir(&model)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["notes.txt"]);

        let bare = dir.path().join("bare");
        write(&bare.join("config.json"), 10);
        write(&bare.join("model.safetensors"), 50);
        assert_eq!(remove_model(&bare, None).unwrap().freed_bytes, 60);
        assert!(!bare.exists());
    }

    #[test]
    fn a_folder_without_a_config_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("model.safetensors"), 50);
        let e = remove_model(dir.path(), None).unwrap_err().to_string();
        assert!(
            e.contains("config.json") && e.contains("nothing was removed"),
            "{e}"
        );
        assert!(dir.path().join("model.safetensors").is_file());
    }
}
