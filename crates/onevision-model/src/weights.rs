//! Finding, checking and memory-mapping a checkpoint's safetensors files (single or sharded), and
//! the tensor-name layout (published checkpoints prefix the decoder with `model.` and the vision
//! tower with `visual.`; newer transformers writes `model.language_model.` and `model.visual.`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde_json::Value;

use crate::error::{Error, Result};

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Where the parts of the model live inside the checkpoint's tensor names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorLayout {
    pub text: &'static str,
    pub vision: &'static str,
    pub has_lm_head: bool,
}

pub struct Checkpoint {
    pub files: Vec<PathBuf>,
    pub layout: TensorLayout,
    tensors: MmapedSafetensors,
}

impl Checkpoint {
    /// Opens every safetensors file of `dir`, refusing a missing or damaged shard by name.
    pub fn open(dir: &Path) -> Result<Self> {
        let files = weight_files(dir)?;
        for file in &files {
            check_file(file)?;
        }
        // SAFETY: the files are mapped read-only; as with every memory-mapped checkpoint loader,
        // another process truncating them while we run is outside what we can defend against.
        let tensors = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| Error::Weights {
            path: dir.to_path_buf(),
            reason: format!("the safetensors files cannot be mapped: {e}"),
        })?;
        let names: BTreeSet<String> = tensors.tensors().into_iter().map(|(n, _)| n).collect();
        let layout = if names.contains("model.language_model.embed_tokens.weight") {
            TensorLayout {
                text: "model.language_model",
                vision: "model.visual",
                has_lm_head: names.contains("lm_head.weight"),
            }
        } else if names.contains("model.embed_tokens.weight") {
            TensorLayout {
                text: "model",
                vision: "visual",
                has_lm_head: names.contains("lm_head.weight"),
            }
        } else {
            return Err(Error::Weights {
                path: dir.to_path_buf(),
                reason: "holds no token embedding (`model.embed_tokens.weight` or \
                         `model.language_model.embed_tokens.weight`): not a Qwen2.5-VL checkpoint"
                    .into(),
            });
        };
        for (name, view) in tensors.tensors() {
            let dtype = DType::try_from(view.dtype()).ok();
            if !matches!(dtype, Some(DType::F32 | DType::F16 | DType::BF16)) {
                return Err(Error::Weights {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "tensor `{name}` is stored as {:?}; supported are f32, f16 and bf16",
                        view.dtype()
                    ),
                });
            }
        }
        Ok(Checkpoint {
            files,
            layout,
            tensors,
        })
    }

    /// A builder reading tensors converted to `dtype` on `device`.
    pub fn var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.tensors), dtype, device.clone())
    }
}

fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: index.clone(),
            source,
        })?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Weights {
                path: index.clone(),
                reason: "has no `weight_map` object".into(),
            })?;
        let mut shards = BTreeSet::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| Error::Weights {
                path: index.clone(),
                reason: format!("`weight_map` entry for `{tensor}` is not a file name"),
            })?;
            if file.contains('/') || file.contains('\\') || file == ".." {
                return Err(Error::Weights {
                    path: index.clone(),
                    reason: format!("shard name `{file}` must be a plain file name"),
                });
            }
            shards.insert(file.to_string());
        }
        if shards.is_empty() {
            return Err(Error::Weights {
                path: index,
                reason: "lists no shards".into(),
            });
        }
        let files: Vec<PathBuf> = shards.iter().map(|s| dir.join(s)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(Error::Weights {
                path: missing.clone(),
                reason: format!("this shard, listed in {INDEX_FILE}, is missing"),
            });
        }
        return Ok(files);
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(Error::Weights {
        path: dir.to_path_buf(),
        reason: format!("holds neither {SINGLE_FILE} nor {INDEX_FILE}"),
    })
}

/// Reads a safetensors header and checks the file is as long as the header says.
fn check_file(path: &Path) -> Result<()> {
    use std::io::Read;
    let fail = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = [0u8; 8];
    f.read_exact(&mut head).map_err(|_| {
        fail(format!(
            "is truncated: {len} bytes, too short for a safetensors header"
        ))
    })?;
    let header_len = u64::from_le_bytes(head);
    if header_len > 100 * 1024 * 1024 || 8 + header_len > len {
        return Err(fail(format!(
            "is truncated or not a safetensors file: its header claims {header_len} bytes but the file has {len}"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_slice(&header)
        .map_err(|e| fail(format!("has a damaged safetensors header: {e}")))?;
    let data_end = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "__metadata__")
        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let expected = 8 + header_len + data_end;
    if len < expected {
        return Err(fail(format!(
            "is truncated: {len} bytes on disk, {expected} expected (re-download this file)"
        )));
    }
    Ok(())
}
