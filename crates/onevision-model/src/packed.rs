//! A quantised model's packed weights (the decoder's projections, the output projection, the
//! embedding table and, on the CPU, the vision tower) kept on disk after the first load.
//!
//! Packing a 7B checkpoint means reading ~16 GB of bf16 and quantising 7.5 billion weights,
//! which takes minutes on a laptop; every later start reads the ~5 GB of packed blocks back
//! instead, on every core. One GGUF file per model folder and quantisation, written once the
//! whole model
//! has loaded (under a temporary name, then renamed, so an interrupted first start leaves nothing
//! that looks complete). It records the checkpoint files' names, sizes and modification times and
//! is ignored, then replaced, when any of them changed. The cache only saves time: a file that
//! cannot be read or written is logged and the weights are packed from the checkpoint as before.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::Device;

use crate::quantization::Quantization;

/// Bumped whenever what is packed, or how, changes: older files are then rebuilt.
const FORMAT: u32 = 1;
const FINGERPRINT_KEY: &str = "onevision.packed.source";

/// What became of the packed weights in one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedWeights {
    /// Nothing was packed, or no cache folder was given, or the file could not be written.
    NotKept,
    /// Packed from the checkpoint and written to the cache for the next start.
    Kept,
    /// Read back from the cache: the checkpoint's projections were not read.
    Reused,
}

impl PackedWeights {
    pub fn name(self) -> &'static str {
        match self {
            PackedWeights::NotKept => "not kept",
            PackedWeights::Kept => "kept",
            PackedWeights::Reused => "reused",
        }
    }
}

/// Packed projections for one load: read from a cache file when a valid one exists, otherwise
/// collected as they are packed so [`Packs::finish`] can write them.
pub(crate) struct Packs {
    target: Option<PathBuf>,
    fingerprint: String,
    reading: Option<Reading>,
    packed: Vec<(String, Arc<QTensor>)>,
    /// Tensors handed out as [`RowsOnDisk`]: still in the file, so a rewrite must read them.
    on_disk: Vec<String>,
    /// Whether any projection had to be packed from the checkpoint this time.
    missed: bool,
}

impl Packs {
    /// No cache: every projection is packed from the checkpoint and nothing is written.
    pub(crate) fn none() -> Self {
        Packs {
            target: None,
            fingerprint: String::new(),
            reading: None,
            packed: Vec::new(),
            on_disk: Vec::new(),
            missed: false,
        }
    }

    /// The cache for `model_dir`'s `files` packed as `quant`, under `cache_dir`. The tensors
    /// named in `left_on_disk` are not read as the file opens: they are meant for
    /// [`Packs::rows_on_disk`].
    pub(crate) fn open(
        cache_dir: Option<&Path>,
        model_dir: &Path,
        files: &[PathBuf],
        quant: Quantization,
        left_on_disk: &[&str],
    ) -> Self {
        let Some(cache_dir) = cache_dir.filter(|_| quant != Quantization::None) else {
            return Packs::none();
        };
        let target = target_file(cache_dir, model_dir, quant);
        let fingerprint = fingerprint(files, quant);
        let reading = match read_header(&target, &fingerprint, left_on_disk) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(file = %target.display(), "packed weights unreadable, packing again: {e}");
                None
            }
        };
        if reading.is_some() {
            tracing::info!(file = %target.display(), "reading packed weights");
        }
        Packs {
            target: Some(target),
            fingerprint,
            reading,
            packed: Vec::new(),
            on_disk: Vec::new(),
            missed: false,
        }
    }

    /// The packed weight `name` of shape (rows, width) in `block`, left in the cache file and
    /// read a few rows at a time, if the cache holds it. Only for a table that is looked up,
    /// never multiplied: its rows then cost no memory until they are asked for.
    pub(crate) fn rows_on_disk(
        &mut self,
        name: &str,
        shape: (usize, usize),
        block: GgmlDType,
    ) -> Option<RowsOnDisk> {
        let reading = self.reading.as_ref()?;
        let info = reading.content.tensor_infos.get(name)?;
        if info.ggml_dtype != block
            || info.shape.dims() != [shape.0, shape.1]
            || !shape.1.is_multiple_of(block.block_size())
        {
            tracing::warn!(
                name,
                "packed table has another shape or format; packing again"
            );
            return None;
        }
        self.on_disk.push(name.to_owned());
        Some(RowsOnDisk {
            file: Arc::clone(&reading.file),
            path: reading.path.clone(),
            offset: reading.content.tensor_data_offset + info.offset,
            rows: shape.0,
            width: shape.1,
            block,
        })
    }

    /// The packed weight `name` of shape (outputs, inputs) in `block`, if the cache holds it.
    pub(crate) fn take(
        &mut self,
        name: &str,
        shape: (usize, usize),
        block: GgmlDType,
        device: &Device,
    ) -> Option<Arc<QTensor>> {
        let reading = self.reading.as_mut()?;
        let info = reading.content.tensor_infos.get(name)?;
        if info.ggml_dtype != block || info.shape.dims() != [shape.0, shape.1] {
            tracing::warn!(
                name,
                "packed weight has another shape or format; packing again"
            );
            return None;
        }
        // Every tensor of the file was read as it was opened; each is taken once.
        let read = reading.read_ahead.remove(name)?.and_then(|t| {
            if device.is_cpu() {
                Ok(t)
            } else {
                qtensor_from_ggml(block, &t.data()?, vec![shape.0, shape.1], device)
            }
        });
        match read {
            Ok(t) => {
                let t = Arc::new(t);
                self.packed.push((name.to_owned(), t.clone()));
                Some(t)
            }
            Err(e) => {
                tracing::warn!(name, "packed weight unreadable; packing again: {e}");
                None
            }
        }
    }

    /// Records a projection packed from the checkpoint, to be written by [`Packs::finish`].
    pub(crate) fn keep(&mut self, name: &str, packed: Arc<QTensor>) {
        self.missed = true;
        self.packed.push((name.to_owned(), packed));
    }

    /// Writes the cache file when anything was packed from the checkpoint during this load.
    pub(crate) fn finish(self) -> PackedWeights {
        let Some(target) = self.target else {
            return PackedWeights::NotKept;
        };
        if self.packed.is_empty() && self.on_disk.is_empty() {
            return PackedWeights::NotKept;
        }
        if !self.missed {
            return PackedWeights::Reused;
        }
        // The new file replaces this one whole, so what is still only in this one is read now.
        // A table already handed out keeps reading the old file, which stays open.
        let mut packed = self.packed;
        if let Some(reading) = &self.reading {
            for name in &self.on_disk {
                match read_tensor(&reading.file, &reading.content, name) {
                    Ok(t) => packed.push((name.clone(), Arc::new(t))),
                    Err(e) => {
                        tracing::warn!(file = %target.display(), name, "cannot keep the packed weights: {e}");
                        return PackedWeights::NotKept;
                    }
                }
            }
        }
        drop(self.reading);
        match write(&target, &self.fingerprint, &packed) {
            Ok(bytes) => {
                tracing::info!(
                    file = %target.display(),
                    mib = bytes / (1 << 20),
                    "kept the packed weights for the next start"
                );
                PackedWeights::Kept
            }
            Err(e) => {
                tracing::warn!(file = %target.display(), "cannot keep the packed weights: {e}");
                PackedWeights::NotKept
            }
        }
    }
}

/// `<folder name>-<quant>-<hash of the folder's full path>.gguf`: one file per model folder.
/// Where the weights of `model_dir` packed as `quant` are kept under `cache_dir`.
pub fn target_file(cache_dir: &Path, model_dir: &Path, quant: Quantization) -> PathBuf {
    cache_dir.join(file_name(model_dir, quant))
}

/// The packed files kept under `cache_dir` for the model folder `model_dir`, one per quantisation
/// packed so far, with an interrupted first start's leftover: what removing the model also
/// removes. Call it while `model_dir` still exists (its name is taken from the resolved path).
pub fn kept_files(cache_dir: &Path, model_dir: &Path) -> Vec<PathBuf> {
    [Quantization::Q8_0, Quantization::Q4K]
        .into_iter()
        .map(|q| target_file(cache_dir, model_dir, q))
        .flat_map(|target| {
            let partial = target.with_extension("gguf.partial");
            [target, partial]
        })
        .filter(|f| f.is_file())
        .collect()
}

fn file_name(model_dir: &Path, quant: Quantization) -> String {
    let full = std::fs::canonicalize(model_dir).unwrap_or_else(|_| model_dir.to_path_buf());
    let stem: String = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!(
        "{stem}-{quant}-{:016x}.gguf",
        fnv1a(full.to_string_lossy().as_bytes())
    )
}

/// FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What the packed file was made from: any change to a checkpoint file makes it stale.
fn fingerprint(files: &[PathBuf], quant: Quantization) -> String {
    let mut s = format!("format {FORMAT}; {quant}");
    for f in files {
        let (len, modified) = std::fs::metadata(f)
            .map(|m| {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (m.len(), modified)
            })
            .unwrap_or((0, 0));
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        s.push_str(&format!("; {name} {len} {modified}"));
    }
    s
}

/// A packed table's rows, read from the cache file as they are asked for.
#[derive(Debug)]
pub(crate) struct RowsOnDisk {
    file: Arc<File>,
    path: PathBuf,
    /// Where the first row starts in the file.
    offset: u64,
    rows: usize,
    width: usize,
    block: GgmlDType,
}

impl RowsOnDisk {
    /// (rows, width) in values.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.width)
    }

    pub(crate) fn block(&self) -> GgmlDType {
        self.block
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The blocks of one row.
    pub(crate) fn row_bytes(&self) -> usize {
        self.width / self.block.block_size() * self.block.type_size()
    }

    /// Appends row `row`'s blocks to `out`; `row` must be below the row count.
    pub(crate) fn read_row(&self, row: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let len = self.row_bytes();
        let start = out.len();
        out.resize(start + len, 0);
        let at = self.offset + (row * len) as u64;
        let read = self.file.read_exact_at(&mut out[start..], at);
        if read.is_err() {
            out.truncate(start);
        }
        read
    }
}

/// A valid cache file being read back.
struct Reading {
    file: Arc<File>,
    path: PathBuf,
    content: gguf_file::Content,
    /// Every tensor, read on all cores as the file was opened: one thread copies from the page
    /// cache at a fraction of memory's speed, and a 7B's file is 5 GB.
    read_ahead: HashMap<String, candle_core::Result<QTensor>>,
}

impl Reading {
    fn new(file: File, path: &Path, content: gguf_file::Content, left_on_disk: &[&str]) -> Self {
        use rayon::prelude::*;
        let names: Vec<&String> = content
            .tensor_infos
            .keys()
            .filter(|name| !left_on_disk.contains(&name.as_str()))
            .collect();
        let read_ahead = names
            .par_iter()
            .map(|&name| (name.clone(), read_tensor(&file, &content, name)))
            .collect();
        Reading {
            file: Arc::new(file),
            path: path.to_path_buf(),
            content,
            read_ahead,
        }
    }
}

/// The tensor `name` of the file, read straight into its blocks (candle's reader copies twice).
fn read_tensor(
    file: &File,
    content: &gguf_file::Content,
    name: &str,
) -> candle_core::Result<QTensor> {
    let Some(info) = content.tensor_infos.get(name) else {
        candle_core::bail!("no tensor `{name}`");
    };
    let offset = content.tensor_data_offset + info.offset;
    match info.ggml_dtype {
        GgmlDType::Q8_0 => read_blocks::<BlockQ8_0>(file, offset, &info.shape),
        GgmlDType::Q4K => read_blocks::<BlockQ4K>(file, offset, &info.shape),
        other => candle_core::bail!("`{name}` is packed as {other:?}, which no projection uses"),
    }
}

fn read_blocks<B: GgmlType + 'static>(
    file: &File,
    offset: u64,
    shape: &candle_core::Shape,
) -> candle_core::Result<QTensor> {
    use std::os::unix::fs::FileExt;
    let elements = shape.elem_count();
    if !elements.is_multiple_of(B::BLCK_SIZE) || std::mem::size_of::<B>() != B::DTYPE.type_size() {
        candle_core::bail!("{shape:?} is not whole {:?} blocks", B::DTYPE);
    }
    let mut blocks = crate::block_memory::zeroed_blocks::<B>(elements / B::BLCK_SIZE);
    // SAFETY: ggml's blocks are plain `repr(C)` bytes (f16 scales, u8/i8 quants) with no
    // padding (their size is ggml's type size, checked above) and any bit pattern is a valid
    // block; the slice covers exactly the vector's initialised elements.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            blocks.as_mut_ptr().cast::<u8>(),
            blocks.len() * std::mem::size_of::<B>(),
        )
    };
    file.read_exact_at(bytes, offset)?;
    QTensor::new(QStorage::Cpu(Box::new(blocks)), shape.clone())
}

/// The cache file's reader and header when it exists and was made from these files.
fn read_header(
    path: &Path,
    fingerprint: &str,
    left_on_disk: &[&str],
) -> candle_core::Result<Option<Reading>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)?;
    let made_from = content
        .metadata
        .get(FINGERPRINT_KEY)
        .and_then(|v| v.to_string().ok());
    if made_from.map(String::as_str) != Some(fingerprint) {
        tracing::info!(file = %path.display(), "packed weights are from another checkpoint; packing again");
        return Ok(None);
    }
    let len = reader.get_ref().metadata()?.len();
    let end = content
        .tensor_infos
        .values()
        .map(|t| {
            let elements = t.shape.elem_count();
            let bytes = elements / t.ggml_dtype.block_size() * t.ggml_dtype.type_size();
            content.tensor_data_offset + t.offset + bytes as u64
        })
        .max()
        .unwrap_or(0);
    if len < end {
        candle_core::bail!("truncated: {len} bytes, {end} expected");
    }
    Ok(Some(Reading::new(
        reader.into_inner(),
        path,
        content,
        left_on_disk,
    )))
}

fn write(
    target: &Path,
    fingerprint: &str,
    packed: &[(String, Arc<QTensor>)],
) -> candle_core::Result<u64> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = target.with_extension("gguf.partial");
    let result = (|| {
        let mut w = BufWriter::new(File::create(&partial)?);
        let source = Value::String(fingerprint.to_owned());
        let tensors: Vec<(&str, &QTensor)> = packed
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_ref()))
            .collect();
        gguf_file::write(&mut w, &[(FINGERPRINT_KEY, &source)], &tensors)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, target)?;
        Ok(std::fs::metadata(target)?.len())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_differ_by_folder_and_quantisation_and_stay_plain() {
        let a = file_name(Path::new("/models/R1 Onevision/7B"), Quantization::Q4K);
        let b = file_name(Path::new("/other/R1 Onevision/7B"), Quantization::Q4K);
        let c = file_name(Path::new("/models/R1 Onevision/7B"), Quantization::Q8_0);
        assert!(a.starts_with("7B-q4k-") && a.ends_with(".gguf"), "{a}");
        assert_ne!(a, b);
        assert!(c.starts_with("7B-q8_0-"), "{c}");
        assert!(file_name(Path::new("/m/a b:c"), Quantization::Q4K).starts_with("a_b_c-"));
    }

    #[test]
    fn kept_files_are_the_folders_own_in_every_quantisation() {
        let models = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mine = models.path().join("R1-Onevision-7B");
        let other = models.path().join("Qwen2.5-VL-3B");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        assert!(kept_files(cache.path(), &mine).is_empty());
        let q4k = target_file(cache.path(), &mine, Quantization::Q4K);
        let q8 = target_file(cache.path(), &mine, Quantization::Q8_0);
        let partial = q8.with_extension("gguf.partial");
        let theirs = target_file(cache.path(), &other, Quantization::Q4K);
        for f in [&q4k, &partial, &theirs] {
            std::fs::write(f, b"GGUF").unwrap();
        }
        let mut found = kept_files(cache.path(), &mine);
        found.sort();
        let mut expected = vec![q4k, partial];
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn the_fingerprint_follows_the_files_and_the_quantisation() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("model.safetensors");
        std::fs::write(&f, b"12345678").unwrap();
        let first = fingerprint(std::slice::from_ref(&f), Quantization::Q4K);
        assert_eq!(
            first,
            fingerprint(std::slice::from_ref(&f), Quantization::Q4K)
        );
        assert_ne!(
            first,
            fingerprint(std::slice::from_ref(&f), Quantization::Q8_0)
        );
        std::fs::write(&f, b"123456789").unwrap();
        assert_ne!(
            first,
            fingerprint(std::slice::from_ref(&f), Quantization::Q4K)
        );
    }

    /// Two Q8_0 tensors with distinct rows: a table of 6 x 64 and a projection of 2 x 32.
    fn tensors() -> Vec<(String, Arc<QTensor>)> {
        let tensor = |rows: usize, width: usize, seed: usize| {
            let values: Vec<f32> = (0..rows * width)
                .map(|i| ((i * 31 + seed) % 97) as f32 / 9.0 - 5.0)
                .collect();
            let dense = candle_core::Tensor::from_vec(values, (rows, width), &Device::Cpu).unwrap();
            Arc::new(QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap())
        };
        vec![
            ("table".to_owned(), tensor(6, 64, 1)),
            ("proj".to_owned(), tensor(2, 32, 5)),
        ]
    }

    fn rows_of(table: &RowsOnDisk, ids: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for &row in ids {
            table.read_row(row, &mut out).unwrap();
        }
        out
    }

    /// A table left on disk reads back the very blocks that were written, without being read as
    /// the file opens; a rewrite (another tensor had to be packed again) still carries it.
    #[test]
    fn a_table_left_on_disk_reads_its_rows_and_survives_a_rewrite() {
        let models = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let checkpoint = models.path().join("model.safetensors");
        std::fs::write(&checkpoint, b"weights").unwrap();
        let files = [checkpoint];
        let quant = Quantization::Q8_0;
        let target = target_file(cache.path(), models.path(), quant);
        let all = tensors();
        let table_bytes = all[0].1.data().unwrap().into_owned();
        write(&target, &fingerprint(&files, quant), &all).unwrap();

        let open = || Packs::open(Some(cache.path()), models.path(), &files, quant, &["table"]);
        let mut packs = open();
        assert!(!packs
            .reading
            .as_ref()
            .unwrap()
            .read_ahead
            .contains_key("table"));
        assert!(packs
            .rows_on_disk("table", (6, 32), GgmlDType::Q8_0)
            .is_none());
        assert!(packs
            .rows_on_disk("table", (6, 64), GgmlDType::Q4K)
            .is_none());
        let table = packs
            .rows_on_disk("table", (6, 64), GgmlDType::Q8_0)
            .unwrap();
        assert_eq!(table.shape(), (6, 64));
        assert_eq!(table.path(), target);
        let row = table.row_bytes();
        assert_eq!(row, 2 * 34);
        assert_eq!(
            rows_of(&table, &[4, 0, 4]),
            [
                &table_bytes[4 * row..5 * row],
                &table_bytes[..row],
                &table_bytes[4 * row..5 * row]
            ]
            .concat()
        );
        let mut past_the_end = vec![7u8];
        assert!(table.read_row(1 << 40, &mut past_the_end).is_err());
        assert_eq!(past_the_end, [7], "a failed read appends nothing");
        assert!(packs
            .take("proj", (2, 32), GgmlDType::Q8_0, &Device::Cpu)
            .is_some());
        assert_eq!(packs.finish(), PackedWeights::Reused);

        // The projection had to be packed again: the file is rewritten with the table in it,
        // and the table handed out before keeps reading the file it was opened on.
        let mut packs = open();
        let table = packs
            .rows_on_disk("table", (6, 64), GgmlDType::Q8_0)
            .unwrap();
        packs.keep("proj", Arc::clone(&all[1].1));
        assert_eq!(packs.finish(), PackedWeights::Kept);
        assert_eq!(rows_of(&table, &[5]), table_bytes[5 * row..]);
        let mut packs = open();
        let reread = packs
            .rows_on_disk("table", (6, 64), GgmlDType::Q8_0)
            .unwrap();
        assert_eq!(rows_of(&reread, &[0, 1, 2, 3, 4, 5]), table_bytes);
        assert!(packs
            .take("proj", (2, 32), GgmlDType::Q8_0, &Device::Cpu)
            .is_some());
    }
}
