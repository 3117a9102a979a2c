//! Scaled dot-product attention shared by the vision tower and the decoder. On the CPU it goes to
//! cpu_attention.rs (a few query rows) or cpu_tiled_attention.rs (many); on other devices through
//! candle: softmax in f32 like the reference's eager path, and queries taken in chunks so the
//! score matrix stays within a fixed memory budget however long the sequence (a 12-megapixel
//! photo gives ~60k patches).

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// Upper bound on one chunk's f32 score matrix. A chunk holds two such matrices at a time
/// (scores and their softmax), so this bounds attention's share of the peak memory: at 256 MB a
/// 1-megapixel picture's full-attention vision layers (16 heads x 5476 patches) and its
/// 1406-token prompt each added about 0.5 GB above the weights, which took a 7B at q4k over
/// 6 GB. Slices of about 200 query rows still keep the matrix products efficient.
const SCORE_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// `q`: (batch, queries, dim); `k`, `v`: (batch, keys, dim).
/// `visible[i]`, when given, is how many leading keys query `i` may attend to (causal masking).
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visible: Option<&[usize]>,
) -> Result<Tensor> {
    if crate::cpu_attention::applies(q, k, v) {
        return Ok(crate::cpu_attention::few_query_attention(
            q, k, v, scale, visible,
        )?);
    }
    if crate::cpu_tiled_attention::applies(q, k, v) {
        return Ok(crate::cpu_tiled_attention::tiled_attention(
            q, k, v, scale, visible,
        )?);
    }
    // A cache kept narrower than the compute dtype (`text::cache_dtype`) is widened for the
    // matrix products (a prompt's attention, where it is read once for many rows); in the
    // compute dtype already, `to_dtype` shares it.
    let (k, v) = (k.to_dtype(q.dtype())?, v.to_dtype(q.dtype())?);
    chunked_attention(q, &k, &v, scale, visible, SCORE_BUDGET_BYTES)
}

fn chunked_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    visible: Option<&[usize]>,
    budget_bytes: usize,
) -> Result<Tensor> {
    let (batch, queries, _) = q.dims3()?;
    let keys = k.dim(1)?;
    let kt = k.t()?;
    let rows = (budget_bytes / (batch * keys * 4).max(1)).clamp(1, queries.max(1));
    let mut outs = Vec::with_capacity(queries.div_ceil(rows));
    let mut start = 0;
    while start < queries {
        let n = rows.min(queries - start);
        let qc = q.narrow(1, start, n)?;
        let mut scores = (qc.matmul(&kt)? * scale)?.to_dtype(DType::F32)?;
        if let Some(visible) = visible {
            let visible = &visible[start..start + n];
            if visible.iter().any(|&c| c < keys) {
                let mask = causal_mask(visible, keys, q.device())?;
                scores = scores.broadcast_add(&mask)?;
            }
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
        drop(scores);
        outs.push(probs.matmul(v)?);
        start += n;
    }
    Ok(Tensor::cat(&outs, 1)?)
}

fn causal_mask(visible: &[usize], keys: usize, device: &Device) -> Result<Tensor> {
    let mut data = vec![0f32; visible.len() * keys];
    for (row, &count) in data.chunks_exact_mut(keys).zip(visible) {
        row[count.min(keys)..].fill(f32::NEG_INFINITY);
    }
    Ok(Tensor::from_vec(data, (visible.len(), keys), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(q: &[f32], k: &[f32], v: &[f32], lq: usize, d: usize, visible: &[usize]) -> Vec<f32> {
        let mut out = vec![0f32; lq * d];
        for i in 0..lq {
            let s: Vec<f64> = (0..visible[i])
                .map(|j| {
                    (0..d)
                        .map(|c| (q[i * d + c] * k[j * d + c]) as f64)
                        .sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[i * d + c] = (0..visible[i])
                    .map(|j| e[j] / z * v[j * d + c] as f64)
                    .sum::<f64>() as f32;
            }
        }
        out
    }

    #[test]
    fn causal_attention_matches_a_direct_computation() {
        let (lq, lk, d) = (5, 7, 4);
        let gen = |n: usize, seed: u32| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    (((i as u32).wrapping_mul(2654435761u32) ^ seed) % 1000) as f32 / 500.0 - 1.0
                })
                .collect()
        };
        let (q, k, v) = (gen(lq * d, 1), gen(lk * d, 2), gen(lk * d, 3));
        let visible: Vec<usize> = (0..lq).map(|i| lk - lq + i + 1).collect();
        let dev = Device::Cpu;
        let t = |x: &Vec<f32>, n| Tensor::from_vec(x.clone(), (1, n, d), &dev).unwrap();
        let got = attention(
            &t(&q, lq),
            &t(&k, lk),
            &t(&v, lk),
            1.0 / (d as f64).sqrt(),
            Some(&visible),
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
        let want = naive(&q, &k, &v, lq, d, &visible);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let dev = Device::Cpu;
        let (b, lq, lk, d) = (3, 37, 37, 8);
        let q = Tensor::randn(0f32, 1.0, (b, lq, d), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (b, lk, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (b, lk, d), &dev).unwrap();
        let visible: Vec<usize> = (1..=lq).collect();
        for vis in [None, Some(&visible[..])] {
            let whole = chunked_attention(&q, &k, &v, 0.3, vis, usize::MAX).unwrap();
            // A budget of 5 rows' scores forces 8 chunks, the last one short.
            let parts = chunked_attention(&q, &k, &v, 0.3, vis, 5 * b * lk * 4).unwrap();
            let diff = (whole - parts).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        }
    }
}
