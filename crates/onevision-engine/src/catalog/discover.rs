//! Models already on this machine: snapshots in the Hugging Face cache and folders the user
//! pointed at. Finding is cheap (file names and sizes only); [`super::verify`] does the deep check.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cache::{repo_from_folder_name, RepoCache};
use super::{find_by_folder_name, find_by_repo, verify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    HubCache,
    Folder,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundModel {
    /// The catalog entry this is a copy of, when it is one.
    pub catalog_id: Option<&'static str>,
    /// "Org/Name" for a cache snapshot.
    pub repo: Option<String>,
    /// The snapshot's commit, for a cache snapshot.
    pub commit: Option<String>,
    /// The folder to load: a snapshot folder or the user's folder.
    pub path: PathBuf,
    pub source: Source,
    /// config.json's `model_type` ("qwen2_5_vl"), when it could be read.
    pub model_type: Option<String>,
    /// Every file a load needs is there.
    pub complete: bool,
    /// What is missing, by file name.
    pub missing: Vec<String>,
    /// A download of this repository was interrupted and can be resumed.
    pub partial_download: bool,
    pub bytes: u64,
}

/// The model type this app runs.
pub const MODEL_TYPE: &str = "qwen2_5_vl";

/// Every Qwen2.5-VL model in the hub cache `cache` (catalog repositories even when incomplete),
/// then every model folder in `extra`: a folder with a config.json is a model, otherwise its
/// subfolders with one are.
pub fn discover(cache: Option<&Path>, extra: &[PathBuf]) -> Vec<FoundModel> {
    let mut found = Vec::new();
    if let Some(cache) = cache {
        found.extend(scan_cache(cache));
    }
    for dir in extra {
        if dir.join("config.json").is_file() {
            found.push(folder_model(dir));
        } else {
            for sub in subdirs(dir) {
                if sub.join("config.json").is_file() {
                    found.push(folder_model(&sub));
                }
            }
        }
    }
    found
}

fn scan_cache(cache: &Path) -> Vec<FoundModel> {
    let mut found = Vec::new();
    for repo_dir in subdirs(cache) {
        let Some(repo) = repo_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(repo_from_folder_name)
        else {
            continue;
        };
        let entry = find_by_repo(&repo);
        let rc = RepoCache {
            root: repo_dir.clone(),
        };
        let partial = has_partial_blobs(&repo_dir.join("blobs"));
        let main = rc.read_ref("main");
        let mut snapshots = subdirs(&repo_dir.join("snapshots"));
        // The snapshot "main" points to first, then the rest by name for a stable order.
        snapshots.sort_by_key(|s| {
            let is_main = main.as_deref() == s.file_name().and_then(|n| n.to_str());
            (!is_main, s.clone())
        });
        for snap in snapshots {
            let model_type = model_type(&snap);
            if entry.is_none() && model_type.as_deref() != Some(MODEL_TYPE) {
                continue;
            }
            let missing = verify::missing_files(&snap);
            found.push(FoundModel {
                catalog_id: entry.map(|e| e.id),
                repo: Some(repo.clone()),
                commit: snap.file_name().and_then(|n| n.to_str()).map(String::from),
                complete: missing.is_empty(),
                missing,
                partial_download: partial,
                bytes: folder_bytes(&snap),
                model_type,
                path: snap,
                source: Source::HubCache,
            });
        }
    }
    found
}

fn folder_model(dir: &Path) -> FoundModel {
    let missing = verify::missing_files(dir);
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    FoundModel {
        catalog_id: find_by_folder_name(name).map(|e| e.id),
        repo: None,
        commit: None,
        path: dir.to_path_buf(),
        source: Source::Folder,
        model_type: model_type(dir),
        complete: missing.is_empty(),
        missing,
        partial_download: false,
        bytes: folder_bytes(dir),
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn model_type(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("model_type")?.as_str().map(String::from)
}

fn has_partial_blobs(blobs: &Path) -> bool {
    std::fs::read_dir(blobs).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
    })
}

/// Bytes of the files a folder holds, following the cache's symlinks.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        folder_bytes(&p)
                    } else {
                        std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
