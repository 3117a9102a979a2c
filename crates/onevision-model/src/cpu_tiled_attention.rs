//! Attention of many query rows on the CPU (a prompt, a picture's patches): a tile of query rows
//! meets a block of keys at a time and each row's softmax is kept running as the blocks go by
//! (its largest score so far, the sum of its exponentials, its output rescaled when the largest
//! score grows), so the score matrix never exists whole.
//!
//! Through candle (attention.rs's chunked path) a 1-megapixel picture's full-attention vision
//! layer wrote 16 heads x 5184 x 5184 scores in 64 MB slices, each freshly mapped memory, then
//! scaled them on one core, then softmaxed them into another fresh 64 MB, then read them back:
//! about 30 % of the vision tower's time on the mid-size model (perf, AVX2). Here each (head,
//! tile) is one task on the pool; its scores stay in the core's cache, the scale rides on the
//! first product, and both products go through `gemm` on that core.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_attention::Heads;
use crate::cpu_softmax;

/// Query rows per task: `gemm`'s AVX2 and AVX-512 kernels take 16 rows a pass, and a K block is
/// packed once for this many rows.
const TILE_QUERIES: usize = 64;

/// Keys per block: a tile's scores are 64 KB, within any core's second-level cache.
const BLOCK_KEYS: usize = 256;

/// Whether [`tiled_attention`] serves this attention: on the CPU, in any float dtype (computed
/// in f32).
pub(crate) fn applies(q: &Tensor, k: &Tensor, v: &Tensor) -> bool {
    let float = |t: &Tensor| matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16);
    [q, k, v]
        .iter()
        .all(|t| t.device().is_cpu() && t.rank() == 3 && float(t))
}

/// `softmax(q k^T * scale) v` per batch entry for `q` (batch, queries, dim), `k` and `v` (batch,
/// keys, dim), query `i` seeing the first `visible[i]` keys (all of them when `None`). Computed in
/// f32; the result has `q`'s dtype.
pub(crate) fn tiled_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visible: Option<&[usize]>,
) -> candle_core::Result<Tensor> {
    let f32_rows = |t: &Tensor| -> candle_core::Result<Tensor> {
        let t = t.to_dtype(DType::F32)?;
        let stride = t.stride();
        if stride[2] == 1 && stride[1] == t.dims()[2] {
            Ok(t)
        } else {
            t.contiguous()
        }
    };
    f32_rows(q)?
        .apply_op3_no_bwd(
            &f32_rows(k)?,
            &f32_rows(v)?,
            &Tiled {
                scale: scale as f32,
                visible,
            },
        )?
        .to_dtype(q.dtype())
}

struct Tiled<'a> {
    scale: f32,
    visible: Option<&'a [usize]>,
}

impl CustomOp3 for Tiled<'_> {
    fn name(&self) -> &'static str {
        "tiled-attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_layout: &Layout,
        k: &CpuStorage,
        k_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let q = Heads::<f32>::new(q, q_layout, "queries")?;
        let k = Heads::<f32>::new(k, k_layout, "keys")?;
        let v = Heads::<f32>::new(v, v_layout, "values")?;
        let (batch, queries, dim) = (q.batch, q.rows, q.dim);
        if (k.batch, k.dim) != (batch, dim) || (v.batch, v.rows, v.dim) != (batch, k.rows, dim) {
            candle_core::bail!(
                "attention: queries {:?}, keys {:?} and values {:?} do not fit together",
                q_layout.dims(),
                k_layout.dims(),
                v_layout.dims()
            );
        }
        let visible = crate::cpu_attention::visible_counts(self.visible, queries, k.rows)?;
        let mut out = vec![0f32; batch * queries * dim];
        if queries > 0 && dim > 0 {
            out.par_chunks_mut(queries * dim)
                .enumerate()
                .for_each(|(b, head_out)| {
                    let (qh, kh, vh) = (q.head(b), k.head(b), v.head(b));
                    head_out
                        .par_chunks_mut(TILE_QUERIES * dim)
                        .zip(qh.par_chunks(TILE_QUERIES * dim))
                        .zip(visible.par_chunks(TILE_QUERIES))
                        .for_each(|((out, q), visible)| {
                            tile_attention(q, kh, vh, visible, self.scale, out)
                        });
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, queries, dim))))
    }
}

/// One tile: `q` and `out` (rows, dim), `k` and `v` (keys, dim), `visible` (rows); `out` starts
/// at zero.
fn tile_attention(q: &[f32], k: &[f32], v: &[f32], visible: &[usize], scale: f32, out: &mut [f32]) {
    let rows = visible.len();
    let dim = out.len() / rows.max(1);
    let seen = visible.iter().copied().max().unwrap_or(0);
    let mut scores = vec![0f32; rows * BLOCK_KEYS.min(seen)];
    // Per row: the largest score so far and the sum of exponentials taken relative to it.
    let mut top = vec![f32::NEG_INFINITY; rows];
    let mut total = vec![0f32; rows];
    for start in (0..seen).step_by(BLOCK_KEYS) {
        let n = BLOCK_KEYS.min(seen - start);
        let scores = &mut scores[..rows * n];
        let (k, v) = (
            &k[start * dim..(start + n) * dim],
            &v[start * dim..(start + n) * dim],
        );
        // scores = scale * q k^T: (rows x dim) times the block's keys as columns.
        // SAFETY: each operand spans exactly the rows and columns given with these strides.
        unsafe {
            gemm::gemm(
                rows,
                n,
                dim,
                scores.as_mut_ptr(),
                1,
                n as isize,
                false,
                q.as_ptr(),
                1,
                dim as isize,
                k.as_ptr(),
                dim as isize,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (i, row) in scores.chunks_exact_mut(n).enumerate() {
            let valid = visible[i].saturating_sub(start).min(n);
            let (seen_keys, hidden) = row.split_at_mut(valid);
            hidden.fill(0.0);
            if valid == 0 {
                continue;
            }
            let new_top = top[i].max(cpu_softmax::max_of(seen_keys));
            let shrink = (top[i] - new_top).exp();
            let sum = cpu_softmax::exp_shifted(seen_keys, new_top);
            if shrink != 1.0 {
                cpu_softmax::scale(&mut out[i * dim..(i + 1) * dim], shrink);
            }
            total[i] = total[i] * shrink + sum;
            top[i] = new_top;
        }
        // out += probabilities v.
        // SAFETY: as above.
        unsafe {
            gemm::gemm(
                rows,
                dim,
                n,
                out.as_mut_ptr(),
                1,
                dim as isize,
                true,
                scores.as_ptr(),
                1,
                n as isize,
                v.as_ptr(),
                1,
                dim as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    for (row, &sum) in out.chunks_exact_mut(dim).zip(&total) {
        if sum > 0.0 {
            cpu_softmax::scale(row, 1.0 / sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{gaussian, seeded};

    /// softmax(q k^T * scale) v in f64, query i seeing visible[i] keys.
    fn direct(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, visible: &[usize]) -> Vec<f64> {
        let (batch, queries, dim) = q.dims3().unwrap();
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (q, k, v) = (values(q), values(k), values(v));
        let keys = k.len() / batch / dim;
        let mut out = vec![0f64; batch * queries * dim];
        for b in 0..batch {
            for i in 0..queries {
                let qi = &q[(b * queries + i) * dim..][..dim];
                let s: Vec<f64> = (0..visible[i])
                    .map(|j| {
                        let kj = &k[(b * keys + j) * dim..][..dim];
                        qi.iter()
                            .zip(kj)
                            .map(|(a, c)| f64::from(a * c))
                            .sum::<f64>()
                            * scale
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for (j, ej) in e.iter().enumerate() {
                    let vj = &v[(b * keys + j) * dim..][..dim];
                    for c in 0..dim {
                        out[(b * queries + i) * dim + c] += ej / z * f64::from(vj[c]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn tiles_and_key_blocks_give_the_direct_result() {
        let mut rng = seeded(71);
        // 150 queries: two whole tiles and a short one; 600 keys: two whole blocks and a short
        // one; a causal mask whose first rows see none of the later blocks.
        let (batch, queries, keys, dim) = (3, 150, 600, 24);
        let q = (gaussian(&mut rng, &[batch, queries, dim]) * 2.0).unwrap();
        let k = gaussian(&mut rng, &[batch, keys, dim]);
        let v = gaussian(&mut rng, &[batch, keys, dim]);
        let causal: Vec<usize> = (0..queries).map(|i| keys - queries + i + 1).collect();
        let all = vec![keys; queries];
        for (mask, visible) in [(None, &all), (Some(&causal[..]), &causal)] {
            let got = tiled_attention(&q, &k, &v, 0.3, mask).unwrap();
            assert_eq!(got.dims(), &[batch, queries, dim]);
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let want = direct(&q, &k, &v, 0.3, visible);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (f64::from(*g) - w).abs())
                .fold(0.0, f64::max);
            // Outputs are averages of unit-variance values: f32 rounding of 600-term sums.
            assert!(worst < 2e-5, "mask {}: {worst}", mask.is_some());
        }
    }

    #[test]
    fn a_row_that_sees_only_the_first_key_copies_its_value() {
        let mut rng = seeded(72);
        let (q, k, v) = (
            gaussian(&mut rng, &[1, 3, 8]),
            gaussian(&mut rng, &[1, 300, 8]),
            gaussian(&mut rng, &[1, 300, 8]),
        );
        let got = tiled_attention(&q, &k, &v, 1.0, Some(&[1, 300, 257])).unwrap();
        let first_value = v.get(0).unwrap().get(0).unwrap();
        let first_row = got.get(0).unwrap().get(0).unwrap();
        let d = crate::cpu_rows::max_abs_difference(&first_row, &first_value);
        assert!(d < 1e-6, "{d}");
    }

    #[test]
    fn half_width_inputs_and_strided_heads_are_taken() {
        let mut rng = seeded(73);
        let q = gaussian(&mut rng, &[2, 40, 16]);
        let kv = gaussian(&mut rng, &[2, 90, 2, 16]);
        // Keys and values side by side in one tensor: heads 0 and 1 of a (2, 90, 2, 16) view.
        let (k, v) = (kv.narrow(2, 0, 1).unwrap(), kv.narrow(2, 1, 1).unwrap());
        let (k, v) = (k.squeeze(2).unwrap(), v.squeeze(2).unwrap());
        let want = tiled_attention(
            &q,
            &k.contiguous().unwrap(),
            &v.contiguous().unwrap(),
            0.25,
            None,
        )
        .unwrap();
        let got = tiled_attention(&q, &k, &v, 0.25, None).unwrap();
        assert_eq!(crate::cpu_rows::max_abs_difference(&got, &want), 0.0);
        let half = tiled_attention(
            &q.to_dtype(DType::BF16).unwrap(),
            &k.to_dtype(DType::BF16).unwrap(),
            &v.to_dtype(DType::BF16).unwrap(),
            0.25,
            None,
        )
        .unwrap();
        assert_eq!(half.dtype(), DType::BF16);
        let d = crate::cpu_rows::max_abs_difference(&half.to_dtype(DType::F32).unwrap(), &want);
        // bf16 inputs and output: about 3 significant digits.
        assert!(d < 0.03, "{d}");
    }
}
