//! Whether a folder is a complete, loadable checkpoint: config.json parses, tokenizer.json loads,
//! every weight file is present and as long as its safetensors header says, and, inside the
//! Hugging Face cache where each file is named by its hash, every file's content matches it.

use std::path::{Path, PathBuf};

use onevision_model::weights::{Checkpoint, INDEX_FILE, SINGLE_FILE};
use onevision_model::{ModelConfig, CONFIG_FILE};
use serde::Serialize;

use super::error::{CatalogError, Result};
use super::hash::{hash_file, HubHash};

pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The files a load needs that are not in `dir`, by name (cheap: no file is opened but the
/// index of a sharded checkpoint).
pub fn missing_files(dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for f in [CONFIG_FILE, TOKENIZER_FILE] {
        if !dir.join(f).is_file() {
            missing.push(f.to_string());
        }
    }
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        match shard_names(&index) {
            Some(shards) => missing.extend(shards.into_iter().filter(|s| !dir.join(s).is_file())),
            None => missing.push(format!("{INDEX_FILE} (unreadable)")),
        }
    } else if !dir.join(SINGLE_FILE).is_file() {
        missing.push(SINGLE_FILE.to_string());
    }
    missing
}

fn shard_names(index: &Path) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(index).ok()?).ok()?;
    let mut names: Vec<String> = v
        .get("weight_map")?
        .as_object()?
        .values()
        .filter_map(|f| f.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub path: PathBuf,
    pub weight_files: usize,
    pub weight_bytes: u64,
    /// Files whose content was checked against the hash they are stored under.
    pub hashed_files: usize,
    pub parameters: u64,
    pub text_layers: usize,
    pub vision_blocks: usize,
}

/// Checks `dir` as described above; `hashes: false` skips reading whole files. The error names
/// the first file at fault.
pub fn verify(dir: &Path, hashes: bool) -> Result<VerifyReport> {
    if !dir.is_dir() {
        return Err(CatalogError::Incomplete {
            path: dir.to_path_buf(),
            reason: "is not a folder".into(),
        });
    }
    if let Some(first) = missing_files(dir).first() {
        return Err(CatalogError::Incomplete {
            path: dir.join(first.trim_end_matches(" (unreadable)")),
            reason: if first.ends_with("(unreadable)") {
                "cannot be read as a shard index".into()
            } else {
                "is missing".into()
            },
        });
    }
    let config = ModelConfig::from_file(&dir.join(CONFIG_FILE))?;
    let tokenizer = dir.join(TOKENIZER_FILE);
    tokenizers::Tokenizer::from_file(&tokenizer).map_err(|e| CatalogError::Incomplete {
        path: tokenizer.clone(),
        reason: format!("cannot be loaded: {e}"),
    })?;
    let checkpoint = Checkpoint::open(dir)?;
    let weight_bytes = checkpoint
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let hashed_files = if hashes { check_hashes(dir)? } else { 0 };
    Ok(VerifyReport {
        path: dir.to_path_buf(),
        weight_files: checkpoint.files.len(),
        weight_bytes,
        hashed_files,
        parameters: crate::hardware::ModelSize::from_config(&config).total_params(),
        text_layers: config.text.num_hidden_layers,
        vision_blocks: config.vision.depth,
    })
}

/// Hashes every file of `dir` that links to a blob named by its hash; returns how many.
fn check_hashes(dir: &Path) -> Result<usize> {
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CatalogError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            checked += check_hashes(&path)?;
            continue;
        }
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let Some(expected) = target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(HubHash::from_blob_name)
        else {
            continue;
        };
        let actual = hash_file(&path, &expected)?;
        if actual != expected.hex() {
            return Err(CatalogError::Incomplete {
                path,
                reason: format!(
                    "is damaged: its {} is {actual} but the hub's is {} (download it again)",
                    expected.algorithm(),
                    expected.hex()
                ),
            });
        }
        checked += 1;
    }
    Ok(checked)
}
