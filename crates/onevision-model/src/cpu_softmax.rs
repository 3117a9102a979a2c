//! Softmax over rows of f32 on the CPU with the exponential computed eight lanes at a time.
//!
//! candle's softmax (and Rust's `f32::exp`) calls the C library's scalar `expf` once per score.
//! Attention takes one exponential per query per visible key: a 7B's 1406-token prompt needs
//! about 1.5 billion of them, and each decoded token deep in a context a million more.

/// Below this the exponential is under f32's smallest normal number: the result is 0, as for a
/// masked (-inf) score.
const EXP_MIN_INPUT: f32 = -87.336_54;
/// Inputs are clamped to this so that 2^n stays within the exponent's range; results from about
/// 88.38 up come out infinite, a little early, which softmax (all its inputs at or below 0) never
/// meets.
const EXP_MAX_INPUT: f32 = 88.722_83;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two, the first part with few enough bits that `n * LN2_HIGH` is exact for the
/// integer n of any input in range: the reduced argument keeps its accuracy.
const LN2_HIGH: f32 = 0.693_359_4;
const LN2_LOW: f32 = -2.121_944_4e-4;
/// exp(r) = 1 + r + r^2 * p(r) on |r| <= ln2 / 2, p of degree 5 (Cephes' expf coefficients,
/// relative error about 1e-7).
const POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// `e^x` = 2^n e^r with n = round(x / ln 2) and |r| <= ln2 / 2.
fn exp_portable(x: f32) -> f32 {
    if x < EXP_MIN_INPUT {
        return 0.0;
    }
    let x = x.min(EXP_MAX_INPUT);
    let n = (x * LOG2_E + 0.5).floor();
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = POLY[1..].iter().fold(POLY[0], |p, c| p * r + c);
    // n is in [-126, 128]; 2^128 only meets inputs that overflow anyway.
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    (p * r * r + r + 1.0) * two_n
}

/// [`exp_portable`] on eight lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_avx2(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let too_small = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(EXP_MIN_INPUT));
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(EXP_MIN_INPUT)),
        _mm256_set1_ps(EXP_MAX_INPUT),
    );
    let n = _mm256_floor_ps(_mm256_fmadd_ps(
        x,
        _mm256_set1_ps(LOG2_E),
        _mm256_set1_ps(0.5),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HIGH), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LOW), r);
    let mut p = _mm256_set1_ps(POLY[0]);
    for c in &POLY[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
    }
    let e = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    let exponent = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    let two_n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(exponent));
    _mm256_andnot_ps(too_small, _mm256_mul_ps(e, two_n))
}

/// `row` replaced by its softmax: e^(x - max) / sum. A row of only -inf (no visible key) would
/// divide 0 by 0; attention never gives one.
pub(crate) fn softmax(row: &mut [f32]) {
    let sum = exp_shifted(row, max_of(row));
    scale(row, 1.0 / sum);
}

/// The largest value of `row` (-inf for an empty row).
pub(crate) fn max_of(row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_rows::VectorLevel::detected() >= crate::cpu_rows::VectorLevel::Avx2 {
        // SAFETY: the level includes AVX2 on the running CPU.
        return unsafe { max_avx2(row) };
    }
    row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// `row` replaced by e^(x - shift); returns their sum.
pub(crate) fn exp_shifted(row: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_rows::VectorLevel::detected() >= crate::cpu_rows::VectorLevel::Avx2 {
        // SAFETY: the level includes AVX2 and FMA on the running CPU.
        return unsafe { exp_shifted_avx2(row, shift) };
    }
    exp_shifted_portable(row, shift)
}

/// `row` multiplied by `factor`.
pub(crate) fn scale(row: &mut [f32], factor: f32) {
    // Plain enough for the compiler to vectorise at any level.
    row.iter_mut().for_each(|v| *v *= factor);
}

fn exp_shifted_portable(row: &mut [f32], shift: f32) -> f32 {
    row.iter_mut().fold(0.0, |sum, v| {
        *v = exp_portable(*v - shift);
        sum + *v
    })
}

#[cfg(test)]
fn softmax_portable(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let inv = 1.0 / exp_shifted_portable(row, max);
    scale(row, inv);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_avx2(row: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let whole = row.len() - row.len() % 8;
    let p = row.as_ptr();
    let mut top = _mm256_set1_ps(f32::NEG_INFINITY);
    for i in (0..whole).step_by(8) {
        top = _mm256_max_ps(top, _mm256_loadu_ps(p.add(i)));
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), top);
    lanes
        .iter()
        .chain(&row[whole..])
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// [`exp_shifted_portable`] eight values a step; the last few go through the same vector code
/// with -inf (whose exponential is 0) in the lanes past the end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_shifted_avx2(row: &mut [f32], shift: f32) -> f32 {
    use std::arch::x86_64::*;
    let whole = row.len() - row.len() % 8;
    let p = row.as_mut_ptr();
    let shift = _mm256_set1_ps(shift);
    let mut sum = _mm256_setzero_ps();
    for i in (0..whole).step_by(8) {
        let e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), shift));
        _mm256_storeu_ps(p.add(i), e);
        sum = _mm256_add_ps(sum, e);
    }
    let mut tail = [f32::NEG_INFINITY; 8];
    let rest = row.len() - whole;
    tail[..rest].copy_from_slice(&row[whole..]);
    let e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(tail.as_ptr()), shift));
    _mm256_storeu_ps(tail.as_mut_ptr(), e);
    row[whole..].copy_from_slice(&tail[..rest]);
    sum = _mm256_add_ps(sum, e);
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    lanes.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exponential of `x` by every path this CPU has.
    fn exps_of(x: f32) -> Vec<f32> {
        let mut all = vec![exp_portable(x)];
        #[cfg(target_arch = "x86_64")]
        if crate::cpu_rows::VectorLevel::detected() >= crate::cpu_rows::VectorLevel::Avx2 {
            use std::arch::x86_64::*;
            // SAFETY: AVX2 and FMA were detected on the running CPU.
            all.push(unsafe { _mm256_cvtss_f32(exp_avx2(_mm256_set1_ps(x))) });
        }
        all
    }

    #[test]
    fn the_exponential_is_within_two_ulps_of_f64s() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            for got in exps_of(x) {
                worst = worst.max((f64::from(got) - want).abs() / want);
            }
            x += 0.0137;
        }
        // Two ulps of an f32 are 2.4e-7 relative.
        assert!(worst < 2.4e-7, "worst relative error {worst}");
        for (x, want) in [(f32::NEG_INFINITY, 0.0), (-100.0, 0.0), (0.0, 1.0)] {
            assert!(exps_of(x).iter().all(|&e| e == want), "exp({x})");
        }
        assert!(exps_of(89.0).iter().all(|e| e.is_infinite()));
    }

    #[test]
    fn softmax_matches_a_direct_computation_with_and_without_vectors() {
        // 19 values: two chunks of eight and a tail; a masked score gets exactly 0.
        let row: Vec<f32> = (0..19)
            .map(|i| {
                if i == 5 {
                    f32::NEG_INFINITY
                } else {
                    (i as f32 * 0.77).sin() * 9.0
                }
            })
            .collect();
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
        let want: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp() / z).collect();
        let mut vectors = row.clone();
        softmax(&mut vectors);
        let mut portable = row.clone();
        softmax_portable(&mut portable);
        for got in [&vectors, &portable] {
            assert_eq!(got[5], 0.0);
            for (g, w) in got.iter().zip(&want) {
                assert!((f64::from(*g) - w).abs() < 1e-7, "{g} vs {w}");
            }
        }
    }
}
