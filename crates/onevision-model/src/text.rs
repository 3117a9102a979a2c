//! The Qwen2 decoder with multimodal rotary embedding (M-RoPE): each rotary frequency follows the
//! temporal, height or width position according to `mrope_section`; grouped-query attention; a
//! key/value cache that grows as the conversation does.

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, rms_norm, Linear, RmsNorm, VarBuilder};

use crate::attention::attention;
use crate::config::TextConfig;
use crate::error::{Error, Result};
use crate::mlp::SwiGlu;
use crate::packed::Packs;
use crate::quant::{Projection, Quantization};
use crate::rope_index::RopePositions;
use crate::token_table::TokenTable;

/// The cache grows to the next multiple of this many tokens. Doubling instead left a 1406-token
/// prompt's cache at 2812 tokens after the first generated one: 160 MB of a 7B's f32 cache
/// unused. A step copies one layer's cache at a time; at 8k tokens deep that is about 0.3 s in
/// all every 256 tokens, against a third of a second for each token on a laptop CPU.
const CACHE_STEP_TOKENS: usize = 256;

/// The dtype the key/value cache holds for a model loaded in the dtype `asked` with `quant`. A
/// quantised f32 model on the CPU keeps it in f16, as llama.cpp does by default: half the memory (a
/// 7B's cache is 112 KB a token in f32: 940 MB at 8k tokens, 470 MB in f16) and half what each
/// decoded token reads from it, which deep in a long reasoning is most of what attention costs
/// (cpu_attention.rs widens it in registers). Otherwise it is the dtype asked for, also where
/// the activations are wider (a bf16 model computes in f32 on the CPU), so f32 stays exact
/// against the reference.
pub fn cache_dtype(asked: DType, quant: Quantization, on_cpu: bool) -> DType {
    if on_cpu && asked == DType::F32 && quant != Quantization::None {
        DType::F16
    } else {
        asked
    }
}

struct SelfAttention {
    q: Projection,
    k: Projection,
    v: Projection,
    o: Projection,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    /// What the cache holds: [`cache_dtype`].
    cache_dtype: DType,
}

struct DecoderLayer {
    input_norm: RmsNorm,
    post_attention_norm: RmsNorm,
    attn: SelfAttention,
    mlp: SwiGlu,
}

/// Keys and values of one layer, stored in a buffer with spare room so that appending a token
/// does not copy the whole history.
#[derive(Default, Clone)]
struct LayerCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
}

impl LayerCache {
    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let added = k.dim(2)?;
        let needed = self.len + added;
        let capacity = match &self.k {
            Some(t) => t.dim(2)?,
            None => 0,
        };
        if needed > capacity {
            let new_capacity = needed.next_multiple_of(CACHE_STEP_TOKENS);
            let grow = |old: &Option<Tensor>, like: &Tensor| -> Result<Tensor> {
                let (b, h, _, d) = like.dims4()?;
                let buf = Tensor::zeros((b, h, new_capacity, d), like.dtype(), like.device())?;
                if let Some(old) = old {
                    buf.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
                Ok(buf)
            };
            self.k = Some(grow(&self.k, k)?);
            self.v = Some(grow(&self.v, v)?);
        }
        let (Some(kb), Some(vb)) = (&self.k, &self.v) else {
            unreachable!("buffers were allocated above");
        };
        kb.slice_set(&k.contiguous()?, 2, self.len)?;
        vb.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len = needed;
        Ok((kb.narrow(2, 0, needed)?, vb.narrow(2, 0, needed)?))
    }
}

/// The decoder's memory of everything it has read so far.
#[derive(Default, Clone)]
pub struct KvCache {
    layers: Vec<LayerCache>,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize) {
        for l in &mut self.layers {
            l.len = l.len.min(len);
        }
    }
}

/// The dtypes a decoder's weights come in and are kept in.
pub(crate) struct WeightDtypes {
    /// The embedding table's, in the checkpoint.
    pub(crate) table: DType,
    /// The layers' projections', in the checkpoint: what packing reads.
    pub(crate) stored: DType,
    /// What weights that are not packed are kept in: the dtype asked for.
    pub(crate) kept: DType,
}

pub struct TextModel {
    /// Packed when the model is quantised, else as the checkpoint stores it unless a dense output
    /// projection shares it (see [`TextModel::load`]).
    embed: TokenTable,
    /// The compute dtype, which looked-up embeddings are widened to; the weights may be kept
    /// narrower (see [`TextModel::load`]).
    dtype: DType,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Projection,
    inv_freq: Vec<f32>,
    /// For each rotary frequency, which position axis (0 temporal, 1 height, 2 width) drives it.
    freq_axis: Vec<usize>,
}

impl TextModel {
    /// `vb` points at the decoder (`model` or `model.language_model`); `lm_head` at the output
    /// projection, or `None` when the output projection shares the embedding's weights. `quant`
    /// packs every projection of every layer, through `packs`; the output projection then takes
    /// Q8_0 whatever `quant` is, as the logits are what sampling reads, and so does the embedding
    /// table on the CPU (shared with a tied output projection). Unquantised, the table is looked
    /// up a few rows at a time, so it stays in `dtypes.table` (the checkpoint's, normally: a 7B's
    /// is 1 GB in bf16, 2 GB widened to f32) unless a dense output projection shares it. The
    /// builder's dtype is the one activations are computed in.
    pub(crate) fn load(
        vb: VarBuilder,
        lm_head: Option<VarBuilder>,
        cfg: &TextConfig,
        quant: Quantization,
        dtypes: WeightDtypes,
        packs: &mut Packs,
    ) -> Result<Self> {
        let WeightDtypes {
            table: table_dtype,
            stored,
            kept: weights,
        } = dtypes;
        let c = cfg;
        let dtype = vb.dtype();
        let (h, hd) = (c.hidden_size, c.head_dim);
        let tied = lm_head.is_none();
        let kv_dtype = cache_dtype(weights, quant, vb.device().is_cpu());
        let table_vb = vb.pp("embed_tokens");
        // A quantised model packs the table too (see token_table.rs); on a GPU the lookups would
        // copy the packed table to the host, so it stays dense there.
        let pack_table = quant != Quantization::None
            && vb.device().is_cpu()
            && h % GgmlDType::Q8_0.block_size() == 0;
        let dense_table = if pack_table {
            None
        } else {
            let table_dtype = if tied && quant == Quantization::None {
                weights
            } else {
                table_dtype
            };
            Some(embedding(
                c.vocab_size,
                h,
                table_vb.clone().set_dtype(table_dtype),
            )?)
        };
        // The table's weight in `dtype`, for an output projection or a packed table.
        let read_table = |dtype: DType| -> Result<Tensor> {
            Ok(match &dense_table {
                Some(embed) => embed.embeddings().to_dtype(dtype)?,
                None => table_vb
                    .clone()
                    .set_dtype(dtype)
                    .get((c.vocab_size, h), "weight")?,
            })
        };
        let dense_from_table = || {
            Ok(Projection::kept(
                Linear::new(read_table(weights)?, None),
                dtype,
            ))
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("layers.{i}"));
            let a = l.pp("self_attn");
            let mut q = |name: &str, inputs, outputs, bias| {
                Projection::load(
                    a.pp(name),
                    inputs,
                    outputs,
                    bias,
                    quant,
                    stored,
                    packs,
                    |vb| Projection::load_stored(vb, inputs, outputs, bias, weights),
                )
            };
            let attn = SelfAttention {
                q: q("q_proj", h, c.num_attention_heads * hd, true)?,
                k: q("k_proj", h, c.num_key_value_heads * hd, true)?,
                v: q("v_proj", h, c.num_key_value_heads * hd, true)?,
                o: q("o_proj", c.num_attention_heads * hd, h, false)?,
                heads: c.num_attention_heads,
                kv_heads: c.num_key_value_heads,
                head_dim: hd,
                cache_dtype: kv_dtype,
            };
            layers.push(DecoderLayer {
                input_norm: rms_norm(h, c.rms_norm_eps, l.pp("input_layernorm"))?,
                post_attention_norm: rms_norm(h, c.rms_norm_eps, l.pp("post_attention_layernorm"))?,
                attn,
                mlp: SwiGlu::load(h, c.intermediate_size, l.pp("mlp"), |vb, i, o| {
                    Projection::load(vb, i, o, false, quant, stored, packs, |vb| {
                        Projection::load_stored(vb, i, o, false, weights)
                    })
                })?,
            });
        }
        let norm = rms_norm(h, c.rms_norm_eps, vb.pp("norm"))?;
        let head_quant = match quant {
            Quantization::None => Quantization::None,
            Quantization::Q8_0 | Quantization::Q4K => Quantization::Q8_0,
        };
        let lm_head = match lm_head {
            Some(vb) => Projection::load(
                vb,
                h,
                c.vocab_size,
                false,
                head_quant,
                stored,
                packs,
                |vb| Projection::load_stored(vb, h, c.vocab_size, false, weights),
            )?,
            None => Projection::load_with(
                "lm_head.weight",
                (c.vocab_size, h),
                head_quant,
                packs,
                vb.device(),
                || read_table(table_dtype),
                || Ok(None),
                dense_from_table,
            )?,
        };
        let table_name = format!("{}.weight", table_vb.prefix());
        let packed_table = match (&dense_table, tied) {
            (Some(_), _) => None,
            (None, true) => lm_head.packed_weight().map(TokenTable::Packed),
            (None, false) => {
                match packs.rows_on_disk(&table_name, (c.vocab_size, h), GgmlDType::Q8_0) {
                    Some(rows) => Some(TokenTable::OnDisk(rows)),
                    None => Projection::load_with(
                        &table_name,
                        (c.vocab_size, h),
                        Quantization::Q8_0,
                        packs,
                        vb.device(),
                        || read_table(table_dtype),
                        || Ok(None),
                        dense_from_table,
                    )?
                    .packed_weight()
                    .map(TokenTable::Packed),
                }
            }
        };
        let embed = match (dense_table, packed_table) {
            (Some(embed), _) => TokenTable::Dense(embed),
            (None, Some(table)) => table,
            (None, None) => {
                return Err(Error::Input(format!(
                    "the embedding table ({} x {h}) could not be packed in Q8_0 blocks",
                    c.vocab_size
                )))
            }
        };
        let half = hd / 2;
        let inv_freq = (0..half)
            .map(|j| (1.0 / c.rope_theta.powf(2.0 * j as f64 / hd as f64)) as f32)
            .collect();
        let [t, hh, _] = c.mrope_section;
        let freq_axis = (0..half)
            .map(|j| {
                if j < t {
                    0
                } else if j < t + hh {
                    1
                } else {
                    2
                }
            })
            .collect();
        Ok(TextModel {
            embed,
            dtype,
            layers,
            norm,
            lm_head,
            inv_freq,
            freq_axis,
        })
    }

    /// The dtype activations are computed in.
    pub(crate) fn compute_dtype(&self) -> DType {
        self.dtype
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![LayerCache::default(); self.layers.len()],
        }
    }

    /// Token embeddings, (len, hidden).
    pub fn embed(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        self.embed.rows(ids, self.dtype, device)
    }

    /// Runs `embeds` (len, hidden) at `positions` after what `cache` holds, appending to it;
    /// returns the final-normed hidden states (len, hidden).
    pub fn forward(
        &self,
        embeds: &Tensor,
        positions: &RopePositions,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let len = embeds.dim(0)?;
        let offset = cache.len();
        let (cos, sin) = self.rotary(positions, embeds.dtype(), embeds.device())?;
        let mut x = embeds.clone();
        for (layer, lc) in self.layers.iter().zip(&mut cache.layers) {
            let a =
                layer
                    .attn
                    .forward(&layer.input_norm.forward(&x)?, &cos, &sin, lc, offset, len)?;
            x = (x + a)?;
            let m = layer.mlp.forward(&layer.post_attention_norm.forward(&x)?)?;
            x = (x + m)?;
        }
        Ok(self.norm.forward(&x)?)
    }

    /// Logits in f32, (len, vocab).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.lm_head.forward(hidden)?.to_dtype(DType::F32)?)
    }

    fn rotary(
        &self,
        positions: &RopePositions,
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let len = positions.len();
        let half = self.inv_freq.len();
        let mut angles = Vec::with_capacity(len * half);
        for i in 0..len {
            angles.extend(
                self.inv_freq
                    .iter()
                    .zip(&self.freq_axis)
                    .map(|(f, &axis)| positions.axes[axis][i] as f32 * f),
            );
        }
        let angles = Tensor::from_vec(angles, (len, half), device)?;
        Ok((
            angles.cos()?.to_dtype(dtype)?,
            angles.sin()?.to_dtype(dtype)?,
        ))
    }
}

impl SelfAttention {
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut LayerCache,
        offset: usize,
        len: usize,
    ) -> Result<Tensor> {
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let project = |l: &Projection, heads: usize, rotate: bool| -> Result<Tensor> {
            let t = l.forward(x)?.reshape((1, len, heads, hd))?;
            let t = if rotate {
                candle_nn::rotary_emb::rope_thd(&t, cos, sin)?
            } else {
                t
            };
            Ok(t.transpose(1, 2)?.contiguous()?)
        };
        let q = project(&self.q, nh, true)?;
        let k = project(&self.k, nkv, true)?.to_dtype(self.cache_dtype)?;
        let v = project(&self.v, nkv, false)?.to_dtype(self.cache_dtype)?;
        let (k, v) = cache.append(&k, &v)?;
        // Heads sharing a key/value head are adjacent, so grouping them is a reshape.
        let group = nh / nkv;
        let q = q.reshape((nkv, group * len, hd))?;
        let visible: Vec<usize> = (0..group * len).map(|r| offset + r % len + 1).collect();
        let o = attention(
            &q,
            &k.squeeze(0)?,
            &v.squeeze(0)?,
            1.0 / (hd as f64).sqrt(),
            Some(&visible),
        )?;
        let o = o
            .reshape((1, nh, len, hd))?
            .transpose(1, 2)?
            .reshape((len, nh * hd))?;
        Ok(self.o.forward(&o)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_grows_in_steps_and_keeps_what_it_held() {
        let mut rng = crate::test_data::seeded(3);
        let mut cache = LayerCache::default();
        let (mut all_k, mut all_v) = (Vec::new(), Vec::new());
        // A prompt past one step, then single tokens across the next step's edge.
        for (added, capacity) in [(300, 512), (1, 512), (211, 512), (1, 768)] {
            let k = crate::test_data::gaussian(&mut rng, &[1, 2, added, 4]);
            let v = crate::test_data::gaussian(&mut rng, &[1, 2, added, 4]);
            all_k.push(k.clone());
            all_v.push(v.clone());
            let (got_k, got_v) = cache.append(&k, &v).unwrap();
            assert_eq!(cache.k.as_ref().unwrap().dim(2).unwrap(), capacity);
            let want_k = Tensor::cat(&all_k, 2).unwrap();
            let want_v = Tensor::cat(&all_v, 2).unwrap();
            assert_eq!(got_k.dims(), want_k.dims());
            let same = |a: &Tensor, b: &Tensor| {
                let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
                let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
                a == b
            };
            assert!(same(&got_k, &want_k) && same(&got_v, &want_v));
        }
    }
}
