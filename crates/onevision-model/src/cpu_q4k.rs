//! Products of activation rows with a Q4K weight matrix on the CPU: decoding and prompts.
//!
//! candle's Q4K dot product unpacks each super-block's 6-bit scales and 4-bit values through
//! scalar code and quantises the activations on every call; on a q4k decode it reached 33 % of
//! the memory-bandwidth bound where llama.cpp reached 39 % (docs/performance.md). Here the
//! activations are quantised once per call, to 8 bits with one scale per super-block of 256
//! (what lets a super-block's eight sub-blocks add up in integers) and each 32-block's byte sum
//! kept for the minimums; each weight row is read once and unpacked once for up to eight
//! activation rows. Per super-block the 4-bit values multiply the activation bytes in integer
//! instructions, the products of sub-blocks of one parity add up before one multiply weights
//! them by their 6-bit scales ([`GATHER`]), and f32 multiply-adds apply both f16 scales; output
//! rows split across the rayon pool.
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

/// An activation row quantised per super-block: one scale per 256 values, the signed bytes in
/// the kernels' order ([`ORDER`]), and each 32-block's sum of bytes times the row's scale, which
/// the minimums multiply.
pub(crate) struct Activations {
    scales: Vec<f32>,
    values: Vec<i8>,
    min_weights: Vec<f32>,
}

/// The packed weight qwords (bytes `8g..8g + 8` of a super-block's 128) that the kernels gather
/// into one register, in order: qword `g` holds elements `8(g % 4)..8(g % 4) + 8` of sub-block
/// `2(g / 4)` in its low nibbles and of sub-block `2(g / 4) + 1` in its high ones. So qword `i` of
/// either register holds sub-blocks `2(i % 4)` and `2(i % 4) + 1` in every register: each 64-bit
/// lane keeps one sub-block's scale through a super-block, and the products of the registers
/// with even sub-blocks (the low nibbles) add up in integers before one multiply by the scales,
/// as do the odd ones, instead of one multiply per sub-block. In 256-bit registers the same
/// order is a 4x4 transpose of qwords.
const GATHER: [[usize; 8]; 2] = [[0, 4, 8, 12, 1, 5, 9, 13], [2, 6, 10, 14, 3, 7, 11, 15]];

/// [`ORDER`]'s table.
const fn kernel_order() -> [u8; SUPER] {
    let mut order = [0u8; SUPER];
    let mut p = 0;
    while p < SUPER {
        // Position p is byte b of qword i of register t: the low nibbles of gather t / 2 for
        // even t, its high nibbles for odd t.
        let (t, i, b) = (p / 64, p / 8 % 8, p % 8);
        let g = GATHER[t / 2][i];
        order[p] = (SUB * (2 * (g / 4) + t % 2) + 8 * (g % 4) + b) as u8;
        p += 1;
    }
    order
}

/// Which of a super-block's 256 inputs each activation byte of the kernels' order is: the order
/// of the weights' nibbles once gathered ([`GATHER`]), so that activations load as they lie.
const ORDER: [u8; SUPER] = kernel_order();

fn activations(x: &[f32]) -> Activations {
    let row = cpu_q8::quantise_in_blocks(x, SUPER);
    let min_weights = row
        .values
        .chunks_exact(SUB)
        .enumerate()
        .map(|(b, block)| {
            let sum: i32 = block.iter().map(|&v| i32::from(v)).sum();
            row.scales[b * SUB / SUPER] * sum as f32
        })
        .collect();
    let mut values = vec![0i8; row.values.len()];
    for (from, to) in row
        .values
        .chunks_exact(SUPER)
        .zip(values.chunks_exact_mut(SUPER))
    {
        for (v, &n) in to.iter_mut().zip(&ORDER) {
            *v = from[usize::from(n)];
        }
    }
    Activations {
        scales: row.scales,
        values,
        min_weights,
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

/// The dot product in the instructions of `level`.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn dot_with(level: VectorLevel, w: &[u8], x: &Activations) -> f32 {
    match level {
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx512Vnni => dot_rows_avx512::<1>(w, [x])[0],
        #[cfg(target_arch = "x86_64")]
        VectorLevel::Avx2 => dot_rows_avx2::<1>(w, [x])[0],
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
        for (&xv, &n) in xs.iter().zip(&ORDER) {
            let (j, e) = (usize::from(n) / SUB, usize::from(n) % SUB);
            let byte = qs[(j / 2) * SUB + e];
            let nibble = if j % 2 == 0 { byte & 0xF } else { byte >> 4 };
            scaled += i32::from(sc[j]) * i32::from(nibble) * i32::from(xv);
        }
        let mins: f32 = mn
            .iter()
            .zip(&x.min_weights[s * 8..(s + 1) * 8])
            .map(|(&m, &w)| f32::from(m) * w)
            .sum();
        sum += x.scales[s] * d * scaled as f32 - dmin * mins;
    }
    sum
}

/// One super-block's minimums times `dmin` (`d_dmin`'s lane 1) as eight f32, in sub-block order:
/// what each row's [`Activations::min_weights`] multiply.
///
/// # Safety
/// The running CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn scaled_mins(
    d_dmin: std::arch::x86_64::__m128,
    mins: [u32; 2],
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let bytes = _mm_set_epi32(0, 0, mins[1] as i32, mins[0] as i32);
    _mm256_mul_ps(
        _mm256_broadcastss_ps(_mm_movehdup_ps(d_dmin)),
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)),
    )
}

/// The byte-shuffle control that puts, in every 64-bit lane `i` of a register of `lane_bytes`
/// wide integer lanes (2 for i16, 4 for i32), the scale of sub-block `2(i % 4) + odd` from the
/// eight scale bytes held in the low half of each 128-bit lane; the bytes above each scale select
/// zero (a control byte with its top bit set).
#[cfg(target_arch = "x86_64")]
const fn scale_control(odd: usize, lane_bytes: usize) -> [u8; 64] {
    let mut control = [0x80u8; 64];
    let mut at = 0;
    while at < 64 {
        // Within a 128-bit lane the shuffle indexes that lane's 16 bytes.
        control[at] = (2 * ((at / 8) % 4) + odd) as u8;
        at += lane_bytes;
    }
    control
}

/// The dot products of one weight row with `R` activation rows in 256-bit registers. Per
/// super-block the weight's 128 packed bytes are loaded as four registers and their qwords
/// transposed ([`GATHER`]), then unpacked once for all `R` rows; each row's products of the
/// low nibbles (even sub-blocks) add up as i16 over the four registers, as do the high nibbles',
/// and are weighted by their sub-blocks' scales in two multiplies.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], xs: [&Activations; R]) -> [f32; R] {
    use std::arch::x86_64::*;

    const CONTROL: [[u8; 64]; 2] = [scale_control(0, 2), scale_control(1, 2)];
    let control = CONTROL.map(|c| _mm256_loadu_si256(c.as_ptr().cast()));
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
        let d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128(bp.cast::<i32>().read_unaligned()));
        let (sc, mn) = scales_and_mins_words(&block[4..16]);
        // The eight scale bytes in the low half of both 128-bit lanes, for the shuffles.
        let scale_bytes = _mm256_set1_epi64x((u64::from(sc[1]) << 32 | u64::from(sc[0])) as i64);
        let scales = control.map(|c| _mm256_shuffle_epi8(scale_bytes, c));
        let mins = scaled_mins(d_dmin, mn);
        let qs = bp.add(16);
        let p = [0, 1, 2, 3].map(|k| _mm256_loadu_si256(qs.add(32 * k).cast::<__m256i>()));
        // The 4x4 transpose of qwords: gathered[i] holds qword i of each of the four loads.
        let (l01, h01) = (
            _mm256_unpacklo_epi64(p[0], p[1]),
            _mm256_unpackhi_epi64(p[0], p[1]),
        );
        let (l23, h23) = (
            _mm256_unpacklo_epi64(p[2], p[3]),
            _mm256_unpackhi_epi64(p[2], p[3]),
        );
        let gathered = [
            _mm256_permute2x128_si256(l01, l23, 0x20),
            _mm256_permute2x128_si256(h01, h23, 0x20),
            _mm256_permute2x128_si256(l01, l23, 0x31),
            _mm256_permute2x128_si256(h01, h23, 0x31),
        ];
        // Register k's low nibbles meet activation bytes 128 * (k / 2) + 32 * (k % 2), its high
        // nibbles the 64 after (see `kernel_order`).
        let nibbles = gathered.map(|g| {
            [
                _mm256_and_si256(g, low),
                _mm256_and_si256(_mm256_srli_epi16(g, 4), low),
            ]
        });
        let d = _mm_cvtss_f32(d_dmin);
        for (x, a) in xs.iter().zip(acc.iter_mut()) {
            let xp = x.values.as_ptr().add(s * SUPER);
            let mut sums = [_mm256_setzero_si256(); 2];
            for (k, [lo, hi]) in nibbles.iter().enumerate() {
                let at = 128 * (k / 2) + 32 * (k % 2);
                let x_lo = _mm256_loadu_si256(xp.add(at).cast::<__m256i>());
                let x_hi = _mm256_loadu_si256(xp.add(at + 64).cast::<__m256i>());
                // Unsigned nibble times signed byte, pairs summed: at most 2 * 15 * 127; over
                // four registers at most 15240, still an i16.
                sums[0] = _mm256_add_epi16(sums[0], _mm256_maddubs_epi16(*lo, x_lo));
                sums[1] = _mm256_add_epi16(sums[1], _mm256_maddubs_epi16(*hi, x_hi));
            }
            let sumi = _mm256_add_epi32(
                _mm256_madd_epi16(sums[0], scales[0]),
                _mm256_madd_epi16(sums[1], scales[1]),
            );
            let dx = _mm256_set1_ps(d * *x.scales.get_unchecked(s));
            *a = _mm256_fmadd_ps(dx, _mm256_cvtepi32_ps(sumi), *a);
            let min_weights = _mm256_loadu_ps(x.min_weights.as_ptr().add(s * 8));
            *a = _mm256_fnmadd_ps(mins, min_weights, *a);
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

/// `vpdpwssd`, `acc + pairs of a * b`, as one instruction: LLVM rewrites the intrinsic as
/// `vpmaddwd` plus `vpaddd` for a CPU not named as fast at it, an extra instruction on the ports
/// the Q4K prompt kernel is bound by (docs/performance.md). A macro rather than a function: the
/// 512-bit register class needs the caller's AVX-512 target features.
#[cfg(target_arch = "x86_64")]
macro_rules! dpwssd {
    ($acc:expr, $a:expr, $b:expr) => {{
        let mut acc: std::arch::x86_64::__m512i = $acc;
        let (a, b): (std::arch::x86_64::__m512i, std::arch::x86_64::__m512i) = ($a, $b);
        std::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack),
        );
        acc
    }};
}

/// The dot products of one weight row with `R` activation rows in 512-bit registers. Per
/// super-block the 128 packed bytes are loaded as two registers and their qwords gathered
/// ([`GATHER`]) into two others, unpacked once for all `R` rows. VNNI's `vpdpbusd` multiplies
/// nibbles by activation bytes and adds four products into each i32 lane; the lanes of the two
/// even (low-nibble) registers meet the same sub-blocks, so their products add up before one
/// `vpmaddwd` weights them by the scales (the sums, at most 8 * 15 * 127, are i16 in the low
/// half of each lane, the scale in the low half of each scale lane, zero above), and the odd
/// ones likewise. Per row and super-block that is 6 multiplies where unpacking sub-block by
/// sub-block took 8 (docs/performance.md).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
unsafe fn dot_rows_avx512<const R: usize>(w: &[u8], xs: [&Activations; R]) -> [f32; R] {
    use std::arch::x86_64::*;

    const CONTROL: [[u8; 64]; 2] = [scale_control(0, 4), scale_control(1, 4)];
    let control = CONTROL.map(|c| _mm512_loadu_si512(c.as_ptr().cast()));
    let gather = GATHER.map(|g| {
        _mm512_set_epi64(
            g[7] as i64,
            g[6] as i64,
            g[5] as i64,
            g[4] as i64,
            g[3] as i64,
            g[2] as i64,
            g[1] as i64,
            g[0] as i64,
        )
    });
    let low = _mm512_set1_epi8(0x0F);
    let mut acc = [_mm512_setzero_ps(); R];
    for (s, block) in w.chunks_exact(SUPER_BYTES).enumerate() {
        let bp = block.as_ptr();
        // See dot_rows_avx2.
        if R == 1 {
            cpu_rows::prefetch_ahead(bp, PREFETCH_AHEAD);
        }
        let d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128(bp.cast::<i32>().read_unaligned()));
        let (sc, mn) = scales_and_mins_words(&block[4..16]);
        // The eight scale bytes in the low half of every 128-bit lane, for the shuffles.
        let scale_bytes = _mm512_set1_epi64((u64::from(sc[1]) << 32 | u64::from(sc[0])) as i64);
        let scales = control.map(|c| _mm512_shuffle_epi8(scale_bytes, c));
        let mins = _mm512_zextps256_ps512(scaled_mins(d_dmin, mn));
        let d = _mm512_broadcastss_ps(d_dmin);
        let qs = bp.add(16);
        let packed = [0, 1].map(|h| _mm512_loadu_si512(qs.add(64 * h).cast()));
        // Registers 0 and 2 hold even sub-blocks, 1 and 3 odd ones.
        let mut nibbles = [_mm512_setzero_si512(); 4];
        for (h, g) in gather.iter().enumerate() {
            let gathered = _mm512_permutex2var_epi64(packed[0], *g, packed[1]);
            nibbles[2 * h] = _mm512_and_si512(gathered, low);
            nibbles[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(gathered, 4), low);
        }
        for (x, a) in xs.iter().zip(acc.iter_mut()) {
            let xp = x.values.as_ptr().add(s * SUPER);
            let xq = [0, 1, 2, 3].map(|k| _mm512_loadu_si512(xp.add(64 * k).cast()));
            let zero = _mm512_setzero_si512();
            let even = _mm512_dpbusd_epi32(
                _mm512_dpbusd_epi32(zero, nibbles[0], xq[0]),
                nibbles[2],
                xq[2],
            );
            let odd = _mm512_dpbusd_epi32(
                _mm512_dpbusd_epi32(zero, nibbles[1], xq[1]),
                nibbles[3],
                xq[3],
            );
            let sumi = dpwssd!(_mm512_madd_epi16(even, scales[0]), odd, scales[1]);
            let scaled = _mm512_mul_ps(
                _mm512_set1_ps(*x.scales.get_unchecked(s)),
                _mm512_cvtepi32_ps(sumi),
            );
            *a = _mm512_fmadd_ps(scaled, d, *a);
            let min_weights =
                _mm512_zextps256_ps512(_mm256_loadu_ps(x.min_weights.as_ptr().add(s * 8)));
            *a = _mm512_fnmadd_ps(mins, min_weights, *a);
        }
    }
    acc.map(|a| _mm512_reduce_add_ps(a))
}

/// The dot products of one weight row with every row of `xs`, into `out`.
fn dot_rows(w: &[u8], xs: &[Activations], out: &mut [f32]) {
    // SAFETY: the level was detected on the running CPU.
    unsafe { dot_rows_with(VectorLevel::detected(), w, xs, out) }
}

/// [`dot_rows`] in the instructions of `level`: eight rows at a time with VNNI (32 registers),
/// then four, with AVX2 four (16 registers), the rest one at a time.
///
/// # Safety
/// The running CPU has `level` ([`VectorLevel::detected`] or below).
unsafe fn dot_rows_with(level: VectorLevel, w: &[u8], xs: &[Activations], out: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if level == VectorLevel::Avx512Vnni {
            for (x, o) in xs.chunks_exact(8).zip(out.chunks_exact_mut(8)) {
                let rows = std::array::from_fn(|i| &x[i]);
                o.copy_from_slice(&dot_rows_avx512::<8>(w, rows));
                done += 8;
            }
        }
        for (x, o) in xs[done..]
            .chunks_exact(4)
            .zip(out[done..].chunks_exact_mut(4))
        {
            let rows = [&x[0], &x[1], &x[2], &x[3]];
            let four = match level {
                VectorLevel::Avx512Vnni => dot_rows_avx512::<4>(w, rows),
                VectorLevel::Avx2 => dot_rows_avx2::<4>(w, rows),
                VectorLevel::Portable => break,
            };
            o.copy_from_slice(&four);
            done += 4;
        }
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
    group_rows: 8,
    prepare: activations,
    kernel: cpu_rows::BlockKernel::SeveralActivationRows(dot_rows),
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
        // Fifteen rows: a step of eight (VNNI), one of four and three left over.
        let xs: Vec<Activations> = (0..15)
            .map(|_| {
                let x = crate::test_data::gaussian(&mut rng, &[inputs]);
                activations(&x.to_vec1::<f32>().unwrap())
            })
            .collect();
        for row in data.chunks_exact(inputs / SUPER * SUPER_BYTES) {
            for level in VectorLevel::available() {
                let mut out = [0f32; 15];
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
    fn the_kernels_order_takes_each_input_once() {
        let mut seen = [false; SUPER];
        for &n in &ORDER {
            assert!(!seen[usize::from(n)], "input {n} twice");
            seen[usize::from(n)] = true;
        }
        // Each 64-bit lane of a register holds one sub-block, the same one in both registers
        // of a parity (what lets their products add up before the scales).
        for (p, &n) in ORDER.iter().enumerate() {
            let (t, i) = (p / 64, p / 8 % 8);
            assert_eq!(usize::from(n) / SUB, 2 * (i % 4) + t % 2, "position {p}");
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
