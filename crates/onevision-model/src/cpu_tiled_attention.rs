//! Attention of many query rows on the CPU (a prompt, a picture's patches): a tile of query rows
//! meets a block of keys at a time and each row's softmax is kept running as the blocks go by
//! (its largest score so far, the sum of its exponentials, its output rescaled when the largest
//! score grows), so the score matrix never exists whole.
//!
//! Through candle (attention.rs's chunked path) a 1-megapixel picture's full-attention vision
//! layer wrote 16 heads x 5476 x 5476 scores in 64 MB slices, each freshly mapped memory, then
//! scaled them on one core, then softmaxed them into another fresh 64 MB, then read them back:
//! about 30 % of the vision tower's time on the mid-size model (perf, AVX2). Here each (head,
//! tile) is one task on the pool; its scores stay in the core's cache, the scale rides on the
//! first product, and both products go through `gemm` on that core.

use candle_core::backend::BackendStorage;
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
        q.check_fit(&k, &v)?;
        let visible = crate::cpu_attention::visible_counts(self.visible, queries, k.rows)?;
        let mut out = vec![0f32; batch * queries * dim];
        if queries > 0 && dim > 0 {
            out.par_chunks_mut(queries * dim)
                .enumerate()
                .for_each(|(b, head_out)| {
                    let (q, k, v) = (q.head(b), k.head(b), v.head(b));
                    head_out
                        .par_chunks_mut(TILE_QUERIES * dim)
                        .zip(q.par_chunks(TILE_QUERIES * dim))
                        .zip(visible.par_chunks(TILE_QUERIES))
                        .for_each(|((out, q), visible)| {
                            let tile = Tile {
                                q: Rows::new(q, dim, visible.len(), dim),
                                k: Rows::new(k, dim, k.len() / dim, dim),
                                v: Rows::new(v, dim, v.len() / dim, dim),
                                dim,
                                visible,
                                scale: self.scale,
                            };
                            // SAFETY: `out` is this tile's rows x dim values, one row after
                            // another, and nothing else writes them.
                            unsafe { tile.attend(out.as_mut_ptr(), dim) }
                        });
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, queries, dim))))
    }
}

/// Rows of `dim` values, `stride` apart.
#[derive(Clone, Copy)]
struct Rows<'a> {
    data: &'a [f32],
    stride: usize,
}

impl<'a> Rows<'a> {
    /// The first `rows` rows of `data`, whose length must reach the last row's end.
    fn new(data: &'a [f32], stride: usize, rows: usize, dim: usize) -> Self {
        let len = if rows == 0 {
            0
        } else {
            (rows - 1) * stride + dim
        };
        Rows {
            data: &data[..len],
            stride,
        }
    }

    /// Head `h`'s rows of the segment (first position, length) of a (positions, heads, dim)
    /// sequence at position stride `stride`.
    fn segment_head(
        data: &'a [f32],
        stride: usize,
        (first, len): (usize, usize),
        h: usize,
        dim: usize,
    ) -> Self {
        Rows::new(&data[first * stride + h * dim..], stride, len, dim)
    }

    /// Rows `first..first + count`.
    fn range(self, first: usize, count: usize, dim: usize) -> Rows<'a> {
        Rows::new(&self.data[first * self.stride..], self.stride, count, dim)
    }
}

/// One tile of query rows against all the keys they see.
struct Tile<'a> {
    q: Rows<'a>,
    k: Rows<'a>,
    v: Rows<'a>,
    dim: usize,
    /// Keys each query row sees (one entry per row of the tile).
    visible: &'a [usize],
    scale: f32,
}

impl Tile<'_> {
    /// Writes the tile's output rows at `out`, `out_stride` apart.
    ///
    /// # Safety
    /// `out` must be valid for writing the tile's rows x dim values at that stride, and start
    /// at zero; no one else may touch them meanwhile.
    unsafe fn attend(&self, out: *mut f32, out_stride: usize) {
        let (rows, dim) = (self.visible.len(), self.dim);
        let seen = self.visible.iter().copied().max().unwrap_or(0);
        let mut scores = vec![0f32; rows * BLOCK_KEYS.min(seen)];
        // Per row: the largest score so far and the sum of exponentials taken relative to it.
        let mut top = vec![f32::NEG_INFINITY; rows];
        let mut total = vec![0f32; rows];
        let out_row = |i: usize| std::slice::from_raw_parts_mut(out.add(i * out_stride), dim);
        for start in (0..seen).step_by(BLOCK_KEYS) {
            let n = BLOCK_KEYS.min(seen - start);
            let scores = &mut scores[..rows * n];
            let (k, v) = (self.k.range(start, n, dim), self.v.range(start, n, dim));
            // scores = scale * q k^T: (rows x dim) times the block's keys as columns. Each
            // operand spans exactly the rows and columns given with these strides.
            gemm::gemm(
                rows,
                n,
                dim,
                scores.as_mut_ptr(),
                1,
                n as isize,
                false,
                self.q.data.as_ptr(),
                1,
                self.q.stride as isize,
                k.data.as_ptr(),
                k.stride as isize,
                1,
                0.0,
                self.scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            for (i, row) in scores.chunks_exact_mut(n).enumerate() {
                let valid = self.visible[i].saturating_sub(start).min(n);
                let (seen_keys, hidden) = row.split_at_mut(valid);
                hidden.fill(0.0);
                if valid == 0 {
                    continue;
                }
                let new_top = top[i].max(cpu_softmax::max_of(seen_keys));
                let shrink = (top[i] - new_top).exp();
                let sum = cpu_softmax::exp_shifted(seen_keys, new_top);
                if shrink != 1.0 {
                    cpu_softmax::scale(out_row(i), shrink);
                }
                total[i] = total[i] * shrink + sum;
                top[i] = new_top;
            }
            // out += probabilities v.
            gemm::gemm(
                rows,
                dim,
                n,
                out,
                1,
                out_stride as isize,
                true,
                scores.as_ptr(),
                1,
                n as isize,
                v.data.as_ptr(),
                1,
                v.stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (i, &sum) in total.iter().enumerate() {
            if sum > 0.0 {
                cpu_softmax::scale(out_row(i), 1.0 / sum);
            }
        }
    }
}

/// Attention within each of `segments` ((first position, length) pairs, in order, apart) of a
/// sequence whose `q`, `k` and `v` are (positions, heads, dim) in f32 on the CPU, each head's
/// values one after another and positions at any stride (as in a view of a fused projection):
/// every position sees every position of its segment, per head. Returns (positions, heads x
/// dim), positions outside every segment left at zero. This is the vision tower's attention
/// (windows, then the whole picture) without copying heads apart and back together.
pub(crate) fn segment_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    segments: &[(usize, usize)],
    scale: f64,
) -> candle_core::Result<Tensor> {
    q.apply_op3_no_bwd(
        k,
        v,
        &Segments {
            segments,
            scale: scale as f32,
        },
    )
}

struct Segments<'a> {
    segments: &'a [(usize, usize)],
    scale: f32,
}

/// One operand of [`segment_attention`]: its values from its first, and its position stride.
fn positions<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<(&'a [f32], usize)> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!(
            "segment attention {what}: f32 expected, got {:?}",
            storage.dtype()
        );
    };
    let (n, heads, dim) = layout.shape().dims3()?;
    let stride = layout.stride();
    let first = layout.start_offset();
    let end = first + n.saturating_sub(1) * stride[0] + heads * dim;
    if stride[2] != 1
        || stride[1] != dim
        || (n > 0 && (stride[0] < heads * dim || end > data.len()))
    {
        candle_core::bail!(
            "segment attention {what}: each head's values one after another expected"
        );
    }
    Ok((&data[first..], stride[0]))
}

/// The output's address, shared by tasks that write disjoint rows.
struct Shared(*mut f32);
// SAFETY: the tasks given this pointer write disjoint parts of the buffer (see `cpu_fwd`).
unsafe impl Sync for Shared {}

impl CustomOp3 for Segments<'_> {
    fn name(&self) -> &'static str {
        "segment-attention"
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
        let (n, heads, dim) = q_layout.shape().dims3()?;
        if k_layout.dims() != q_layout.dims() || v_layout.dims() != q_layout.dims() {
            candle_core::bail!(
                "segment attention: queries {:?}, keys {:?} and values {:?} differ",
                q_layout.dims(),
                k_layout.dims(),
                v_layout.dims()
            );
        }
        let (q, q_stride) = positions(q, q_layout, "queries")?;
        let (k, k_stride) = positions(k, k_layout, "keys")?;
        let (v, v_stride) = positions(v, v_layout, "values")?;
        let mut end = 0;
        for &(first, len) in self.segments {
            if first < end || first + len > n {
                candle_core::bail!(
                    "segment attention: segment {first}..{} overlaps another or passes {n} positions",
                    first + len
                );
            }
            end = first + len;
        }
        let width = heads * dim;
        let mut out = vec![0f32; n * width];
        if width == 0 {
            return Ok((CpuStorage::F32(out), Shape::from((n, width))));
        }
        let tasks: Vec<(usize, usize, usize, usize)> = self
            .segments
            .iter()
            .flat_map(|&(first, len)| {
                (0..heads).flat_map(move |h| {
                    (0..len)
                        .step_by(TILE_QUERIES)
                        .map(move |t| (first, len, h, t))
                })
            })
            .collect();
        let shared = Shared(out.as_mut_ptr());
        let shared = &shared;
        tasks.into_par_iter().for_each(|(first, len, h, t)| {
            let rows = TILE_QUERIES.min(len - t);
            let visible = vec![len; rows];
            let segment = |data, stride| Rows::segment_head(data, stride, (first, len), h, dim);
            let (qh, kh, vh) = (
                segment(q, q_stride),
                segment(k, k_stride),
                segment(v, v_stride),
            );
            let tile = Tile {
                q: qh.range(t, rows, dim),
                k: kh,
                v: vh,
                dim,
                visible: &visible,
                scale: self.scale,
            };
            // SAFETY: positions first + t .. first + t + rows of head h: segments are apart
            // (checked above) and each (head, tile) is one task, so no two tasks write the same
            // values; the rows lie within the n x width buffer.
            unsafe {
                tile.attend(shared.0.add((first + t) * width + h * dim), width);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, width))))
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

    #[test]
    fn segments_of_a_fused_projection_attend_within_themselves() {
        let mut rng = seeded(74);
        let (n, heads, dim) = (150, 3, 16);
        // q, k and v side by side per position, as the vision tower's qkv projection gives them.
        let qkv = gaussian(&mut rng, &[n, 3, heads, dim]);
        let part = |i: usize| qkv.narrow(1, i, 1).unwrap().squeeze(1).unwrap();
        let (q, k, v) = (part(0), part(1), part(2));
        assert!(!v.is_contiguous());
        // Windows of 64 (the last one short), then one segment that leaves the first 10 and the
        // last 20 positions out.
        for segments in [vec![(0, 64), (64, 64), (128, 22)], vec![(10, 120)]] {
            let got = segment_attention(&q, &k, &v, &segments, 0.25).unwrap();
            assert_eq!(got.dims(), &[n, heads * dim]);
            let got = got.reshape((n, heads, dim)).unwrap();
            let mut covered = vec![false; n];
            for &(first, len) in &segments {
                covered[first..first + len].fill(true);
                // The same segment one head at a time, as (heads, len, dim) batches.
                let take = |t: &Tensor| {
                    t.narrow(0, first, len)
                        .unwrap()
                        .transpose(0, 1)
                        .unwrap()
                        .contiguous()
                        .unwrap()
                };
                let want = tiled_attention(&take(&q), &take(&k), &take(&v), 0.25, None).unwrap();
                let d = crate::cpu_rows::max_abs_difference(&take(&got), &want);
                assert!(d < 1e-6, "segment {first}+{len}: {d}");
            }
            for (i, covered) in covered.iter().enumerate() {
                let row = got.get(i).unwrap().abs().unwrap().max_all().unwrap();
                let row = row.to_scalar::<f32>().unwrap();
                assert_eq!(row == 0.0, !covered, "position {i}");
            }
        }
        for bad in [vec![(0, 64), (60, 10)], vec![(140, 11)]] {
            let err = segment_attention(&q, &k, &v, &bad, 0.25).unwrap_err();
            assert!(err.to_string().contains("segment"), "{err}");
        }
    }
}
