//! Products of a few activation rows with a Q4K weight matrix on the CPU: decoding.
//!
//! candle's Q4K dot product unpacks each super-block's 6-bit scales and 4-bit values through
//! scalar code and quantises the activations on every call; on a q4k decode it reached 33 % of
//! the memory-bandwidth bound where llama.cpp reached 39 % (docs/performance.md). Here the
//! activations are quantised once per call, to 8 bits with one scale per super-block of 256
//! (what lets a super-block's eight sub-blocks add up in integers) and each 32-block's byte sum
//! kept for the minimums; each weight row is read once. Per super-block the 4-bit values
//! multiply the activation bytes in 256-bit integer instructions, each sub-block's products are
//! weighted by its 6-bit scale while still integers, and one f32 multiply-add per super-block
//! applies both f16 scales; output rows split across the rayon pool.
//!
//! A Q4K super-block covers 256 inputs in 144 bytes: f16 `d`, f16 `dmin`, 12 bytes holding eight
//! 6-bit scales and eight 6-bit minimums, then 128 bytes of 4-bit values in which bytes
//! `32k..32k+32` hold sub-block `2k` in their low halves and sub-block `2k+1` in their high
//! halves. A weight is `d * scale * q - dmin * min`.

use candle_core::quantized::GgmlDType;
use half::f16;

use crate::cpu_q8;
use crate::cpu_rows::{self, VectorLevel};

const SUPER: usize = 256;
const SUPER_BYTES: usize = 144;
const SUB: usize = 32;
/// How far ahead of the super-block being multiplied its weights are asked for into L1: the
/// hardware prefetchers alone left a 7B's Q4K products at 11.0 GB/s from memory on two threads,
/// this at 14.8-15.6 (8 super-blocks, 1152 bytes, ahead; the next row's when near a row's end).
/// [`cpu_rows::prefetch_ahead`] also asks for lines further ahead into L2.
const PREFETCH_AHEAD: usize = 8 * SUPER_BYTES;

/// Activation rows per pass over the weight.
pub(crate) const CHUNK_ROWS: usize = cpu_q8::CHUNK_ROWS;

/// An activation row quantised per super-block: one scale per 256 values, the signed bytes, and
/// each 32-block's sum of bytes, which the minimums multiply.
pub(crate) struct Activations {
    scales: Vec<f32>,
    values: Vec<i8>,
    /// |sum| <= 32 * 127, so i16 holds it.
    sums: Vec<i16>,
}

/// Where sub-block `j`'s 32 activation bytes sit within their super-block: in the order 0, 2, 1,
/// 3, 4, 6, 5, 7, so that one 64-byte load of activations meets the low (or the high) nibbles of
/// 64 packed weight bytes, which hold sub-blocks 2k and 2k+2 (or 2k+1 and 2k+3).
const fn slot(j: usize) -> usize {
    (j & 4) | ((j & 1) << 1) | ((j >> 1) & 1)
}

fn activations(x: &[f32]) -> Activations {
    let row = cpu_q8::quantise_in_blocks(x, SUPER);
    let sums = row
        .values
        .chunks_exact(SUB)
        .map(|b| b.iter().map(|&v| i16::from(v)).sum())
        .collect();
    let mut values = vec![0i8; row.values.len()];
    for (from, to) in row
        .values
        .chunks_exact(SUPER)
        .zip(values.chunks_exact_mut(SUPER))
    {
        for j in 0..SUPER / SUB {
            to[slot(j) * SUB..][..SUB].copy_from_slice(&from[j * SUB..][..SUB]);
        }
    }
    Activations {
        scales: row.scales,
        values,
        sums,
    }
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// The eight 6-bit scales and eight 6-bit minimums of one super-block, from its 12 packed bytes,
/// as two little-endian words each (byte j of the pair is sub-block j's). Bytes 0-3 hold scales
/// 0-3 in their low six bits, bytes 4-7 minimums 0-3; bytes 8-11 hold the low four bits of
/// scales 4-7 (low halves) and minimums 4-7 (high halves), whose top two bits are the top two
/// bits of bytes 0-3 and 4-7.
#[inline(always)]
fn scales_and_mins_words(packed: &[u8]) -> ([u32; 2], [u32; 2]) {
    let word =
        |i: usize| u32::from_le_bytes([packed[i], packed[i + 1], packed[i + 2], packed[i + 3]]);
    let (a0, a1, a2) = (word(0), word(4), word(8));
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const TOP2: u32 = 0x0303_0303;
    let scales = [a0 & LOW6, (a2 & LOW4) | (((a0 >> 6) & TOP2) << 4)];
    let mins = [a1 & LOW6, ((a2 >> 4) & LOW4) | (((a1 >> 6) & TOP2) << 4)];
    (scales, mins)
}

/// [`scales_and_mins_words`] as eight bytes each.
fn scales_and_mins(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    let bytes = |w: [u32; 2]| {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&w[0].to_le_bytes());
        out[4..].copy_from_slice(&w[1].to_le_bytes());
        out
    };
    let (sc, mn) = scales_and_mins_words(packed);
    (bytes(sc), bytes(mn))
}

fn dot(w: &[u8], x: &Activations) -> f32 {
    // SAFETY: the level was detected on the running CPU.
    unsafe { dot_with(VectorLevel::detected(), w, x) }
}

/// The dot product in the instructions of `level`.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn dot_with(level: VectorLevel, w: &[u8], x: &Activations) -> f32 {
    match level {
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx512Vnni => dot_avx512(w, x),
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx2 => dot_avx2(w, x),
        _ => dot_portable(w, x),
    }
}

fn dot_portable(w: &[u8], x: &Activations) -> f32 {
    let mut sum = 0f32;
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let (d, dmin) = (half(block, 0), half(block, 2));
        let (sc, mn) = scales_and_mins(&block[4..16]);
        let qs = &block[16..];
        let xs = &x.values[s * SUPER..(s + 1) * SUPER];
        let mut scaled = 0i32;
        let mut mins = 0i32;
        for j in 0..8 {
            let bytes = &qs[(j / 2) * 32..(j / 2) * 32 + 32];
            let q: i32 = bytes
                .iter()
                .zip(&xs[slot(j) * SUB..][..SUB])
                .map(|(&b, &xv)| {
                    let nibble = if j % 2 == 0 { b & 0xF } else { b >> 4 };
                    i32::from(nibble) * i32::from(xv)
                })
                .sum();
            scaled += i32::from(sc[j]) * q;
            mins += i32::from(mn[j]) * i32::from(x.sums[s * 8 + j]);
        }
        sum += x.scales[s] * (d * scaled as f32 - dmin * mins as f32);
    }
    sum
}

/// One super-block's scales as the AVX2 loops use them.
#[cfg(target_arch = "x86_64")]
struct SuperBlockScales {
    /// d and dmin in lanes 0 and 1.
    d_dmin: std::arch::x86_64::__m128,
    /// The eight 6-bit scales as i16, in both 128-bit halves.
    scales_twice: std::arch::x86_64::__m256i,
    /// The eight 6-bit minimums as i16.
    mins16: std::arch::x86_64::__m128i,
}

#[cfg(target_arch = "x86_64")]
impl SuperBlockScales {
    /// # Safety
    /// The running CPU has AVX2 and F16C; `block` is one super-block (`SUPER_BYTES` long).
    #[inline(always)]
    unsafe fn read(block: &[u8]) -> Self {
        use std::arch::x86_64::*;
        let (sc, mn) = scales_and_mins_words(&block[4..16]);
        let scales16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, sc[1] as i32, sc[0] as i32));
        SuperBlockScales {
            d_dmin: _mm_cvtph_ps(_mm_cvtsi32_si128(
                block.as_ptr().cast::<i32>().read_unaligned(),
            )),
            scales_twice: _mm256_broadcastsi128_si256(scales16),
            mins16: _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, mn[1] as i32, mn[0] as i32)),
        }
    }

    /// Sub-block j's scale in all 16 i16 lanes: one byte shuffle of the scales already in both
    /// 128-bit halves.
    ///
    /// # Safety
    /// The running CPU has AVX2.
    #[inline(always)]
    unsafe fn sub_block(&self, j: i32) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_shuffle_epi8(
            self.scales_twice,
            _mm256_set1_epi16((((2 * j + 1) << 8) | (2 * j)) as i16),
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2(w: &[u8], x: &Activations) -> f32 {
    use std::arch::x86_64::*;

    let low = _mm256_set1_epi8(0x0F);
    let xp = x.values.as_ptr();
    let sums = x.sums.as_ptr();
    let mut acc = _mm256_setzero_ps();
    let mut acc_mins = _mm_setzero_ps();
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let bp = block.as_ptr();
        cpu_rows::prefetch_ahead(bp, PREFETCH_AHEAD);
        let scales = SuperBlockScales::read(block);
        // d and dmin in lanes 0 and 1, times the activations' scale.
        let both = _mm_mul_ps(scales.d_dmin, _mm_set1_ps(*x.scales.get_unchecked(s)));
        let qs = bp.add(16);
        let xs = xp.add(s * SUPER);
        let mut sumi = _mm256_setzero_si256();
        for k in 0..4 {
            let packed = _mm256_loadu_si256(qs.add(32 * k).cast::<__m256i>());
            let lo = _mm256_and_si256(packed, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
            let x_lo = _mm256_loadu_si256(xs.add(SUB * slot(2 * k)).cast::<__m256i>());
            let x_hi = _mm256_loadu_si256(xs.add(SUB * slot(2 * k + 1)).cast::<__m256i>());
            // Unsigned nibble times signed byte, pairs summed: at most 2 * 15 * 127, an i16.
            let p_lo = _mm256_maddubs_epi16(lo, x_lo);
            let p_hi = _mm256_maddubs_epi16(hi, x_hi);
            let j = 2 * k as i32;
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, scales.sub_block(j)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, scales.sub_block(j + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(both), _mm256_cvtepi32_ps(sumi), acc);
        // The minimums: sum_j min_j * bytesum_j, in four i32 lanes, times dmin's lane.
        let block_sums = _mm_loadu_si128(sums.add(s * 8).cast::<__m128i>());
        let m = _mm_cvtepi32_ps(_mm_madd_epi16(scales.mins16, block_sums));
        acc_mins = _mm_fmadd_ps(_mm_permute_ps(both, 0b0101_0101), m, acc_mins);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    let mut min_lanes = [0f32; 4];
    _mm_storeu_ps(min_lanes.as_mut_ptr(), acc_mins);
    lanes.iter().sum::<f32>() - min_lanes.iter().sum::<f32>()
}

/// The dot products of one weight row with `R` activation rows in 256-bit registers, the
/// weight's nibbles and scales unpacked once for all `R` rows (as [`dot_rows_avx512`] does).
/// Each row's minimums term goes into the same accumulator as its products, so four rows fit
/// the sixteen registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], xs: [&Activations; R]) -> [f32; R] {
    use std::arch::x86_64::*;

    let low = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); R];
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let bp = block.as_ptr();
        // Several rows at once is a prompt's product, whose weight tile is already in cache
        // for all but the first group of rows (cpu_rows::blocks_times_weight); asking for its
        // lines again cost 15 % of the kernel's time on the Xeon.
        if R == 1 {
            cpu_rows::prefetch_ahead(bp, PREFETCH_AHEAD);
        }
        let scales = SuperBlockScales::read(block);
        let qs = bp.add(16);
        let mut sumi = [_mm256_setzero_si256(); R];
        for k in 0..4 {
            let packed = _mm256_loadu_si256(qs.add(32 * k).cast::<__m256i>());
            let lo = _mm256_and_si256(packed, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
            let j = 2 * k as i32;
            let (scale_lo, scale_hi) = (scales.sub_block(j), scales.sub_block(j + 1));
            for (x, sum) in xs.iter().zip(sumi.iter_mut()) {
                let xp = x.values.as_ptr().add(s * SUPER);
                let x_lo = _mm256_loadu_si256(xp.add(SUB * slot(2 * k)).cast::<__m256i>());
                let x_hi = _mm256_loadu_si256(xp.add(SUB * slot(2 * k + 1)).cast::<__m256i>());
                // Unsigned nibble times signed byte, pairs summed: at most 2 * 15 * 127, an
                // i16; times a 6-bit scale and summed over a super-block it stays far inside
                // an i32.
                let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), scale_lo);
                let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), scale_hi);
                *sum = _mm256_add_epi32(*sum, _mm256_add_epi32(p_lo, p_hi));
            }
        }
        for ((x, sum), a) in xs.iter().zip(sumi).zip(acc.iter_mut()) {
            let both = _mm_mul_ps(scales.d_dmin, _mm_set1_ps(*x.scales.get_unchecked(s)));
            *a = _mm256_fmadd_ps(_mm256_broadcastss_ps(both), _mm256_cvtepi32_ps(sum), *a);
            // The minimums: sum_j min_j * bytesum_j in four i32 lanes (the upper four zero),
            // times dmin, taken away.
            let block_sums = _mm_loadu_si128(x.sums.as_ptr().add(s * 8).cast::<__m128i>());
            let m = _mm256_zextsi128_si256(_mm_madd_epi16(scales.mins16, block_sums));
            let dmin = _mm256_broadcastss_ps(_mm_permute_ps(both, 0b0101_0101));
            *a = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(m), *a);
        }
    }
    let mut out = [0f32; R];
    for (o, a) in out.iter_mut().zip(acc) {
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), a);
        *o = lanes.iter().sum();
    }
    out
}

/// The byte-shuffle controls that spread sub-blocks `a` and `b`'s 6-bit scales (bytes `a` and
/// `b` of a 128-bit lane) over the 32 i16 lanes of a 512-bit product: `a`'s in the low 256 bits,
/// `b`'s in the high, each as a little-endian i16 (the zero byte from a control byte with its top
/// bit set).
#[cfg(target_arch = "x86_64")]
const fn scale_spread(a: u8, b: u8) -> [u8; 64] {
    let mut control = [0x80u8; 64];
    let mut i = 0;
    while i < 64 {
        control[i] = if i < 32 { a } else { b };
        i += 2;
    }
    control
}

/// [`dot_avx2`] in 512-bit registers.
#[cfg(target_arch = "x86_64")]
unsafe fn dot_avx512(w: &[u8], x: &Activations) -> f32 {
    dot_rows_avx512::<1>(w, [x])[0]
}

/// The dot products of one weight row with `R` activation rows in 512-bit registers: 64 packed
/// bytes (128 weights) a step, VNNI's `vpdpwssd` weighting each sub-block's i16 products by its
/// scale and adding them in one instruction. The weight's nibbles and scales are unpacked once
/// for all `R` rows, which is what makes a prompt's product cheaper per row than a decode's.
/// Measured on a 2-core Xeon (docs/performance.md): the AVX2 loop was compute-bound there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_rows_avx512<const R: usize>(w: &[u8], xs: [&Activations; R]) -> [f32; R] {
    use std::arch::x86_64::*;

    const SPREAD: [[u8; 64]; 4] = [
        scale_spread(0, 2),
        scale_spread(1, 3),
        scale_spread(4, 6),
        scale_spread(5, 7),
    ];
    let spread = SPREAD.map(|c| _mm512_loadu_si512(c.as_ptr().cast()));
    let low = _mm512_set1_epi8(0x0F);
    let mut acc = [_mm512_setzero_ps(); R];
    let mut acc_mins = [_mm_setzero_ps(); R];
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let bp = block.as_ptr();
        // Several rows at once is a prompt's product, whose weight tile is already in cache
        // for all but the first group of rows (cpu_rows::blocks_times_weight); asking for its
        // lines again cost 15 % of the kernel's time on the Xeon.
        if R == 1 {
            cpu_rows::prefetch_ahead(bp, PREFETCH_AHEAD);
        }
        // d and dmin in lanes 0 and 1.
        let d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128(bp.cast::<i32>().read_unaligned()));
        let (sc, mn) = scales_and_mins_words(&block[4..16]);
        // The eight scale bytes in the low half of every 128-bit lane, for the shuffles.
        let scale_bytes = _mm512_set1_epi64((u64::from(sc[1]) << 32 | u64::from(sc[0])) as i64);
        let scales = spread.map(|c| _mm512_shuffle_epi8(scale_bytes, c));
        let mins16 = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, mn[1] as i32, mn[0] as i32));
        let qs = bp.add(16);
        let mut nibbles = [_mm512_setzero_si512(); 4];
        for half in 0..2 {
            let packed = _mm512_loadu_si512(qs.add(64 * half).cast());
            nibbles[2 * half] = _mm512_and_si512(packed, low);
            nibbles[2 * half + 1] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
        }
        for r in 0..R {
            let x = xs[r];
            let xp = x.values.as_ptr().add(s * SUPER);
            let mut sumi = _mm512_setzero_si512();
            for (k, (n, scale)) in nibbles.iter().zip(&scales).enumerate() {
                // Activations for the low nibbles of a 64-byte half, then its high ones (see
                // `slot`). As in the AVX2 loop, each i16 is at most 2 * 15 * 127; times a 6-bit
                // scale and summed over a super-block it stays far inside an i32.
                let xq = _mm512_loadu_si512(xp.add(64 * k).cast());
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(*n, xq), *scale);
            }
            let both = _mm_mul_ps(d_dmin, _mm_set1_ps(*x.scales.get_unchecked(s)));
            acc[r] = _mm512_fmadd_ps(
                _mm512_set1_ps(_mm_cvtss_f32(both)),
                _mm512_cvtepi32_ps(sumi),
                acc[r],
            );
            let block_sums = _mm_loadu_si128(x.sums.as_ptr().add(s * 8).cast::<__m128i>());
            let m = _mm_cvtepi32_ps(_mm_madd_epi16(mins16, block_sums));
            acc_mins[r] = _mm_fmadd_ps(_mm_permute_ps(both, 0b0101_0101), m, acc_mins[r]);
        }
    }
    let mut out = [0f32; R];
    for r in 0..R {
        let mut lanes = [0f32; 16];
        _mm512_storeu_ps(lanes.as_mut_ptr(), acc[r]);
        let mut min_lanes = [0f32; 4];
        _mm_storeu_ps(min_lanes.as_mut_ptr(), acc_mins[r]);
        out[r] = lanes.iter().sum::<f32>() - min_lanes.iter().sum::<f32>();
    }
    out
}

/// The dot products of one weight row with every row of `xs`, into `out`.
fn dot_rows(w: &[u8], xs: &[Activations], out: &mut [f32]) {
    // SAFETY: the level was detected on the running CPU.
    unsafe { dot_rows_with(VectorLevel::detected(), w, xs, out) }
}

/// [`dot_rows`] in the instructions of `level`: four rows at a time with AVX2 or VNNI, one at
/// a time otherwise.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn dot_rows_with(level: VectorLevel, w: &[u8], xs: &[Activations], out: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    for (x, o) in xs.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        let rows = [&x[0], &x[1], &x[2], &x[3]];
        let four = match level {
            VectorLevel::Avx512Vnni => dot_rows_avx512::<4>(w, rows),
            VectorLevel::Avx2 => dot_rows_avx2::<4>(w, rows),
            VectorLevel::Portable => break,
        };
        o.copy_from_slice(&four);
        done += 4;
    }
    for (x, o) in xs[done..].iter().zip(&mut out[done..]) {
        *o = dot_with(level, w, x);
    }
}

/// How [`cpu_rows::blocks_times_weight`] reads Q4K.
pub(crate) const FORMAT: cpu_rows::BlockFormat<Activations> = cpu_rows::BlockFormat {
    dtype: GgmlDType::Q4K,
    block_inputs: SUPER,
    block_bytes: SUPER_BYTES,
    chunk_rows: CHUNK_ROWS,
    prepare: activations,
    dot,
    dot_rows: Some(dot_rows),
};

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;
    use candle_core::{DType, Device, Tensor};

    #[test]
    fn equals_the_dequantised_product_within_the_activations_rounding() {
        let shapes = [
            (1, 3584, 67),
            (3, 256, 9),
            (8, 1024, 5),
            (1, 512, 1),
            (70, 256, 3),
        ];
        cpu_rows::check_block_kernel(&FORMAT, &shapes, dot_portable);
    }

    #[test]
    fn every_kernel_this_cpu_has_agrees_with_the_portable_loop() {
        cpu_rows::check_every_level(
            GgmlDType::Q4K,
            &[256, 3584],
            activations,
            dot_portable,
            dot_with,
        );
    }

    #[test]
    fn rows_at_a_time_equal_one_at_a_time() {
        let mut rng = crate::test_data::seeded(5);
        let inputs = 1024;
        let w = crate::test_data::gaussian(&mut rng, &[2, inputs]);
        let packed = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let data = packed.data().unwrap();
        // Seven rows: one step of four and three left over.
        let xs: Vec<Activations> = (0..7)
            .map(|_| {
                let x = crate::test_data::gaussian(&mut rng, &[inputs]);
                activations(&x.to_vec1::<f32>().unwrap())
            })
            .collect();
        for row in data.chunks_exact(inputs / SUPER * SUPER_BYTES) {
            for level in VectorLevel::available() {
                let mut out = [0f32; 7];
                // SAFETY: `available` lists only what the running CPU has.
                unsafe { dot_rows_with(level, row, &xs, &mut out) };
                for (got, x) in out.iter().zip(&xs) {
                    let expected = dot_portable(row, x);
                    assert!(
                        (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                        "{level:?}: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn scales_and_minimums_unpack_as_ggml_packs_them() {
        // Scales 1..=8 and minimums 9..=16, packed by hand in the 12-byte layout.
        let sc: [u8; 8] = [1, 2, 3, 40, 50, 61, 7, 63];
        let mn: [u8; 8] = [9, 10, 11, 12, 33, 14, 62, 16];
        let mut packed = [0u8; 12];
        for j in 0..4 {
            packed[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
            packed[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
            packed[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4);
        }
        assert_eq!(scales_and_mins(&packed), (sc, mn));
    }

    #[test]
    fn other_formats_are_left_to_the_other_paths() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (4, 256), &dev).unwrap();
        let q4 = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let one = Tensor::zeros((1, 256), DType::F32, &dev).unwrap();
        assert!(FORMAT.applies(&one, &q4));
        assert!(!FORMAT.applies(&one, &q8));
        let many = Tensor::zeros((CHUNK_ROWS + 1, 256), DType::F32, &dev).unwrap();
        assert!(FORMAT.applies(&many, &q4));
        assert!(!FORMAT.applies(&many.to_dtype(DType::BF16).unwrap(), &q4));
    }
}
