//! Products of a few activation rows with a Q4K weight matrix on the CPU: decoding.
//!
//! candle's Q4K dot product unpacks each super-block's 6-bit scales and 4-bit values through
//! scalar code and quantises the activations to per-256 blocks on every call; on a q4k decode
//! it reached 33 % of the memory-bandwidth bound where llama.cpp reached 39 %
//! (docs/performance.md). As in cpu_q8.rs the activations are quantised once per call (per block
//! of 32, with each block's sum kept for the minimums), and each weight row is read once: per
//! sub-block of 32, the unsigned 4-bit values multiply the signed activation bytes in 256-bit
//! integer instructions, scaled in f32; output rows split across the rayon pool.
//!
//! A Q4K super-block covers 256 inputs in 144 bytes: f16 `d`, f16 `dmin`, 12 bytes holding eight
//! 6-bit scales and eight 6-bit minimums, then 128 bytes of 4-bit values in which bytes
//! `32k..32k+32` hold sub-block `2k` in their low halves and sub-block `2k+1` in their high
//! halves. A weight is `d * scale * q - dmin * min`.

use candle_core::quantized::GgmlDType;
use half::f16;

use crate::cpu_q8::{self, QuantisedRow};
use crate::cpu_rows;

const SUPER: usize = 256;
const SUPER_BYTES: usize = 144;
const SUB: usize = 32;

/// Activation rows up to which this kernel runs.
pub(crate) const MAX_ROWS: usize = cpu_q8::MAX_ROWS;

/// A quantised activation row with each 32-block's sum of bytes, which the minimums multiply.
pub(crate) struct Activations {
    row: QuantisedRow,
    sums: Vec<i32>,
}

fn activations(x: &[f32]) -> Activations {
    let row = cpu_q8::quantise_row(x);
    let sums = row
        .values
        .chunks_exact(SUB)
        .map(|b| b.iter().map(|&v| i32::from(v)).sum())
        .collect();
    Activations { row, sums }
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// The eight (scale, minimum) pairs of one super-block, from its 12 packed bytes.
fn scales_and_mins(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        (sc[j], mn[j]) = if j < 4 {
            (packed[j] & 63, packed[j + 4] & 63)
        } else {
            (
                (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4),
                (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
            )
        };
    }
    (sc, mn)
}

/// The minimums' share of one super-block's dot product: `sum_j dmin * min_j * dx_j * sum(x_j)`.
fn minimums(dmin: f32, mn: &[u8; 8], x: &Activations, first_sub: usize) -> f32 {
    (0..8)
        .map(|j| {
            let b = first_sub + j;
            f32::from(mn[j]) * x.row.scales[b] * x.sums[b] as f32
        })
        .sum::<f32>()
        * dmin
}

fn dot(w: &[u8], x: &Activations) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected on the running CPU.
        return unsafe { dot_avx2(w, x) };
    }
    dot_portable(w, x)
}

fn dot_portable(w: &[u8], x: &Activations) -> f32 {
    let mut sum = 0f32;
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let (d, dmin) = (half(block, 0), half(block, 2));
        let (sc, mn) = scales_and_mins(&block[4..16]);
        let qs = &block[16..];
        let first_sub = s * SUPER / SUB;
        for j in 0..8 {
            let bytes = &qs[(j / 2) * 32..(j / 2) * 32 + 32];
            let xs = &x.row.values[(first_sub + j) * SUB..(first_sub + j + 1) * SUB];
            let q: i32 = bytes
                .iter()
                .zip(xs)
                .map(|(&b, &xv)| {
                    let nibble = if j % 2 == 0 { b & 0xF } else { b >> 4 };
                    i32::from(nibble) * i32::from(xv)
                })
                .sum();
            sum += d * f32::from(sc[j]) * x.row.scales[first_sub + j] * q as f32;
        }
        sum -= minimums(dmin, &mn, x, first_sub);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: &[u8], x: &Activations) -> f32 {
    use std::arch::x86_64::*;

    /// The 32 products of one sub-block's unsigned 4-bit values with its activation bytes,
    /// summed into eight i32 lanes, as f32.
    #[inline(always)]
    unsafe fn products(q: __m256i, x: *const i8) -> __m256 {
        let xs = _mm256_loadu_si256(x as *const __m256i);
        let pairs = _mm256_maddubs_epi16(q, xs);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    let low = _mm256_set1_epi8(0x0F);
    let xp = x.row.values.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut mins = 0f32;
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let (d, dmin) = (half(block, 0), half(block, 2));
        let (sc, mn) = scales_and_mins(&block[4..16]);
        let first_sub = s * SUPER / SUB;
        let qs = block.as_ptr().add(16);
        for k in 0..4 {
            let packed = _mm256_loadu_si256(qs.add(32 * k) as *const __m256i);
            let lo = _mm256_and_si256(packed, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
            for (half_index, q) in [lo, hi].into_iter().enumerate() {
                let j = 2 * k + half_index;
                let b = first_sub + j;
                let scale = _mm256_set1_ps(d * f32::from(sc[j]) * x.row.scales[b]);
                acc[half_index] =
                    _mm256_fmadd_ps(scale, products(q, xp.add(b * SUB)), acc[half_index]);
            }
        }
        mins += minimums(dmin, &mn, x, first_sub);
    }
    let total = _mm256_add_ps(acc[0], acc[1]);
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), total);
    lanes.iter().sum::<f32>() - mins
}

/// How [`cpu_rows::blocks_times_weight`] reads Q4K.
pub(crate) const FORMAT: cpu_rows::BlockFormat<Activations> = cpu_rows::BlockFormat {
    dtype: GgmlDType::Q4K,
    block_inputs: SUPER,
    block_bytes: SUPER_BYTES,
    max_rows: MAX_ROWS,
    prepare: activations,
    dot,
};

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;
    use candle_core::{DType, Device, Tensor};

    #[test]
    fn equals_the_dequantised_product_within_the_activations_rounding() {
        let shapes = [(1, 3584, 67), (3, 256, 9), (8, 1024, 5), (1, 512, 1)];
        cpu_rows::check_block_kernel(&FORMAT, &shapes, dot_portable);
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
    fn other_formats_and_many_rows_are_left_to_the_other_paths() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (4, 256), &dev).unwrap();
        let q4 = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let q8 = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let one = Tensor::zeros((1, 256), DType::F32, &dev).unwrap();
        assert!(FORMAT.applies(&one, &q4));
        assert!(!FORMAT.applies(&one, &q8));
        let many = Tensor::zeros((MAX_ROWS + 1, 256), DType::F32, &dev).unwrap();
        assert!(!FORMAT.applies(&many, &q4));
    }
}
