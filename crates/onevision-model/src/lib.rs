//! Qwen2.5-VL (the architecture of R1-Onevision-7B and its siblings) on candle: pure compute.
//!
//! [`Model::load`] reads a checkpoint folder; [`Model::encode_images`] runs the vision tower;
//! [`Model::prefill`] reads a prompt (with its pictures' embeddings) into the key/value cache and
//! [`Model::decode_step`] extends it one token at a time. Everything is checked against
//! Hugging Face transformers by the parity suite in `tests/parity`.

mod attention;
mod block_memory;
pub mod config;
mod cpu_attention;
mod cpu_q4k;
mod cpu_q8;
mod cpu_rows;
mod cpu_softmax;
mod cpu_tiled_attention;
mod cpu_unpack;
pub mod error;
pub mod image;
mod mlp;
pub mod packed;
pub mod quant;
mod quantization;
pub mod resize;
pub mod rope_index;
#[cfg(test)]
mod test_data;
pub mod text;
mod token_table;
pub mod vision;
pub mod weights;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use candle_core::utils::get_num_threads as compute_threads;
pub use candle_core::{DType, Device, Tensor};

pub use crate::config::{ModelConfig, TextConfig, VisionConfig};
pub use crate::error::{Error, Result};
pub use crate::image::{ImageProcessorConfig, PixelPatches};
pub use crate::packed::PackedWeights;
pub use crate::quant::Quantization;
pub use crate::rope_index::{rope_positions, RopePositions};
use crate::text::{KvCache, TextModel, WeightDtypes};
use crate::vision::VisionTower;
use crate::weights::Checkpoint;

pub const CONFIG_FILE: &str = "config.json";
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// Compute dtype; `None` picks f32 on the CPU and bf16 on an accelerator.
    pub dtype: Option<DType>,
    /// How the decoder's linear layers are stored.
    pub quant: Quantization,
    /// Where packed (quantised) weights are kept between starts; `None` packs on every load.
    pub packed_dir: Option<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            device: Device::Cpu,
            dtype: None,
            quant: Quantization::None,
            packed_dir: None,
        }
    }
}

/// The compute dtype a device gets unless the caller says otherwise.
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Runs `work` on a thread of the rayon pool that candle and the CPU kernels split their
/// products over. From any other thread each split product hands its parts to the pool and
/// sleeps until they are done, two thread wake-ups per product: a decoded token of the
/// mid-size model runs about 170 products, and with two threads it read its weights at 77 % of
/// the memory's bandwidth where one thread alone reached 98 % of one thread's. On the pool, the
/// thread that splits a product takes a part itself.
///
/// The pool's other threads stay awake while `work` runs ([`help_until`]): between two
/// products (norms, rotations, sampling) an idle rayon worker falls asleep after a few dozen
/// yields, and waking it took about as long as its half of a mid-size product, so the splitting
/// thread often did both halves (perf: the attention of a decode step ran on one thread).
/// Work for another device runs here.
fn on_the_pool<R: Send>(device: &Device, work: impl FnOnce() -> R + Send) -> R {
    if !device.is_cpu() {
        return work();
    }
    let done = &AtomicBool::new(false);
    rayon::scope(|scope| {
        let _finished = SetOnDrop(done);
        let working = rayon::current_thread_index();
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(move |_| help_until(done, working));
        }
        work()
    })
}

/// Sets its flag when dropped: when the work returns or unwinds.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Takes the pool's pending jobs, spinning between them, until `done`. On the thread that
/// runs the work (`working`), which may pick this job up while it waits inside a product, it
/// returns at once: spinning there would wait for work suspended beneath it.
fn help_until(done: &AtomicBool, working: Option<usize>) {
    if rayon::current_thread_index() == working {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

/// A picture's encoding by the vision tower: (tokens, hidden) in the compute dtype.
#[derive(Debug, Clone)]
pub struct ImageEmbedding {
    pub grid_thw: [usize; 3],
    pub embeds: Tensor,
}

/// Where the cache stood, to go back to it (regenerating an answer, editing a question).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheMark {
    pub tokens: usize,
    pub next_position: i64,
}

/// Which logits a prefill returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last position's: what generation needs.
    Last,
    /// Every position's: what the parity tests compare.
    All,
}

pub struct Model {
    config: ModelConfig,
    image_config: ImageProcessorConfig,
    vision: VisionTower,
    text: TextModel,
    cache: KvCache,
    next_position: i64,
    device: Device,
    dtype: DType,
    quant: Quantization,
    packed: PackedWeights,
}

impl Model {
    /// Loads a checkpoint folder: config.json, preprocessor_config.json (defaults when absent),
    /// and single or sharded safetensors.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
            });
        }
        let config = ModelConfig::from_file(&dir.join(CONFIG_FILE))?;
        let pre = dir.join(PREPROCESSOR_FILE);
        let image_config = if pre.is_file() {
            ImageProcessorConfig::from_file(&pre)?
        } else {
            tracing::warn!(dir = %dir.display(), "no {PREPROCESSOR_FILE}; using Qwen2.5-VL's defaults");
            ImageProcessorConfig::default()
        };
        if image_config.patch_size != config.vision.patch_size
            || image_config.merge_size != config.vision.spatial_merge_size
            || image_config.temporal_patch_size != config.vision.temporal_patch_size
        {
            return Err(Error::Config {
                path: pre,
                reason: "patch_size, merge_size or temporal_patch_size disagree with config.json's vision_config".into(),
            });
        }
        let dtype = opts.dtype.unwrap_or_else(|| default_dtype(&opts.device));
        let checkpoint = Checkpoint::open(dir)?;
        let layout = checkpoint.layout.clone();
        tracing::debug!(
            files = checkpoint.files.len(),
            ?layout,
            ?dtype,
            "loading weights"
        );
        let embed_name = format!("{}.embed_tokens.weight", layout.text);
        let table_dtype = checkpoint.stored_dtype(&embed_name).unwrap_or(dtype);
        // An untied table is only looked up: its rows are read from the packed file as needed.
        let left_on_disk: &[&str] = if config.tie_word_embeddings {
            &[]
        } else {
            &[embed_name.as_str()]
        };
        let mut packs = packed::Packs::open(
            opts.packed_dir.as_deref(),
            dir,
            &checkpoint.files,
            opts.quant,
            left_on_disk,
        );
        let vision_stored = checkpoint
            .stored_dtype(&format!("{}.blocks.0.attn.qkv.weight", layout.vision))
            .unwrap_or(dtype);
        let text_stored = checkpoint
            .stored_dtype(&format!("{}.layers.0.mlp.gate_proj.weight", layout.text))
            .unwrap_or(dtype);
        // On a GPU the tower's products would copy packed weights to the host (see quant.rs).
        let vision_quant = if opts.device.is_cpu() {
            opts.quant
        } else {
            Quantization::None
        };
        // On the CPU a bf16 or f16 model computes in f32, its weights kept in their width and
        // widened in registers by the row kernels (decoding) or per product (prompts and the
        // vision tower; quant.rs, `Projection::Widened`): candle has no half-width matrix
        // kernel there and widened both operands of every product and every elementwise step.
        // A mid-size bf16 tower took 5.5 s for a 448x448 picture so, against 2.6 s in f32
        // (docs/performance.md).
        let compute = match dtype {
            DType::BF16 | DType::F16 if opts.device.is_cpu() => DType::F32,
            other => other,
        };
        let vb = checkpoint.var_builder(compute, &opts.device);
        let wrap = |e: Error| match e {
            Error::Candle(e) => Error::Weights {
                path: dir.to_path_buf(),
                reason: format!("the weights do not fit config.json: {e}"),
            },
            other => other,
        };
        let vision = VisionTower::load(
            vb.pp(layout.vision),
            &config.vision,
            // Kept no wider than the dtype asked for.
            quant::narrower(vision_stored, dtype),
            vision_quant,
            &mut packs,
        )
        .map_err(wrap)?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else if layout.has_lm_head {
            Some(vb.pp("lm_head"))
        } else {
            return Err(Error::Weights {
                path: dir.to_path_buf(),
                reason: "config.json says tie_word_embeddings is false but the weights hold no lm_head.weight".into(),
            });
        };
        let text = TextModel::load(
            vb.pp(layout.text),
            lm_head,
            &config.text,
            opts.quant,
            WeightDtypes {
                table: table_dtype,
                stored: text_stored,
                kept: dtype,
            },
            &mut packs,
        )
        .map_err(wrap)?;
        let packed = packs.finish();
        let cache = text.new_cache();
        Ok(Model {
            config,
            image_config,
            vision,
            text,
            cache,
            next_position: 0,
            device: opts.device.clone(),
            dtype,
            quant: opts.quant,
            packed,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn image_config(&self) -> &ImageProcessorConfig {
        &self.image_config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn quantization(&self) -> Quantization {
        self.quant
    }

    /// Whether this load packed the weights and kept them, or read kept ones back.
    pub fn packed_weights(&self) -> PackedWeights {
        self.packed
    }

    /// Runs the vision tower over pictures; one embedding per picture.
    pub fn encode_images(&self, pictures: &[&PixelPatches]) -> Result<Vec<ImageEmbedding>> {
        if pictures.is_empty() {
            return Ok(Vec::new());
        }
        let grids: Vec<[usize; 3]> = pictures.iter().map(|p| p.grid_thw).collect();
        let dim = self.config.vision.patch_dim();
        if let Some(p) = pictures
            .iter()
            .find(|p| p.patch_dim != dim || p.data.len() != p.num_patches() * dim)
        {
            return Err(Error::Input(format!(
                "pixel patches of {} values each do not fit this model's {dim}",
                p.patch_dim
            )));
        }
        let data: Vec<f32> = pictures
            .iter()
            .flat_map(|p| p.data.iter().copied())
            .collect();
        let total: usize = pictures.iter().map(|p| p.num_patches()).sum();
        let pixels = Tensor::from_vec(data, (total, dim), &self.device)?;
        let embeds = on_the_pool(&self.device, || -> Result<Tensor> {
            Ok(self
                .vision
                .forward(&pixels, &grids)?
                .to_dtype(self.text.compute_dtype())?)
        })?;
        let merge = self.config.vision.merge_unit();
        let mut out = Vec::with_capacity(pictures.len());
        let mut start = 0;
        for p in pictures {
            let n = p.num_patches() / merge;
            out.push(ImageEmbedding {
                grid_thw: p.grid_thw,
                embeds: embeds.narrow(0, start, n)?,
            });
            start += n;
        }
        Ok(out)
    }

    /// Reads `ids` (which continue whatever the cache holds) into the cache. Each run of image
    /// tokens takes the next of `images`, in order. Returns f32 logits: (1 or len, vocab).
    pub fn prefill(
        &mut self,
        ids: &[u32],
        images: &[ImageEmbedding],
        logits: Logits,
    ) -> Result<Tensor> {
        let device = self.device.clone();
        on_the_pool(&device, || self.prefill_here(ids, images, logits))
    }

    /// [`Model::prefill`] on the calling thread.
    fn prefill_here(
        &mut self,
        ids: &[u32],
        images: &[ImageEmbedding],
        logits: Logits,
    ) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::Input("the prompt has no tokens".into()));
        }
        let vocab = self.config.text.vocab_size;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::Input(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let grids: Vec<[usize; 3]> = images.iter().map(|i| i.grid_thw).collect();
        let positions = rope_positions(
            ids,
            &grids,
            self.config.vision.spatial_merge_size,
            self.config.image_token_id,
            self.next_position,
        )?;
        let embeds = self.embed_prompt(ids, images)?;
        let hidden = self.text.forward(&embeds, &positions, &mut self.cache)?;
        self.next_position = positions.next;
        let hidden = match logits {
            Logits::All => hidden,
            Logits::Last => hidden.narrow(0, ids.len() - 1, 1)?,
        };
        self.text.logits(&hidden)
    }

    /// Reads one generated token; returns the next token's f32 logits, (vocab).
    pub fn decode_step(&mut self, token: u32) -> Result<Tensor> {
        let logits = self.prefill(&[token], &[], Logits::Last)?;
        Ok(logits.squeeze(0)?)
    }

    /// Tokens the cache holds.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    pub fn mark(&self) -> CacheMark {
        CacheMark {
            tokens: self.cache.len(),
            next_position: self.next_position,
        }
    }

    /// Goes back to an earlier mark of this same conversation.
    pub fn rewind(&mut self, mark: CacheMark) -> Result<()> {
        if mark.tokens > self.cache.len() {
            return Err(Error::Input(format!(
                "cannot rewind to {} tokens: the cache holds {}",
                mark.tokens,
                self.cache.len()
            )));
        }
        self.cache.truncate(mark.tokens);
        self.next_position = mark.next_position;
        Ok(())
    }

    /// Forgets the conversation.
    pub fn reset(&mut self) {
        self.cache = self.text.new_cache();
        self.next_position = 0;
    }

    fn embed_prompt(&self, ids: &[u32], images: &[ImageEmbedding]) -> Result<Tensor> {
        let text = self.text.embed(ids, &self.device)?;
        if images.is_empty() {
            return Ok(text);
        }
        let image_id = self.config.image_token_id;
        let mut parts = Vec::new();
        let mut pictures = images.iter();
        let mut i = 0;
        while i < ids.len() {
            let is_image = ids[i] == image_id;
            let run = ids[i..]
                .iter()
                .take_while(|&&id| (id == image_id) == is_image)
                .count();
            if !is_image {
                parts.push(text.narrow(0, i, run)?);
                i += run;
                continue;
            }
            // A run of placeholders may hold several pictures back to back.
            let mut left = run;
            while left > 0 {
                let pic = pictures.next().ok_or_else(|| {
                    Error::Input("the prompt has more image tokens than pictures".into())
                })?;
                let n = pic.embeds.dim(0)?;
                if n > left {
                    return Err(Error::Input(format!(
                        "a picture needs {n} image tokens but the prompt has {left} left at position {i}"
                    )));
                }
                parts.push(pic.embeds.to_dtype(self.text.compute_dtype())?);
                left -= n;
            }
            i += run;
        }
        Ok(Tensor::cat(&parts, 0)?)
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;
    use rayon::prelude::*;

    /// Split work of the kind the products do: a sum over the pool.
    fn split_sum(n: u64) -> u64 {
        (0..n).into_par_iter().map(|i| i % 7).sum()
    }

    #[test]
    fn work_on_the_pool_returns_its_result_from_many_callers_and_nested() {
        let expected = split_sum(200_000);
        let callers: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..20)
                        .map(|_| {
                            on_the_pool(&Device::Cpu, || {
                                split_sum(200_000) + on_the_pool(&Device::Cpu, || split_sum(1000))
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for caller in callers {
            for got in caller.join().unwrap() {
                assert_eq!(got, expected + split_sum(1000));
            }
        }
    }

    #[test]
    fn work_that_panics_releases_the_pool() {
        let failed = std::panic::catch_unwind(|| {
            on_the_pool(&Device::Cpu, || {
                let _ = split_sum(10_000);
                panic!("a broken product")
            })
        });
        assert!(failed.is_err());
        assert_eq!(on_the_pool(&Device::Cpu, || split_sum(70)), split_sum(70));
    }
}
