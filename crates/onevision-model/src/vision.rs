//! The vision tower: patch embedding, 2-D rotary embedding, window attention with a few
//! full-attention blocks, and the patch merger that turns 2x2 patches into one decoder token.

use candle_core::{DType, IndexOp, Module, Tensor};
use candle_nn::{rms_norm, RmsNorm, VarBuilder};

use crate::attention::attention;
use crate::config::VisionConfig;
use crate::error::{Error, Result};
use crate::mlp::SwiGlu;
use crate::packed::Packs;
use crate::quant::{Projection, Quantization};

/// The vision blocks' RMSNorm epsilon, fixed in the reference architecture.
const NORM_EPS: f64 = 1e-6;
const ROPE_THETA: f64 = 10_000.0;

struct VisionAttention {
    qkv: Projection,
    proj: Projection,
    heads: usize,
    head_dim: usize,
}

struct VisionBlock {
    norm1: RmsNorm,
    norm2: RmsNorm,
    attn: VisionAttention,
    mlp: SwiGlu,
}

struct PatchMerger {
    norm: RmsNorm,
    fc1: Projection,
    fc2: Projection,
    group: usize,
}

pub struct VisionTower {
    cfg: VisionConfig,
    /// The Conv3d patch embedding; its stride equals its kernel, so it is one matmul.
    patch_embed: Tensor,
    blocks: Vec<VisionBlock>,
    merger: PatchMerger,
    inv_freq: Vec<f32>,
    dtype: DType,
}

/// Consecutive attention segments of equal length, batched into one matmul.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegmentRun {
    start: usize,
    len: usize,
    count: usize,
}

fn segment_runs(bounds: &[usize]) -> Vec<SegmentRun> {
    let mut runs: Vec<SegmentRun> = Vec::new();
    for pair in bounds.windows(2) {
        let len = pair[1] - pair[0];
        if len == 0 {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.len == len && r.start + r.len * r.count == pair[0] => r.count += 1,
            _ => runs.push(SegmentRun {
                start: pair[0],
                len,
                count: 1,
            }),
        }
    }
    runs
}

/// How the patches of a batch of pictures are visited: the window order, its inverse, the window
/// and per-picture boundaries, and each patch's (row, column) in window order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowPlan {
    /// Patch indices in window order.
    pub patch_order: Vec<u32>,
    /// For each merged token in raster order, where it sits in window order.
    pub unit_inverse: Vec<u32>,
    pub window_bounds: Vec<usize>,
    pub image_bounds: Vec<usize>,
    pub rows_cols: Vec<(u32, u32)>,
}

impl WindowPlan {
    pub(crate) fn new(grids: &[[usize; 3]], cfg: &VisionConfig) -> Self {
        let m = cfg.spatial_merge_size;
        let unit = m * m;
        let window = cfg.window_size / cfg.spatial_merge_size / cfg.patch_size;
        let mut unit_order = Vec::new();
        let mut window_bounds = vec![0];
        let mut image_bounds = vec![0];
        let mut unit_rc = Vec::new();
        let mut base = 0;
        for &[t, h, w] in grids {
            let (lh, lw) = (h / m, w / m);
            for frame in 0..t {
                let frame_base = base + frame * lh * lw;
                for wy in (0..lh).step_by(window) {
                    for wx in (0..lw).step_by(window) {
                        for y in wy..(wy + window).min(lh) {
                            for x in wx..(wx + window).min(lw) {
                                unit_order.push(frame_base + y * lw + x);
                                unit_rc.push((y, x));
                            }
                        }
                        let last = *window_bounds.last().unwrap_or(&0);
                        let size = ((wy + window).min(lh) - wy) * ((wx + window).min(lw) - wx);
                        window_bounds.push(last + size * unit);
                    }
                }
                let last = *image_bounds.last().unwrap_or(&0);
                image_bounds.push(last + h * w);
            }
            base += t * lh * lw;
        }
        let mut unit_inverse = vec![0u32; unit_order.len()];
        for (pos, &u) in unit_order.iter().enumerate() {
            unit_inverse[u] = pos as u32;
        }
        let mut patch_order = Vec::with_capacity(unit_order.len() * unit);
        let mut rows_cols = Vec::with_capacity(unit_order.len() * unit);
        for (&u, &(y, x)) in unit_order.iter().zip(&unit_rc) {
            for k in 0..unit {
                patch_order.push((u * unit + k) as u32);
                rows_cols.push(((y * m + k / m) as u32, (x * m + k % m) as u32));
            }
        }
        WindowPlan {
            patch_order,
            unit_inverse,
            window_bounds,
            image_bounds,
            rows_cols,
        }
    }
}

impl VisionTower {
    /// `stored` is the checkpoint's dtype for the tower's linear layers: they stay in it when it
    /// is narrower than the compute dtype (a 7B's tower holds 1.3 GB in bf16, 2.7 GB in f32) and
    /// are widened for each product, which runs over every patch of a picture at once. `quant`
    /// packs them instead, through `packs` (Q8_0 at most: the tower runs once per picture, so
    /// its weights cost memory, not time); an input width that is not whole blocks stays stored.
    pub(crate) fn load(
        vb: VarBuilder,
        cfg: &VisionConfig,
        stored: DType,
        quant: Quantization,
        packs: &mut Packs,
    ) -> Result<Self> {
        let c = cfg;
        let quant = match quant {
            Quantization::None => Quantization::None,
            Quantization::Q8_0 | Quantization::Q4K => Quantization::Q8_0,
        };
        let mut linear = |inputs, outputs, vb: VarBuilder| {
            Projection::load(vb, inputs, outputs, true, quant, stored, packs, |vb| {
                Projection::load_stored(vb, inputs, outputs, true, stored)
            })
        };
        let hd = c.head_dim();
        let patch_embed = vb
            .pp("patch_embed.proj")
            .get(
                (
                    c.hidden_size,
                    c.in_channels,
                    c.temporal_patch_size,
                    c.patch_size,
                    c.patch_size,
                ),
                "weight",
            )?
            .reshape((c.hidden_size, c.patch_dim()))?;
        let mut blocks = Vec::with_capacity(c.depth);
        for i in 0..c.depth {
            let b = vb.pp(format!("blocks.{i}"));
            blocks.push(VisionBlock {
                norm1: rms_norm(c.hidden_size, NORM_EPS, b.pp("norm1"))?,
                norm2: rms_norm(c.hidden_size, NORM_EPS, b.pp("norm2"))?,
                attn: VisionAttention {
                    qkv: linear(c.hidden_size, 3 * c.hidden_size, b.pp("attn.qkv"))?,
                    proj: linear(c.hidden_size, c.hidden_size, b.pp("attn.proj"))?,
                    heads: c.num_heads,
                    head_dim: hd,
                },
                mlp: SwiGlu::load(
                    c.hidden_size,
                    c.intermediate_size,
                    b.pp("mlp"),
                    |vb, i, o| linear(i, o, vb),
                )?,
            });
        }
        let group = c.hidden_size * c.merge_unit();
        let merger = PatchMerger {
            norm: rms_norm(c.hidden_size, NORM_EPS, vb.pp("merger.ln_q"))?,
            fc1: linear(group, group, vb.pp("merger.mlp.0"))?,
            fc2: linear(group, c.out_hidden_size, vb.pp("merger.mlp.2"))?,
            group,
        };
        // Half of each head rotates with the row, half with the column: head_dim / 4 frequencies each.
        let rot = hd / 2;
        let inv_freq = (0..rot / 2)
            .map(|j| (1.0 / ROPE_THETA.powf(2.0 * j as f64 / rot as f64)) as f32)
            .collect();
        Ok(VisionTower {
            cfg: cfg.clone(),
            patch_embed,
            blocks,
            merger,
            inv_freq,
            dtype: vb.dtype(),
        })
    }

    /// `pixels`: (patches, patch_dim) of all pictures, concatenated; returns (tokens, out_hidden)
    /// in raster order, ready to replace the pictures' placeholder tokens.
    pub fn forward(&self, pixels: &Tensor, grids: &[[usize; 3]]) -> Result<Tensor> {
        let total: usize = grids.iter().map(|g| g.iter().product::<usize>()).sum();
        let (n, dim) = pixels.dims2()?;
        if n != total || dim != self.cfg.patch_dim() {
            return Err(Error::Input(format!(
                "pixel patches are {n}x{dim}, but the grids need {total}x{}",
                self.cfg.patch_dim()
            )));
        }
        let m = self.cfg.spatial_merge_size;
        if let Some(g) = grids.iter().find(|g| g[1] % m != 0 || g[2] % m != 0) {
            return Err(Error::Input(format!(
                "a picture grid of {}x{} patches is not divisible by the merge size {m}",
                g[1], g[2]
            )));
        }
        let device = pixels.device();
        let plan = WindowPlan::new(grids, &self.cfg);
        let order = Tensor::from_slice(&plan.patch_order, plan.patch_order.len(), device)?;
        let x = pixels
            .to_dtype(self.dtype)?
            .index_select(&order, 0)?
            .matmul(&self.patch_embed.t()?)?;

        let rot = self.inv_freq.len();
        let mut angles = Vec::with_capacity(n * rot * 2);
        for &(row, col) in &plan.rows_cols {
            angles.extend(self.inv_freq.iter().map(|f| row as f32 * f));
            angles.extend(self.inv_freq.iter().map(|f| col as f32 * f));
        }
        let angles = Tensor::from_vec(angles, (n, rot * 2), device)?;
        let cos = angles.cos()?.to_dtype(self.dtype)?;
        let sin = angles.sin()?.to_dtype(self.dtype)?;

        let windows = segment_runs(&plan.window_bounds);
        let images = segment_runs(&plan.image_bounds);
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            let runs = if self.cfg.fullatt_block_indexes.contains(&i) {
                &images
            } else {
                &windows
            };
            x = block.forward(&x, &cos, &sin, runs)?;
        }
        let merged = self.merger.forward(&x)?;
        let inverse = Tensor::from_slice(&plan.unit_inverse, plan.unit_inverse.len(), device)?;
        Ok(merged.index_select(&inverse, 0)?)
    }
}

impl VisionBlock {
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        runs: &[SegmentRun],
    ) -> Result<Tensor> {
        let h = (x + self.attn.forward(&self.norm1.forward(x)?, cos, sin, runs)?)?;
        Ok((&h + self.mlp.forward(&self.norm2.forward(&h)?)?)?)
    }
}

impl VisionAttention {
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        runs: &[SegmentRun],
    ) -> Result<Tensor> {
        let n = x.dim(0)?;
        let (nh, hd) = (self.heads, self.head_dim);
        let qkv = self.qkv.forward(x)?.reshape((n, 3, nh, hd))?;
        let rotate = |t: Tensor| -> Result<Tensor> {
            let t = t.contiguous()?.unsqueeze(0)?;
            Ok(candle_nn::rotary_emb::rope_thd(&t, cos, sin)?.squeeze(0)?)
        };
        let q = rotate(qkv.i((.., 0))?)?;
        let k = rotate(qkv.i((.., 1))?)?;
        let scale = 1.0 / (hd as f64).sqrt();
        if x.device().is_cpu() {
            // Each head of each segment straight from q, k and the projection's values, the
            // result in place: no copies of the heads apart and back together.
            let segments: Vec<(usize, usize)> = runs
                .iter()
                .flat_map(|r| (0..r.count).map(move |s| (r.start + s * r.len, r.len)))
                .collect();
            let f32 = |t: &Tensor| t.to_dtype(DType::F32);
            let o = crate::cpu_tiled_attention::segment_attention(
                &f32(&q)?,
                &f32(&k)?,
                &f32(&qkv.i((.., 2))?)?,
                &segments,
                scale,
            )?;
            drop((qkv, q, k));
            return Ok(self.proj.forward(&o.to_dtype(x.dtype())?)?);
        }
        let v = qkv.i((.., 2))?.contiguous()?;
        // q, k and v are copies, and so are the runs' below: for a 1-megapixel picture (5476
        // patches) freeing the projection and q, k, v before the runs' attention lowered the
        // tower's peak by 60 MB (measured; they are 170 MB together).
        drop(qkv);
        let take = |t: &Tensor, r: &SegmentRun| -> Result<Tensor> {
            Ok(t.narrow(0, r.start, r.len * r.count)?
                .reshape((r.count, r.len, nh, hd))?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((r.count * nh, r.len, hd))?)
        };
        let taken = runs
            .iter()
            .map(|r| Ok((take(&q, r)?, take(&k, r)?, take(&v, r)?)))
            .collect::<Result<Vec<_>>>()?;
        drop((q, k, v));
        let mut outs = Vec::with_capacity(runs.len());
        for (r, (q, k, v)) in runs.iter().zip(taken) {
            let o = attention(&q, &k, &v, scale, None)?;
            drop((q, k, v));
            outs.push(
                o.reshape((r.count, nh, r.len, hd))?
                    .transpose(1, 2)?
                    .reshape((r.count * r.len, nh * hd))?,
            );
        }
        Ok(self.proj.forward(&Tensor::cat(&outs, 0)?)?)
    }
}

impl PatchMerger {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)? * x.dim(1)? / self.group;
        let x = self.norm.forward(x)?.reshape((n, self.group))?;
        let x = self.fc1.forward(&x)?.gelu_erf()?;
        Ok(self.fc2.forward(&x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VisionConfig {
        VisionConfig {
            depth: 1,
            hidden_size: 16,
            intermediate_size: 8,
            num_heads: 1,
            in_channels: 3,
            patch_size: 14,
            spatial_merge_size: 2,
            temporal_patch_size: 2,
            window_size: 112,
            fullatt_block_indexes: vec![],
            out_hidden_size: 8,
        }
    }

    #[test]
    fn windows_cover_every_patch_once() {
        // 10x6 merged tokens -> windows of 4x4: 3 rows x 2 columns of windows.
        let plan = WindowPlan::new(&[[1, 20, 12], [1, 4, 4]], &cfg());
        let mut seen = plan.patch_order.clone();
        seen.sort();
        assert_eq!(seen, (0..(240 + 16) as u32).collect::<Vec<_>>());
        let sizes: Vec<usize> = plan
            .window_bounds
            .windows(2)
            .map(|w| (w[1] - w[0]) / 4)
            .collect();
        assert_eq!(sizes, vec![16, 8, 16, 8, 8, 4, 4]);
        assert_eq!(plan.image_bounds, vec![0, 240, 256]);
        // The second window starts at merged token (0, 4) of the first picture.
        assert_eq!(plan.patch_order[64], 4 * 4);
        assert_eq!(plan.rows_cols[64], (0, 8));
        for (pos, &u) in plan.unit_inverse.iter().enumerate() {
            assert_eq!(plan.patch_order[u as usize * 4] as usize, pos * 4);
        }
    }

    #[test]
    fn runs_group_equal_neighbours() {
        let runs = segment_runs(&[0, 4, 8, 12, 14, 16, 16, 20]);
        assert_eq!(
            runs,
            vec![
                SegmentRun {
                    start: 0,
                    len: 4,
                    count: 3
                },
                SegmentRun {
                    start: 12,
                    len: 2,
                    count: 2
                },
                SegmentRun {
                    start: 16,
                    len: 4,
                    count: 1
                },
            ]
        );
    }
}
