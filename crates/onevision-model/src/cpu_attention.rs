//! Attention of a few query rows over many cached keys on the CPU: decoding.
//!
//! A decoding step has one query row per head, and the heads that share a key/value head are
//! grouped (seven rows for a 7B). Through candle that is a matrix product of those few rows
//! with the transposed keys, a softmax with the C library's scalar `expf`, and a second product,
//! each a general routine that repacks its operands for a shape it was not made for: a 7B on a
//! 2-core EPYC lost a third of its decoding speed between 300 and 1406 tokens deep, where the
//! cache it reads is only 160 MB (docs/performance.md). Here each key/value head's keys and
//! values are read from memory once, in tiles that stay in the core's first-level cache while
//! every query row of the group uses them, and the heads are spread over the pool. The cache may
//! hold f16 (see `text::cache_dtype`): it is widened in registers as it is read.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

use crate::cpu_rows::{self, FloatValue, VectorLevel};

/// Query rows per key/value head up to which [`few_query_attention`] serves attention.
pub(crate) const MAX_QUERIES: usize = 16;

/// Keys per tile: 32 rows of 128 f32 are 16 KB, half a first-level data cache.
const TILE_KEYS: usize = 32;

/// Whether [`few_query_attention`] serves `q` (batch, queries, dim) against `k`, `v` (batch,
/// keys, dim): on the CPU, `q` in f32, f16 or bf16, `k` and `v` both in one of those, at most
/// [`MAX_QUERIES`] query rows, each tensor's rows of `dim` values one after another (heads may
/// sit anywhere, as in a cache with room to grow).
pub(crate) fn applies(q: &Tensor, k: &Tensor, v: &Tensor) -> bool {
    let rows_packed = |t: &Tensor| {
        let stride = t.stride();
        t.device().is_cpu() && t.rank() == 3 && stride[2] == 1 && stride[1] == t.dims()[2]
    };
    let float = |t: &Tensor| matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16);
    [q, k, v].iter().all(|t| rows_packed(t))
        && float(q)
        && k.dtype() == v.dtype()
        && float(k)
        && q.dims().get(1).is_some_and(|&m| m <= MAX_QUERIES)
}

/// `softmax(q k^T * scale) v` per batch entry, query `i` seeing the first `visible[i]` keys
/// (all of them when `visible` is `None`); only for what [`applies`] accepts. Half-width
/// queries are widened first (a few rows) and the result has their dtype.
pub(crate) fn few_query_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visible: Option<&[usize]>,
) -> candle_core::Result<Tensor> {
    q.to_dtype(DType::F32)?
        .apply_op3_no_bwd(
            k,
            v,
            &FewQueries {
                scale: scale as f32,
                visible,
            },
        )?
        .to_dtype(q.dtype())
}

struct FewQueries<'a> {
    scale: f32,
    visible: Option<&'a [usize]>,
}

/// A (batch, rows, dim) tensor's values whose rows lie one after another within each batch
/// entry.
pub(crate) struct Heads<'a, T> {
    data: &'a [T],
    pub(crate) batch: usize,
    pub(crate) rows: usize,
    pub(crate) dim: usize,
    first: usize,
    head_stride: usize,
}

impl<'a, T: FloatValue> Heads<'a, T> {
    pub(crate) fn new(
        storage: &'a CpuStorage,
        layout: &Layout,
        what: &str,
    ) -> candle_core::Result<Self> {
        let Some(data) = T::values(storage) else {
            candle_core::bail!("attention {what}: unexpected dtype {:?}", storage.dtype());
        };
        let (batch, rows, dim) = layout.shape().dims3()?;
        let stride = layout.stride();
        let first = layout.start_offset();
        let end = first + batch.saturating_sub(1) * stride[0] + rows * dim;
        if stride[2] != 1 || stride[1] != dim || (batch > 0 && end > data.len()) {
            candle_core::bail!("attention {what}: rows are not laid out one after another");
        }
        Ok(Heads {
            data,
            batch,
            rows,
            dim,
            first,
            head_stride: stride[0],
        })
    }

    /// Fails unless `k` and `v` (keys and values for these queries) hold as many batch entries
    /// of the same width, and as many keys as values.
    pub(crate) fn check_fit<K, V>(&self, k: &Heads<K>, v: &Heads<V>) -> candle_core::Result<()> {
        if (k.batch, k.dim) != (self.batch, self.dim)
            || (v.batch, v.rows, v.dim) != (self.batch, k.rows, self.dim)
        {
            candle_core::bail!(
                "attention: queries {:?}, keys {:?} and values {:?} do not fit together",
                (self.batch, self.rows, self.dim),
                (k.batch, k.rows, k.dim),
                (v.batch, v.rows, v.dim)
            );
        }
        Ok(())
    }

    pub(crate) fn head(&self, b: usize) -> &'a [T] {
        let start = self.first + b * self.head_stride;
        &self.data[start..start + self.rows * self.dim]
    }
}

impl CustomOp3 for FewQueries<'_> {
    fn name(&self) -> &'static str {
        "few-query-attention"
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
        match k.dtype() {
            DType::F16 => self.run::<f16>(q, (k, k_layout), (v, v_layout)),
            DType::BF16 => self.run::<bf16>(q, (k, k_layout), (v, v_layout)),
            _ => self.run::<f32>(q, (k, k_layout), (v, v_layout)),
        }
    }
}

impl FewQueries<'_> {
    fn run<T: FloatValue>(
        &self,
        q: Heads<'_, f32>,
        (k, k_layout): (&CpuStorage, &Layout),
        (v, v_layout): (&CpuStorage, &Layout),
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let k = Heads::<T>::new(k, k_layout, "keys")?;
        let v = Heads::<T>::new(v, v_layout, "values")?;
        let (batch, queries, dim) = (q.batch, q.rows, q.dim);
        q.check_fit(&k, &v)?;
        let keys = k.rows;
        let visible = visible_counts(self.visible, queries, keys)?;
        let mut out = vec![0f32; batch * queries * dim];
        if queries > 0 && dim > 0 {
            let level = VectorLevel::detected();
            let one_head = |(b, out): (usize, &mut [f32])| {
                // SAFETY: the level was detected on the running CPU.
                unsafe {
                    head_attention(
                        level,
                        q.head(b),
                        k.head(b),
                        v.head(b),
                        &visible,
                        self.scale,
                        out,
                    )
                }
            };
            if 2 * batch * keys * dim * std::mem::size_of::<T>() < cpu_rows::PARALLEL_FROM {
                out.chunks_mut(queries * dim).enumerate().for_each(one_head);
            } else {
                out.par_chunks_mut(queries * dim)
                    .enumerate()
                    .for_each(one_head);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, queries, dim))))
    }
}

/// How many leading keys each of `queries` rows sees: `given` capped at `keys`, or all of them.
pub(crate) fn visible_counts(
    given: Option<&[usize]>,
    queries: usize,
    keys: usize,
) -> candle_core::Result<Vec<usize>> {
    match given {
        Some(counts) if counts.len() == queries => {
            Ok(counts.iter().map(|&c| c.min(keys)).collect())
        }
        Some(counts) => candle_core::bail!(
            "attention: {} visible-key counts for {queries} queries",
            counts.len()
        ),
        None => Ok(vec![keys; queries]),
    }
}

/// One key/value head: `q` (queries, dim), `k` and `v` (keys, dim), into `out` (queries, dim).
///
/// # Safety
/// The running CPU has `level`.
unsafe fn head_attention<T: FloatValue>(
    level: VectorLevel,
    q: &[f32],
    k: &[T],
    v: &[T],
    visible: &[usize],
    scale: f32,
    out: &mut [f32],
) {
    let dim = out.len() / visible.len();
    let seen = visible.iter().copied().max().unwrap_or(0);
    if seen == 0 {
        return;
    }
    // Scores, then probabilities, of query i in row i; keys it may not see stay 0.
    let mut probs = vec![0f32; visible.len() * seen];
    for start in (0..seen).step_by(TILE_KEYS) {
        let end = (start + TILE_KEYS).min(seen);
        for (i, (qi, &count)) in q.chunks_exact(dim).zip(visible).enumerate() {
            let row = &mut probs[i * seen..];
            for j in start..end.min(count) {
                row[j] = dot(level, qi, &k[j * dim..(j + 1) * dim]) * scale;
            }
        }
    }
    for (row, &count) in probs.chunks_exact_mut(seen).zip(visible) {
        crate::cpu_softmax::softmax(&mut row[..count]);
    }
    for start in (0..seen).step_by(TILE_KEYS) {
        let end = (start + TILE_KEYS).min(seen);
        for ((oi, row), &count) in out
            .chunks_exact_mut(dim)
            .zip(probs.chunks(seen))
            .zip(visible)
        {
            let last = end.min(count);
            if last > start {
                add_weighted_rows(level, oi, &row[start..last], &v[start * dim..last * dim]);
            }
        }
    }
}

/// The dot product of `a` and `b` (of equal length).
///
/// # Safety
/// The running CPU has `level`.
#[inline(always)]
unsafe fn dot<T: FloatValue>(level: VectorLevel, a: &[f32], b: &[T]) -> f32 {
    match level {
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx2 | VectorLevel::Avx512Vnni if a.len().is_multiple_of(8) => dot_avx2(a, b),
        _ => a.iter().zip(b).map(|(x, y)| x * y.widen()).sum(),
    }
}

/// `out += sum_j weights[j] * rows[j]`, `rows` holding `weights.len()` rows as long as `out`.
///
/// # Safety
/// The running CPU has `level`.
#[inline(always)]
unsafe fn add_weighted_rows<T: FloatValue>(
    level: VectorLevel,
    out: &mut [f32],
    weights: &[f32],
    rows: &[T],
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx2 | VectorLevel::Avx512Vnni if out.len().is_multiple_of(8) => {
            add_weighted_rows_avx2(out, weights, rows)
        }
        _ => {
            for (w, row) in weights.iter().zip(rows.chunks_exact(out.len())) {
                for (o, r) in out.iter_mut().zip(row) {
                    *o += w * r.widen();
                }
            }
        }
    }
}

/// Four independent sums, 32 values a step, then the rest eight at a time; `a.len()` is a
/// multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2<T: FloatValue>(a: &[f32], b: &[T]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (s, a) in acc.iter_mut().enumerate() {
            let at = i + 8 * s;
            *a = _mm256_fmadd_ps(_mm256_loadu_ps(ap.add(at)), T::load8(bp.add(at)), *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(ap.add(i)), T::load8(bp.add(i)), acc[0]);
        i += 8;
    }
    cpu_rows::sum_of_four(acc)
}

/// [`add_weighted_rows`] 64 columns at a time (eight registers of sums, each weight broadcast
/// once for them), then eight at a time; `out.len()` is a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn add_weighted_rows_avx2<T: FloatValue>(out: &mut [f32], weights: &[f32], rows: &[T]) {
    use std::arch::x86_64::*;
    let dim = out.len();
    let count = weights.len().min(rows.len() / dim.max(1));
    let op = out.as_mut_ptr();
    let rp = rows.as_ptr();
    let mut c = 0;
    while c + 64 <= dim {
        let mut acc = [_mm256_setzero_ps(); 8];
        for (s, a) in acc.iter_mut().enumerate() {
            *a = _mm256_loadu_ps(op.add(c + 8 * s));
        }
        for (j, &w) in weights[..count].iter().enumerate() {
            let wj = _mm256_set1_ps(w);
            let row = rp.add(j * dim + c);
            for (s, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(wj, T::load8(row.add(8 * s)), *a);
            }
        }
        for (s, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(op.add(c + 8 * s), *a);
        }
        c += 64;
    }
    while c + 8 <= dim {
        let mut acc = _mm256_loadu_ps(op.add(c));
        for (j, &w) in weights[..count].iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w), T::load8(rp.add(j * dim + c)), acc);
        }
        _mm256_storeu_ps(op.add(c), acc);
        c += 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{gaussian, seeded};
    use candle_core::{Device, IndexOp};

    /// The attention written out in f64 for one batch entry.
    fn direct(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, visible: &[usize]) -> Vec<f64> {
        let rows = |t: &Tensor| -> Vec<Vec<f64>> {
            t.to_vec2::<f32>()
                .unwrap()
                .into_iter()
                .map(|r| r.into_iter().map(f64::from).collect())
                .collect()
        };
        let (q, k, v) = (rows(q), rows(k), rows(v));
        let mut out = Vec::new();
        for (qi, &count) in q.iter().zip(visible) {
            let s: Vec<f64> = k[..count]
                .iter()
                .map(|kj| qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f64>() * scale)
                .collect();
            let m = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..qi.len() {
                out.push(e.iter().zip(&v).map(|(ej, vj)| ej / z * vj[c]).sum::<f64>());
            }
        }
        out
    }

    #[test]
    fn equals_the_attention_written_out_at_every_level() {
        let mut rng = seeded(31);
        // 128-wide heads (a 7B's: two 64-column passes), 72 (a pass of 64 and one of 8) and 12
        // (no vector path); keys across several tiles with a short last one; a causal mask.
        for (batch, queries, keys, dim) in [(4, 7, 77, 128), (2, 3, 40, 72), (3, 2, 33, 12)] {
            let q = gaussian(&mut rng, &[batch, queries, dim]);
            let k = gaussian(&mut rng, &[batch, keys, dim]);
            let v = gaussian(&mut rng, &[batch, keys, dim]);
            let visible: Vec<usize> = (0..queries).map(|i| keys - queries + 1 + i).collect();
            let scale = 1.0 / (dim as f64).sqrt();
            // f16 and bf16 caches: compared with the attention over the same values rounded to
            // their width.
            let narrowed = |dtype| (k.to_dtype(dtype).unwrap(), v.to_dtype(dtype).unwrap());
            let ((k16, v16), (kb16, vb16)) = (narrowed(DType::F16), narrowed(DType::BF16));
            let widened = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
            for level in VectorLevel::available() {
                for b in 0..batch {
                    let at = |t: &Tensor| t.i(b).unwrap();
                    let flat = |t: &Tensor| at(t).flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let flat16 =
                        |t: &Tensor| at(t).flatten_all().unwrap().to_vec1::<f16>().unwrap();
                    let flat_b16 =
                        |t: &Tensor| at(t).flatten_all().unwrap().to_vec1::<bf16>().unwrap();
                    let mut out = vec![0f32; queries * dim];
                    let mut out16 = vec![0f32; queries * dim];
                    let mut out_b16 = vec![0f32; queries * dim];
                    // SAFETY: `available` lists only what the running CPU has.
                    unsafe {
                        let (qb, s) = (flat(&q), scale as f32);
                        head_attention(level, &qb, &flat(&k), &flat(&v), &visible, s, &mut out);
                        let (kb, vb) = (flat16(&k16), flat16(&v16));
                        head_attention(level, &qb, &kb, &vb, &visible, s, &mut out16);
                        let (kb, vb) = (flat_b16(&kb16), flat_b16(&vb16));
                        head_attention(level, &qb, &kb, &vb, &visible, s, &mut out_b16);
                    }
                    let want = direct(&at(&q), &at(&k), &at(&v), scale, &visible);
                    let rounded = |k: &Tensor, v: &Tensor| {
                        direct(&at(&q), &at(&widened(k)), &at(&widened(v)), scale, &visible)
                    };
                    let (want16, want_b16) = (rounded(&k16, &v16), rounded(&kb16, &vb16));
                    for (got, want) in [(&out, &want), (&out16, &want16), (&out_b16, &want_b16)] {
                        for (g, w) in got.iter().zip(want) {
                            assert!(
                                (f64::from(*g) - w).abs() < 1e-5,
                                "{level:?} {batch}x{queries}x{keys}x{dim}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reads_a_cache_with_room_to_spare_and_matches_the_general_path() {
        let mut rng = seeded(32);
        let (kv_heads, queries, capacity, used, dim) = (2, 7, 64, 45, 16);
        let q = gaussian(&mut rng, &[kv_heads, queries, dim]);
        let k_buf = gaussian(&mut rng, &[kv_heads, capacity, dim]);
        let v_buf = gaussian(&mut rng, &[kv_heads, capacity, dim]);
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let (k_buf, v_buf) = (
                k_buf.to_dtype(dtype).unwrap(),
                v_buf.to_dtype(dtype).unwrap(),
            );
            let (k, v) = (
                k_buf.narrow(1, 0, used).unwrap(),
                v_buf.narrow(1, 0, used).unwrap(),
            );
            assert!(!k.is_contiguous() && applies(&q, &k, &v));
            let visible = vec![used; queries];
            let got = few_query_attention(&q, &k, &v, 0.25, Some(&visible)).unwrap();
            let widen = |t: &Tensor| t.to_dtype(DType::F32).unwrap().contiguous().unwrap();
            let (k, v) = (widen(&k), widen(&v));
            let scores = (q.matmul(&k.t().unwrap()).unwrap() * 0.25).unwrap();
            let want = candle_nn::ops::softmax_last_dim(&scores)
                .unwrap()
                .matmul(&v)
                .unwrap();
            let d = crate::cpu_rows::max_abs_difference(&got, &want);
            assert!(d < 1e-5, "{dtype:?}: {d}");
            // Queries of the cache's width (a bf16 or f16 model's) are widened, and the result
            // has their dtype: the same attention up to rounding the queries and the result.
            if dtype != DType::F32 {
                let narrow_q = q.to_dtype(dtype).unwrap();
                let got = few_query_attention(
                    &narrow_q,
                    &k_buf.narrow(1, 0, used).unwrap(),
                    &v_buf.narrow(1, 0, used).unwrap(),
                    0.25,
                    Some(&visible),
                )
                .unwrap();
                assert_eq!(got.dtype(), dtype);
                let d =
                    crate::cpu_rows::max_abs_difference(&got.to_dtype(DType::F32).unwrap(), &want);
                assert!(d < 0.05, "{dtype:?} queries: {d}");
            }
        }
    }

    #[test]
    fn refuses_what_it_does_not_serve() {
        let dev = Device::Cpu;
        let t = |b, r, d| Tensor::zeros((b, r, d), DType::F32, &dev).unwrap();
        assert!(applies(&t(4, 7, 128), &t(4, 300, 128), &t(4, 300, 128)));
        assert!(!applies(
            &t(4, MAX_QUERIES + 1, 128),
            &t(4, 300, 128),
            &t(4, 300, 128)
        ));
        let as_dtype = |t: Tensor, d: DType| t.to_dtype(d).unwrap();
        // Half-width caches and queries are read; keys and values of two dtypes, or f64, are not.
        let half = |r| as_dtype(t(4, r, 128), DType::F16);
        let brain = |r| as_dtype(t(4, r, 128), DType::BF16);
        assert!(applies(&t(4, 7, 128), &half(300), &half(300)));
        assert!(applies(&half(7), &half(300), &half(300)));
        assert!(applies(&brain(7), &brain(300), &brain(300)));
        assert!(!applies(&t(4, 7, 128), &half(300), &t(4, 300, 128)));
        assert!(!applies(&brain(7), &brain(300), &half(300)));
        let wide = |r| as_dtype(t(4, r, 128), DType::F64);
        assert!(!applies(&wide(7), &wide(300), &wide(300)));
        // Keys transposed: their rows are not one after another.
        let kt = t(4, 128, 300).transpose(1, 2).unwrap();
        assert!(!applies(&t(4, 7, 128), &kt, &t(4, 300, 128)));
        let wrong = few_query_attention(&t(4, 7, 128), &t(4, 300, 128), &t(4, 301, 128), 1.0, None);
        assert!(wrong
            .unwrap_err()
            .to_string()
            .contains("do not fit together"));
    }
}
