//! How much memory a Qwen2.5-VL checkpoint takes once loaded, from its shape alone: the catalog
//! knows the shapes of models not yet downloaded, and a folder's config.json gives the rest.
//!
//! The counts follow the loader in `onevision-model`: the decoder's projections are what
//! `--quant` packs; unquantised, the embedding table and the vision tower's linear layers stay
//! as the checkpoint stores them (bf16 for every published one) when that is narrower than the
//! compute dtype, except a table that a dense output projection shares; quantised on the CPU,
//! the table and the tower's linear layers whose input width is whole blocks are packed in Q8_0
//! (the table shared with a tied output projection); norms, biases and the patch embedding take
//! the compute dtype; the output projection is packed as Q8_0 whenever any quantisation is on.

use onevision_model::{DType, ModelConfig, Quantization};
use serde::Serialize;

/// The text decoder's dimensions that decide its parameter count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextDims {
    pub vocab: u64,
    pub hidden: u64,
    pub intermediate: u64,
    pub layers: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
}

/// The vision tower's dimensions that decide its parameter count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionDims {
    pub depth: u64,
    pub hidden: u64,
    pub intermediate: u64,
    pub in_channels: u64,
    pub patch: u64,
    pub temporal_patch: u64,
    pub merge: u64,
    pub out_hidden: u64,
}

/// Parameter counts grouped by how the loader stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelSize {
    /// Weights of the decoder's attention and MLP projections: what quantisation packs.
    pub projection_params: u64,
    /// The embedding table (vocab x hidden).
    pub table_params: u64,
    /// The vision tower's linear layers, weights and biases.
    pub vision_linear_params: u64,
    /// The part of `vision_linear_params` a quantised load packs on the CPU: the weights whose
    /// input width is a whole number of Q8_0 blocks.
    pub vision_packable_params: u64,
    /// Everything else, kept in the compute dtype: norms, the decoder's biases, the patch
    /// embedding.
    pub dense_params: u64,
    /// The output projection's weight count (vocab x hidden), whether or not it is tied.
    pub head_params: u64,
    /// Whether the output projection shares the embedding table.
    pub tied: bool,
    /// Key + value elements one token adds to the cache (2 x layers x kv heads x head dim).
    pub kv_elems_per_token: u64,
}

/// Tokens of context the working-memory estimate allows for: the engine's default answer budget
/// (4,096) plus a one-megapixel picture (~1,300) plus the conversation around it. OVR's longest
/// reasoning (10k+ tokens) needs more cache than this.
pub const CONTEXT_TOKENS: u64 = 8_192;

/// Activations, the vision tower's attention over a one-megapixel picture, allocator slack.
pub const ACTIVATION_BYTES: u64 = 1 << 30;

impl ModelSize {
    pub const fn qwen25_vl(t: TextDims, v: VisionDims, tied: bool) -> ModelSize {
        let q_out = t.heads * t.head_dim;
        let kv_out = t.kv_heads * t.head_dim;
        let per_layer_projections = t.hidden * q_out
            + 2 * t.hidden * kv_out
            + q_out * t.hidden
            + 3 * t.hidden * t.intermediate;
        // q, k and v carry biases; two RMS norms per layer.
        let per_layer_dense = q_out + 2 * kv_out + 2 * t.hidden;
        let text_dense = t.layers * per_layer_dense + t.hidden;

        let patch_embed = v.in_channels * v.temporal_patch * v.patch * v.patch * v.hidden;
        let block_linear = v.hidden * 3 * v.hidden + 3 * v.hidden // qkv
            + v.hidden * v.hidden + v.hidden // proj
            + 2 * (v.hidden * v.intermediate + v.intermediate) // gate, up
            + v.intermediate * v.hidden + v.hidden; // down
        let block_norms = 2 * v.hidden;
        let merged = v.hidden * v.merge * v.merge;
        let merger_linear = merged * merged + merged + merged * v.out_hidden + v.out_hidden;
        let vision_dense = patch_embed + v.depth * block_norms + v.hidden;
        let block_packable = whole_blocks(v.hidden, 4 * v.hidden * v.hidden)
            + whole_blocks(v.hidden, 2 * v.hidden * v.intermediate)
            + whole_blocks(v.intermediate, v.intermediate * v.hidden);
        let merger_packable = whole_blocks(merged, merged * merged + merged * v.out_hidden);

        ModelSize {
            projection_params: t.layers * per_layer_projections,
            table_params: t.vocab * t.hidden,
            vision_linear_params: v.depth * block_linear + merger_linear,
            vision_packable_params: v.depth * block_packable + merger_packable,
            dense_params: text_dense + vision_dense,
            head_params: t.vocab * t.hidden,
            tied,
            kv_elems_per_token: 2 * t.layers * kv_out,
        }
    }

    pub fn from_config(c: &ModelConfig) -> ModelSize {
        let t = &c.text;
        let v = &c.vision;
        let u = |x: usize| x as u64;
        ModelSize::qwen25_vl(
            TextDims {
                vocab: u(t.vocab_size),
                hidden: u(t.hidden_size),
                intermediate: u(t.intermediate_size),
                layers: u(t.num_hidden_layers),
                heads: u(t.num_attention_heads),
                kv_heads: u(t.num_key_value_heads),
                head_dim: u(t.head_dim),
            },
            VisionDims {
                depth: u(v.depth),
                hidden: u(v.hidden_size),
                intermediate: u(v.intermediate_size),
                in_channels: u(v.in_channels),
                patch: u(v.patch_size),
                temporal_patch: u(v.temporal_patch_size),
                merge: u(v.spatial_merge_size),
                out_hidden: u(v.out_hidden_size),
            },
            c.tie_word_embeddings,
        )
    }

    /// Parameters as stored in the checkpoint (a tied head counts once).
    pub const fn total_params(&self) -> u64 {
        self.projection_params
            + self.table_params
            + self.vision_linear_params
            + self.dense_params
            + if self.tied { 0 } else { self.head_params }
    }

    /// Bytes of the weights once loaded in `dtype` with `quant`, on the CPU or a GPU.
    pub fn weight_bytes(&self, dtype: DType, quant: Quantization, on_cpu: bool) -> u64 {
        let compute = dtype_bytes(dtype);
        let kept = CHECKPOINT_BYTES.min(compute);
        let q8 = quant_bytes(Quantization::Q8_0, dtype);
        let table = match (quant, self.tied, on_cpu) {
            (Quantization::None, true, _) => self.table_params * compute,
            (Quantization::None, false, _) | (_, _, false) => self.table_params * kept,
            // Packed on the CPU: the tied head's packed weight is the table itself.
            (_, true, true) => 0,
            (_, false, true) => scaled(self.table_params, q8),
        };
        let vision = match (quant, on_cpu) {
            (Quantization::None, _) | (_, false) => self.vision_linear_params * kept,
            (_, true) => {
                scaled(self.vision_packable_params, q8)
                    + (self.vision_linear_params - self.vision_packable_params) * kept
            }
        };
        let dense = self.dense_params * compute + table + vision;
        let projections = scaled(self.projection_params, quant_bytes(quant, dtype));
        let head = match (quant, self.tied) {
            (Quantization::None, true) => 0,
            (Quantization::None, false) => self.head_params * dtype_bytes(dtype),
            // Packed in Q8_0, tied or not.
            (_, _) => scaled(self.head_params, q8),
        };
        dense + projections + head
    }

    /// Bytes needed to run: weights, a full key/value cache (in the dtype the model keeps it),
    /// activations.
    pub fn runtime_bytes(&self, dtype: DType, quant: Quantization, on_cpu: bool) -> u64 {
        let cache = onevision_model::text::cache_dtype(dtype, quant, on_cpu);
        self.weight_bytes(dtype, quant, on_cpu)
            + self.kv_elems_per_token * CONTEXT_TOKENS * dtype_bytes(cache)
            + ACTIVATION_BYTES
    }
}

/// `weights` when their input width is a whole number of Q8_0 blocks, else none.
const fn whole_blocks(inputs: u64, weights: u64) -> u64 {
    if inputs.is_multiple_of(32) {
        weights
    } else {
        0
    }
}

/// Bytes per weight in the checkpoints the catalog offers (bf16).
const CHECKPOINT_BYTES: u64 = 2;

/// (numerator, denominator) bytes per weight.
fn quant_bytes(quant: Quantization, dtype: DType) -> (u64, u64) {
    match quant {
        Quantization::None => (dtype_bytes(dtype), 1),
        // 32 int8 weights + one f16 scale.
        Quantization::Q8_0 => (34, 32),
        // ggml's block_q4_K: 256 weights in 144 bytes.
        Quantization::Q4K => (144, 256),
    }
}

fn scaled(n: u64, (num, den): (u64, u64)) -> u64 {
    n * num / den
}

pub fn dtype_bytes(dtype: DType) -> u64 {
    match dtype {
        DType::F32 => 4,
        DType::F64 => 8,
        DType::U8 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_shrink_with_quantisation_and_a_tied_head_costs_nothing_dense() {
        // 1024 projection weights, a table of 64 (tied), 200 vision linear weights of which 160
        // are whole blocks, 100 others.
        let s = ModelSize {
            projection_params: 1024,
            table_params: 64,
            vision_linear_params: 200,
            vision_packable_params: 160,
            dense_params: 100,
            head_params: 64,
            tied: true,
            kv_elems_per_token: 8,
        };
        // f32 compute: the tied table is shared by the dense head, so it is widened; the vision
        // tower stays bf16.
        assert_eq!(
            s.weight_bytes(DType::F32, Quantization::None, true),
            (1024 + 64 + 100) * 4 + 200 * 2
        );
        assert_eq!(
            s.weight_bytes(DType::BF16, Quantization::None, true),
            (1024 + 64 + 100 + 200) * 2
        );
        // Quantised on the CPU: the tied head's Q8_0 weight is the table too; the tower's whole
        // blocks are packed in Q8_0, the rest stays as stored.
        let vision_packed = 160 * 34 / 32 + 40 * 2;
        assert_eq!(
            s.weight_bytes(DType::F32, Quantization::Q8_0, true),
            100 * 4 + vision_packed + 1024 * 34 / 32 + 64 * 34 / 32
        );
        assert_eq!(
            s.weight_bytes(DType::BF16, Quantization::Q4K, true),
            100 * 2 + vision_packed + 1024 * 144 / 256 + 64 * 34 / 32
        );
        // On a GPU the table stays as stored beside the packed head.
        assert_eq!(
            s.weight_bytes(DType::BF16, Quantization::Q4K, false),
            (100 + 64 + 200) * 2 + 1024 * 144 / 256 + 64 * 34 / 32
        );
        let untied = ModelSize { tied: false, ..s };
        assert_eq!(
            untied.weight_bytes(DType::F32, Quantization::None, true),
            (1024 + 100 + 64) * 4 + (64 + 200) * 2
        );
        // Untied and quantised on the CPU: the table and the head are each packed in Q8_0.
        assert_eq!(
            untied.weight_bytes(DType::F32, Quantization::Q4K, true),
            100 * 4 + vision_packed + 1024 * 144 / 256 + 2 * (64 * 34 / 32)
        );
        assert_eq!(untied.total_params(), 1024 + 64 + 200 + 100 + 64);
        assert_eq!(s.total_params(), 1024 + 64 + 200 + 100);
        assert_eq!(
            s.runtime_bytes(DType::F32, Quantization::None, true),
            (1024 + 64 + 100) * 4 + 200 * 2 + 8 * CONTEXT_TOKENS * 4 + ACTIVATION_BYTES
        );
        // Quantised on the CPU the cache is kept in f16.
        assert_eq!(
            s.runtime_bytes(DType::F32, Quantization::Q8_0, true),
            s.weight_bytes(DType::F32, Quantization::Q8_0, true)
                + 8 * CONTEXT_TOKENS * 2
                + ACTIVATION_BYTES
        );
    }
}
