//! Products of a few activation rows with a Q8_0 weight matrix on the CPU: decoding.
//!
//! candle's Q8_0 dot product keeps one accumulator and converts each block's two f16 scales
//! through a function call; profiled on a q8_0 decode it took 65 % of the time and the step
//! reached 40 % of the memory-bandwidth bound (docs/performance.md). Here the activations are
//! quantised once per call to 8 bits with an f32 scale per block of 32, and each weight row is
//! read once, block by block: the signed bytes multiplied and summed in 256-bit (or 512-bit)
//! integer instructions, the weights' f16 scales converted in registers several at a time;
//! output rows split across the rayon pool as in cpu_rows.rs.

use candle_core::quantized::GgmlDType;
use half::f16;

use crate::cpu_rows::{self, BlockKernel, VectorLevel, PREFETCH_AHEAD};

/// Inputs per block, and the bytes of one weight block: an f16 scale, then 32 signed bytes.
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 34;

/// Activation rows per pass over the weight (see [`cpu_rows::BlockFormat::chunk_rows`]). The
/// kernels serve short prompts too (up to where unpacking wins: cpu_unpack.rs), and passes of 64
/// rows cost the same per row as one pass (docs/performance.md).
pub(crate) const CHUNK_ROWS: usize = 64;

/// One activation row quantised: per block, the scale and the 32 signed bytes.
pub(crate) struct QuantisedRow {
    pub(crate) scales: Vec<f32>,
    pub(crate) values: Vec<i8>,
}

pub(crate) fn quantise_row(x: &[f32]) -> QuantisedRow {
    quantise_in_blocks(x, BLOCK)
}

/// `x` rounded to signed bytes with one f32 scale (largest magnitude / 127) per `block` values,
/// halves rounded to even.
pub(crate) fn quantise_in_blocks(x: &[f32], block: usize) -> QuantisedRow {
    #[cfg(target_arch = "x86_64")]
    if VectorLevel::detected() >= VectorLevel::Avx2 {
        // SAFETY: AVX2 was detected on the running CPU.
        return unsafe { quantise_avx2(x, block) };
    }
    quantise_lanes(x, block)
}

/// [`quantise_lanes`] compiled for AVX2. Called once a product, the portable loop (a libm
/// `roundf` call a value, no vector max) took 2 % of a mid-size q8_0 decode.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantise_avx2(x: &[f32], block: usize) -> QuantisedRow {
    quantise_lanes(x, block)
}

/// The quantiser, in lanes of eight that the compiler turns into vector instructions: the
/// largest magnitude kept per lane (no reordered reduction), halves rounded to even (one
/// instruction, where rounding away from zero is a library call).
#[inline(always)]
fn quantise_lanes(x: &[f32], block: usize) -> QuantisedRow {
    const LANES: usize = 8;
    let blocks = x.len() / block;
    let mut scales = Vec::with_capacity(blocks);
    let mut values = vec![0i8; blocks * block];
    for (chunk, out) in x.chunks_exact(block).zip(values.chunks_exact_mut(block)) {
        let mut lanes = [0f32; LANES];
        let whole = chunk.chunks_exact(LANES);
        let rest = whole.remainder();
        for eight in whole {
            for (m, v) in lanes.iter_mut().zip(eight) {
                *m = m.max(v.abs());
            }
        }
        let amax = rest
            .iter()
            .fold(lanes.into_iter().fold(0f32, f32::max), |m, v| {
                m.max(v.abs())
            });
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (v, q) in chunk.iter().zip(out.iter_mut()) {
            *q = (v * inv).round_ties_even() as i8;
        }
        scales.push(d);
    }
    QuantisedRow { scales, values }
}

/// The dot product in the instructions of `level`.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn dot_with(level: VectorLevel, w: &[u8], x: &QuantisedRow) -> f32 {
    match level {
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx512Vnni => {
            let mut out = [0f32];
            rows_avx512(w, w.len(), x, &mut out);
            out[0]
        }
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx2 => dot_avx2(w, &x.values, &x.scales),
        _ => dot_portable(w, x),
    }
}

fn block_scale(block: &[u8]) -> f32 {
    f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32()
}

fn dot_portable(w: &[u8], x: &QuantisedRow) -> f32 {
    let mut sum = 0f32;
    for ((block, xs), dx) in w
        .chunks_exact(BLOCK_BYTES)
        .zip(x.values.chunks_exact(BLOCK))
        .zip(&x.scales)
    {
        let q: i32 = block[2..]
            .iter()
            .zip(xs)
            .map(|(&wq, &xq)| i32::from(wq as i8) * i32::from(xq))
            .sum();
        sum += block_scale(block) * dx * q as f32;
    }
    sum
}

/// The dot product in AVX2, eight blocks a step. Scaling each block's products on its own (its
/// f16 scale converted alone and broadcast, its eight i32 sums converted and multiplied in) cost
/// more than the products: on a 2-core Xeon that loop streamed 13 GB/s of weights where memory
/// gave 27. Here eight blocks' sums are gathered into one vector by horizontal adds and their
/// scales converted and multiplied eight at a time: a weight in cache went 1.4x faster on one
/// core of a 2-core EPYC (docs/performance.md).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2(w: &[u8], values: &[i8], scales: &[f32]) -> f32 {
    use std::arch::x86_64::*;

    /// The 32 byte products of one block, summed in eight i32 lanes.
    #[inline(always)]
    unsafe fn block_products(w: *const u8, x: *const i8) -> __m256i {
        let wq = _mm256_loadu_si256(w.add(2) as *const __m256i);
        let xq = _mm256_loadu_si256(x as *const __m256i);
        // maddubs multiplies unsigned by signed bytes: move the weight's sign onto the
        // activation.
        let w_abs = _mm256_sign_epi8(wq, wq);
        let x_signed = _mm256_sign_epi8(xq, wq);
        let pairs = _mm256_maddubs_epi16(w_abs, x_signed);
        _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
    }

    /// Eight blocks' sums, block k's in lane k.
    #[inline(always)]
    unsafe fn eight_sums(w: *const u8, x: *const i8) -> __m256i {
        let q = |k: usize| block_products(w.add(k * BLOCK_BYTES), x.add(k * BLOCK));
        // Each hadd leaves pairs of lanes summed, the first operand's in the low half of each
        // 128-bit lane: after two rounds lane k of each half holds block k's (or k + 4's)
        // partial sum over that half's lanes.
        let first = _mm256_hadd_epi32(_mm256_hadd_epi32(q(0), q(1)), _mm256_hadd_epi32(q(2), q(3)));
        let second =
            _mm256_hadd_epi32(_mm256_hadd_epi32(q(4), q(5)), _mm256_hadd_epi32(q(6), q(7)));
        let low_halves = _mm256_permute2x128_si256::<0x20>(first, second);
        let high_halves = _mm256_permute2x128_si256::<0x31>(first, second);
        _mm256_add_epi32(low_halves, high_halves)
    }

    /// Eight blocks' f16 scales as f32, block k's in lane k.
    #[inline(always)]
    unsafe fn eight_scales(w: *const u8) -> __m256 {
        let bits = |k: usize| u64::from(w.add(k * BLOCK_BYTES).cast::<u16>().read_unaligned());
        let four = |k: usize| bits(k) | bits(k + 1) << 16 | bits(k + 2) << 32 | bits(k + 3) << 48;
        _mm256_cvtph_ps(_mm_set_epi64x(four(4) as i64, four(0) as i64))
    }

    let blocks = scales.len().min(w.len() / BLOCK_BYTES);
    let wp = w.as_ptr();
    let xp = values.as_ptr();
    let dx = scales.as_ptr();
    let mut acc = _mm256_setzero_ps();
    let mut b = 0;
    while b + 8 <= blocks {
        let wb = wp.add(b * BLOCK_BYTES);
        // Eight blocks are 272 bytes: asked for in two steps of three lines.
        cpu_rows::prefetch_ahead(wb, PREFETCH_AHEAD);
        cpu_rows::prefetch_ahead(wb.wrapping_add(4 * BLOCK_BYTES), PREFETCH_AHEAD);
        let scales = _mm256_mul_ps(eight_scales(wb), _mm256_loadu_ps(dx.add(b)));
        let sums = _mm256_cvtepi32_ps(eight_sums(wb, xp.add(b * BLOCK)));
        acc = _mm256_fmadd_ps(scales, sums, acc);
        b += 8;
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    let mut sum: f32 = lanes.iter().sum();
    // The last one to seven blocks (the models' widths leave none).
    for i in b..blocks {
        let wb = wp.add(i * BLOCK_BYTES);
        let products = _mm256_cvtepi32_ps(block_products(wb, xp.add(i * BLOCK)));
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), products);
        sum += block_scale(&w[i * BLOCK_BYTES..]) * scales[i] * lanes.iter().sum::<f32>();
    }
    sum
}

/// The dot products of consecutive weight rows, `row_bytes` each, with one quantised row.
///
/// At the mid-size model's widths a row is 28 blocks: called once a row, the call, the final
/// sum of the lanes and restarting the prefetches cost about as much as the row's own blocks
/// (docs/performance.md), so the AVX-512 kernel takes many rows in one pass.
fn dot_weight_rows(w: &[u8], row_bytes: usize, x: &QuantisedRow, out: &mut [f32]) {
    // SAFETY: the level was detected on the running CPU.
    unsafe { weight_rows_with(VectorLevel::detected(), w, row_bytes, x, out) }
}

/// [`dot_weight_rows`] in the instructions of `level`.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn weight_rows_with(
    level: VectorLevel,
    w: &[u8],
    row_bytes: usize,
    x: &QuantisedRow,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if level == VectorLevel::Avx512Vnni {
        return rows_avx512(w, row_bytes, x, out);
    }
    for (row, o) in w.chunks_exact(row_bytes).zip(out) {
        *o = dot_with(level, row, x);
    }
}

/// [`dot_avx2`] in 512-bit registers, two blocks a step, over consecutive weight rows: VNNI's
/// `vpdpbusd` multiplies the weight's magnitudes by the activations carrying the weight's sign
/// and sums each four products into an i32 in one instruction. The rows are read as one stream,
/// each cache line asked for once, [`PREFETCH_AHEAD`] bytes ahead.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
unsafe fn rows_avx512(w: &[u8], row_bytes: usize, x: &QuantisedRow, out: &mut [f32]) {
    use std::arch::x86_64::*;

    /// The two blocks' 32 i32 sums of four products: block `w`'s in lanes 0-7, the next's in
    /// lanes 8-15.
    #[inline(always)]
    unsafe fn pair_products(w: *const u8, x: *const i8) -> __m512i {
        let first = _mm256_loadu_si256(w.add(2).cast::<__m256i>());
        let second = _mm256_loadu_si256(w.add(BLOCK_BYTES + 2).cast::<__m256i>());
        let wq = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(first), second);
        let xq = _mm512_loadu_si512(x.cast());
        let zero = _mm512_setzero_si512();
        // vpdpbusd multiplies unsigned by signed bytes: the weight's sign moves onto the
        // activation (|x| <= 127, so negating it cannot overflow).
        let x_signed = _mm512_mask_sub_epi8(xq, _mm512_movepi8_mask(wq), zero, xq);
        _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(wq), x_signed)
    }

    /// The two blocks' weight scales times the activation's, each over its block's eight lanes.
    #[inline(always)]
    unsafe fn pair_scales(w: *const u8, dx: *const f32) -> __m512 {
        let bits = |at: usize| i16::from_le_bytes([*w.add(at), *w.add(at + 1)]);
        let dw = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, bits(BLOCK_BYTES), bits(0)));
        let dxs = _mm_castpd_ps(_mm_load_sd(dx.cast::<f64>()));
        let both = _mm512_castps128_ps512(_mm_mul_ps(dw, dxs));
        _mm512_permutexvar_ps(
            _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
            both,
        )
    }

    let blocks = x.scales.len().min(row_bytes / BLOCK_BYTES);
    let steps = blocks / 4;
    let xp = x.values.as_ptr();
    let dx = x.scales.as_ptr();
    // The next line whose far lines to ask for, as an address: prefetching never faults, so
    // the requests may run past the weight's end.
    let mut line = w.as_ptr() as usize & !63;
    for (row, o) in w.chunks_exact(row_bytes).zip(out) {
        let wp = row.as_ptr();
        let mut acc = [_mm512_setzero_ps(); 2];
        for step in 0..steps {
            let b = 4 * step;
            let until = wp as usize + (b + 4) * BLOCK_BYTES;
            while line < until {
                cpu_rows::prefetch_line(line as *const u8, PREFETCH_AHEAD);
                line += 64;
            }
            for (k, a) in acc.iter_mut().enumerate() {
                let i = b + 2 * k;
                let wb = wp.add(i * BLOCK_BYTES);
                *a = _mm512_fmadd_ps(
                    pair_scales(wb, dx.add(i)),
                    _mm512_cvtepi32_ps(pair_products(wb, xp.add(i * BLOCK))),
                    *a,
                );
            }
        }
        let mut sum = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
        // The last one to three blocks (no width the models use leaves any).
        let b = 4 * steps;
        if b < blocks {
            sum += dot_avx2(
                &row[b * BLOCK_BYTES..],
                &x.values[b * BLOCK..],
                &x.scales[b..blocks],
            );
        }
        *o = sum;
    }
}

/// How [`cpu_rows::blocks_times_weight`] reads Q8_0.
pub(crate) const FORMAT: cpu_rows::BlockFormat<QuantisedRow> = cpu_rows::BlockFormat {
    dtype: GgmlDType::Q8_0,
    block_inputs: BLOCK,
    block_bytes: BLOCK_BYTES,
    chunk_rows: CHUNK_ROWS,
    group_rows: 4,
    prepare: quantise_row,
    kernel: BlockKernel::SeveralWeightRows(dot_weight_rows),
};

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;
    use candle_core::{DType, Device, Tensor};

    #[test]
    fn equals_the_dequantised_product_within_the_activations_rounding() {
        // 70 rows: two passes over the weight, the second short.
        let shapes = [
            (1, 896, 130),
            (3, 64, 9),
            (8, 4864, 5),
            (1, 160, 1),
            (70, 128, 3),
        ];
        cpu_rows::check_block_kernel(&FORMAT, &shapes, dot_portable);
    }

    #[test]
    fn every_kernel_this_cpu_has_agrees_with_the_portable_loop() {
        // 1-5, 8, 9 and 15 blocks: every tail the four-block (AVX-512) steps can leave, and the
        // eight-block (AVX2) steps with and without a tail.
        cpu_rows::check_every_level(
            GgmlDType::Q8_0,
            &[32, 64, 96, 128, 160, 256, 288, 480, 896, 3584],
            quantise_row,
            dot_portable,
            dot_with,
        );
    }

    #[test]
    fn many_weight_rows_in_one_pass_equal_one_row_at_a_time() {
        // 28 blocks (the mid-size width, no tail) and 5 (a one-block tail) a row; seven rows,
        // so the prefetches run across row boundaries.
        let mut rng = crate::test_data::seeded(21);
        for inputs in [896, 160] {
            let w = crate::test_data::gaussian(&mut rng, &[7, inputs]);
            let packed = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
            let data = packed.data().unwrap();
            let row_bytes = data.len() / 7;
            let x: Vec<f32> = crate::test_data::gaussian(&mut rng, &[inputs])
                .to_vec1()
                .unwrap();
            let a = quantise_row(&x);
            for level in VectorLevel::available() {
                let mut many = [0f32; 7];
                // SAFETY: `available` lists only what the running CPU has.
                unsafe { weight_rows_with(level, &data, row_bytes, &a, &mut many) };
                for (row, got) in data.chunks_exact(row_bytes).zip(many) {
                    let expected = dot_portable(row, &a);
                    assert!(
                        (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                        "{level:?} at {inputs} inputs: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_quantiser_rounds_halves_to_even_at_every_level() {
        // Largest magnitude 127: a scale of one, so each value is its own rounding.
        let mut block = vec![0f32; BLOCK];
        block[..6].copy_from_slice(&[127.0, 0.5, 1.5, -2.5, 2.4, -126.6]);
        let mut rng = crate::test_data::seeded(5);
        let random: Vec<f32> = crate::test_data::gaussian(&mut rng, &[3 * BLOCK + 8])
            .to_vec1()
            .unwrap();
        let vector = quantise_in_blocks(&block, BLOCK);
        assert_eq!(vector.scales, [1.0]);
        assert_eq!(&vector.values[..6], &[127, 0, 2, -2, 2, -127]);
        for (x, block) in [(&random[..3 * BLOCK], BLOCK), (&random[..], 104)] {
            let (vector, portable) = (quantise_in_blocks(x, block), quantise_lanes(x, block));
            assert_eq!(vector.values, portable.values);
            assert_eq!(vector.scales, portable.scales);
            assert!(vector.values.iter().any(|v| v.abs() == 127));
        }
    }

    #[test]
    fn a_weight_without_inputs_gives_zeros() {
        let dev = Device::Cpu;
        let w = QTensor::quantize(
            &Tensor::zeros((3, 0), DType::F32, &dev).unwrap(),
            GgmlDType::Q8_0,
        )
        .unwrap();
        let x = Tensor::zeros((2, 0), DType::F32, &dev).unwrap();
        let y = cpu_rows::blocks_times_weight(&x, &w, &FORMAT).unwrap();
        assert_eq!(y.dims(), &[2, 3]);
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0f32; 6]
        );
    }

    #[test]
    fn other_formats_are_left_to_candle() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (4, 256), &dev).unwrap();
        let q4 = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let one = Tensor::zeros((1, 256), DType::F32, &dev).unwrap();
        assert!(!FORMAT.applies(&one, &q4));
        assert!(FORMAT.applies(&one, &q8));
        let many = Tensor::zeros((CHUNK_ROWS + 1, 256), DType::F32, &dev).unwrap();
        assert!(FORMAT.applies(&many, &q8));
        assert!(!FORMAT.applies(&many.to_dtype(DType::BF16).unwrap(), &q8));
    }
}
