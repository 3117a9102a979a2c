//! Finding, checking and reading a checkpoint's safetensors files (single or sharded), and the
//! tensor-name layout (published checkpoints prefix the decoder with `model.` and the vision
//! tower with `visual.`; newer transformers writes `model.language_model.` and `model.visual.`).
//!
//! Tensors are read one at a time with positioned reads rather than through a memory map: the
//! pages of a mapped 16 GB 7B checkpoint count as this process's resident memory until it is
//! unmapped, so a map doubled the peak memory of a load that keeps a quarter of those bytes.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
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

/// Where one tensor's bytes lie.
#[derive(Debug, Clone)]
struct TensorEntry {
    file: usize,
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

pub struct Checkpoint {
    pub files: Vec<PathBuf>,
    pub layout: TensorLayout,
    tensors: TensorFiles,
}

/// The open shards and where each tensor lies in them.
struct TensorFiles {
    paths: Vec<PathBuf>,
    handles: Vec<File>,
    entries: HashMap<String, TensorEntry>,
}

impl Checkpoint {
    /// Opens every safetensors file of `dir`, refusing a missing or damaged shard by name.
    pub fn open(dir: &Path) -> Result<Self> {
        let files = weight_files(dir)?;
        let mut entries = HashMap::new();
        let mut handles = Vec::with_capacity(files.len());
        for (i, file) in files.iter().enumerate() {
            let (handle, found) = index_file(file, i)?;
            handles.push(handle);
            entries.extend(found);
        }
        let names: BTreeSet<&str> = entries.keys().map(String::as_str).collect();
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
        Ok(Checkpoint {
            tensors: TensorFiles {
                paths: files.clone(),
                handles,
                entries,
            },
            files,
            layout,
        })
    }

    /// How the tensor `name` is stored, if the checkpoint holds it.
    pub fn stored_dtype(&self, name: &str) -> Option<DType> {
        self.tensors.entries.get(name).map(|e| e.dtype)
    }

    /// A builder reading tensors converted to `dtype` on `device`.
    pub fn var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.tensors), dtype, device.clone())
    }
}

impl TensorFiles {
    fn read(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        use std::os::unix::fs::FileExt;
        let Some(e) = self.entries.get(name) else {
            candle_core::bail!("the checkpoint holds no tensor `{name}`");
        };
        let mut bytes = vec![0u8; (e.end - e.start) as usize];
        self.handles[e.file]
            .read_exact_at(&mut bytes, e.start)
            .map_err(|err| {
                candle_core::Error::Msg(format!(
                    "cannot read `{name}` from {}: {err}",
                    self.paths[e.file].display()
                ))
            })?;
        let stored = Tensor::from_raw_buffer(&bytes, e.dtype, &e.shape, &Device::Cpu)?;
        drop(bytes);
        stored.to_dtype(dtype)?.to_device(dev)
    }
}

impl SimpleBackend for TensorFiles {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Some(e) = self.entries.get(name) {
            if e.shape.as_slice() != s.dims() {
                candle_core::bail!(
                    "tensor `{name}` has shape {:?} where {:?} is expected",
                    e.shape,
                    s.dims()
                );
            }
        }
        self.read(name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.read(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.entries.contains_key(name)
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

/// Reads a safetensors header, checks the file is as long as the header says and every tensor's
/// bytes fit its dtype and shape, and returns the open file with where each tensor lies.
fn index_file(path: &Path, file: usize) -> Result<(File, Vec<(String, TensorEntry)>)> {
    use std::io::Read;
    let fail = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
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
    let Some(map) = v.as_object() else {
        return Err(fail(
            "has a safetensors header that is not a JSON object".into(),
        ));
    };
    let data_start = 8 + header_len;
    let mut entries = Vec::with_capacity(map.len());
    let mut data_end = 0;
    for (name, t) in map.iter().filter(|(k, _)| *k != "__metadata__") {
        let damaged = |what: &str| {
            fail(format!(
                "has a damaged safetensors header: tensor `{name}` {what}"
            ))
        };
        let dtype_name = t.get("dtype").and_then(Value::as_str).unwrap_or("");
        let dtype = match dtype_name {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            other => {
                return Err(fail(format!(
                    "tensor `{name}` is stored as {other}; supported are F32, F16 and BF16"
                )))
            }
        };
        let shape: Vec<usize> = t
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|dims| {
                dims.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect()
            })
            .ok_or_else(|| damaged("has no shape"))?;
        let offsets: Vec<u64> = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|o| o.iter().map(Value::as_u64).collect())
            .ok_or_else(|| damaged("has no data offsets"))?;
        let [start, end] = offsets[..] else {
            return Err(damaged("has no data offsets"));
        };
        let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let bytes = elements.and_then(|n| n.checked_mul(dtype.size_in_bytes() as u64));
        if start > end || bytes != Some(end - start) {
            return Err(damaged(&format!(
                "spans bytes {start}..{end}, which do not hold a {dtype_name} tensor of shape {shape:?}"
            )));
        }
        data_end = data_end.max(end);
        entries.push((
            name.clone(),
            TensorEntry {
                file,
                dtype,
                shape,
                start: data_start + start,
                end: data_start + end,
            },
        ));
    }
    let expected = data_start + data_end;
    if len < expected {
        return Err(fail(format!(
            "is truncated: {len} bytes on disk, {expected} expected (re-download this file)"
        )));
    }
    Ok((f, entries))
}
