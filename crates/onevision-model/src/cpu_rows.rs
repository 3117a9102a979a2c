//! Products of a few activation rows with a bf16, f16 or f32 weight matrix on the CPU: decoding.
//!
//! candle's CPU backend has no bf16 matrix kernel: it widens both operands to f32 on every call,
//! on one thread. For a prefill that cost is spread over hundreds of rows, but a decode step has
//! one row and pays it for every layer of every token. For f32 it runs its general matrix
//! product, which for one row reached 62 % of the memory-bandwidth bound against llama.cpp's 92 %
//! (docs/performance.md). This kernel reads each weight once, widens a bf16 in registers (a bf16
//! is the top half of an f32; an f16 takes the F16C instruction, eight at a time) and splits the
//! output rows across the rayon pool candle also runs on, so decoding runs at the speed of
//! reading the weights.

use candle_core::backend::BackendStorage;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

/// Activation rows up to which the kernel beats widening the matrix; above it the caller uses
/// candle's matmul.
pub(crate) const MAX_ROWS: usize = 8;

/// `x (rows, inputs) @ w (outputs, inputs)^T` with `w` in bf16, f16 or f32; the result has `x`'s
/// dtype.
struct RowsTimesWeight;

/// A float the CPU kernels read as f32, one value or eight at a time: a weight here, a cached key
/// or value in cpu_attention.rs.
pub(crate) trait FloatValue: Copy + Send + Sync {
    fn widen(self) -> f32;

    /// The values of a storage of this dtype.
    fn values(storage: &CpuStorage) -> Option<&[Self]>;

    /// Eight values from `p` as f32, widened in registers as they are read (for an f16 cache,
    /// measured faster than widening each tile once into a buffer for all the query rows: 8192
    /// keys deep, 52 against 66 ms a token).
    ///
    /// # Safety
    /// The running CPU has AVX2 and F16C; eight values can be read from `p`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl FloatValue for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }

    fn values(storage: &CpuStorage) -> Option<&[Self]> {
        match storage {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        std::arch::x86_64::_mm256_loadu_ps(p)
    }
}

impl FloatValue for f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }

    fn values(storage: &CpuStorage) -> Option<&[Self]> {
        match storage {
            CpuStorage::F16(v) => Some(v),
            _ => None,
        }
    }

    /// By F16C: the compiler does not turn a scalar f16 widening into it (a scalar loop ran the
    /// mid-size model's decode at 0.6x candle's).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        _mm256_cvtph_ps(_mm_loadu_si128(p.cast::<__m128i>()))
    }
}

impl FloatValue for bf16 {
    /// A bf16 is the top half of an f32.
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }

    fn values(storage: &CpuStorage) -> Option<&[Self]> {
        match storage {
            CpuStorage::BF16(v) => Some(v),
            _ => None,
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(
            _mm_loadu_si128(p.cast::<__m128i>()),
        )))
    }
}

/// The sum of the 32 lanes of four registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn sum_of_four(acc: [std::arch::x86_64::__m256; 4]) -> f32 {
    use std::arch::x86_64::*;
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
    let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
    _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)))
}

/// Dot products of `xs` (each `w.len()` long) with one weight row, accumulated in f32.
fn dot_rows<W: FloatValue>(xs: &[f32], w: &[W], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if VectorLevel::detected() >= VectorLevel::Avx2 {
        // SAFETY: the level includes AVX2, FMA and F16C, detected on the running CPU.
        unsafe { dot_rows_avx2(xs, w, out) };
        return;
    }
    dot_rows_portable(xs, w, out);
}

/// Inputs a step of [`dot_rows_avx2`]: four registers of eight, one cache line of a bf16 or f16
/// weight, two of an f32 one.
const STEP: usize = 32;

/// [`dot_rows`] with 256-bit vectors: four independent sums, and each weight line asked for
/// ahead ([`prefetch_line`]). Without the requests a decode read the weights at half the
/// memory's bandwidth, the loads waiting on memory (perf: 70 % of the loop's samples on them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_rows_avx2<W: FloatValue>(xs: &[f32], w: &[W], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = w.len();
    let whole = n - n % STEP;
    let step_bytes = STEP * std::mem::size_of::<W>();
    let wp = w.as_ptr();
    for (x, o) in xs.chunks_exact(n).zip(out.iter_mut()) {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i < whole {
            let line = wp.add(i).cast::<u8>();
            for offset in (0..step_bytes).step_by(64) {
                prefetch_line(line.wrapping_add(offset), PREFETCH_AHEAD);
            }
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: at + 8 <= whole <= n, the length of `w` and of `x`.
                let at = i + 8 * k;
                *a = _mm256_fmadd_ps(
                    _mm256_loadu_ps(x.as_ptr().add(at)),
                    W::load8(wp.add(at)),
                    *a,
                );
            }
            i += STEP;
        }
        let mut sum = sum_of_four(acc);
        for (wv, xv) in w[whole..].iter().zip(&x[whole..]) {
            sum += xv * wv.widen();
        }
        *o = sum;
    }
}

/// How far ahead of the line being multiplied [`dot_rows_avx2`] and the Q8_0 kernels ask for
/// weight lines into L1, as the Q4K kernels do (cpu_q4k.rs says why).
pub(crate) const PREFETCH_AHEAD: usize = 1024;

/// [`dot_rows`] in plain Rust: CPUs without AVX2, and the reference the vector loop is tested
/// against.
fn dot_rows_portable<W: FloatValue>(xs: &[f32], w: &[W], out: &mut [f32]) {
    const LANES: usize = 16;
    let n = w.len();
    for (x, o) in xs.chunks_exact(n).zip(out.iter_mut()) {
        // Independent partial sums, which the compiler keeps in vector registers.
        let mut acc = [0f32; LANES];
        let mut wc = w.chunks_exact(LANES);
        let mut xc = x.chunks_exact(LANES);
        for (wv, xv) in (&mut wc).zip(&mut xc) {
            for k in 0..LANES {
                acc[k] += xv[k] * wv[k].widen();
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for (wv, xv) in wc.remainder().iter().zip(xc.remainder()) {
            sum += xv * wv.widen();
        }
        *o = sum;
    }
}

/// Weight bytes times activation rows below which a product (or an attention's keys and values,
/// cpu_attention.rs) stays on the calling thread. Waking a sleeping pool thread cost 25-45 us a
/// call here, more than a small product takes (a 128x896 Q8_0 product, 122 KB: 14 us on one
/// thread, 44 us split over two), so this was 256 KiB; the model's work now runs with the pool's
/// other threads kept awake (lib.rs, `on_the_pool`), where handing over a part costs a
/// microsecond or two and a 64 KiB part of a weight takes about five to read.
pub(crate) const PARALLEL_FROM: usize = 64 << 10;

/// The weight bytes of one tile in a block product, read from memory for the first group of
/// activation rows and from L2 for the others (512 KiB on the EPYC, 2 MiB on the Xeon).
const TILE_BYTES: usize = 128 << 10;

/// The `(rows, outputs)` result of a product computed one output at a time: `product(o, out)`
/// fills `out` with output `o` for every activation row. Outputs are split across the rayon pool
/// candle also runs on, unless the product reads fewer than [`PARALLEL_FROM`] weight bytes per
/// row; each thread walks its weight rows in order.
pub(crate) fn per_output(
    rows: usize,
    outputs: usize,
    weight_bytes: usize,
    product: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    per_output_tile(rows, outputs, weight_bytes, 1, product)
}

/// [`per_output`] a tile of up to `tile` consecutive outputs at a time: `product(first, out)`
/// fills `out` with outputs `first..first + out.len() / rows`, each output's rows together.
pub(crate) fn per_output_tile(
    rows: usize,
    outputs: usize,
    weight_bytes: usize,
    tile: usize,
    product: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    if rows == 0 || outputs == 0 {
        return Vec::new();
    }
    let tile = tile.max(1);
    let mut by_output = vec![0f32; outputs * rows];
    let threads = if weight_bytes.saturating_mul(rows) < PARALLEL_FROM {
        1
    } else {
        candle_core::utils::get_num_threads().clamp(1, outputs)
    };
    let per_thread = outputs.div_ceil(threads);
    let fill = |(chunk_index, out_chunk): (usize, &mut [f32])| {
        let first = chunk_index * per_thread;
        for (i, out) in out_chunk.chunks_mut(tile * rows).enumerate() {
            product(first + i * tile, out);
        }
    };
    if threads == 1 {
        // Even one task handed to the pool waits for a worker to wake.
        fill((0, &mut by_output));
    } else {
        by_output
            .par_chunks_mut(per_thread * rows)
            .enumerate()
            .for_each(fill);
    }
    if rows == 1 {
        return by_output;
    }
    let mut result = vec![0f32; rows * outputs];
    for o in 0..outputs {
        for r in 0..rows {
            result[r * outputs + o] = by_output[o * rows + r];
        }
    }
    result
}

/// How far ahead of the block being multiplied the block kernels (cpu_q8.rs, cpu_q4k.rs) ask
/// for a weight's lines into the core's second-level cache, besides asking for the lines
/// `near` bytes ahead into the first. On a 2-core Xeon (docs/performance.md), streaming 16
/// weights of 18944x3584 from memory for one activation row with the read bandwidth at 26-27
/// GB/s, medians of 15 passes: Q4K 14.9-17.8 GB/s with the L1 requests alone, 18.2-19.0 with
/// these as well (the AVX2 loop 14.2-17.6 and 20.7-23.1); Q8_0 16.9-19.2 and 23.3-24.6 (4-32 KiB
/// ahead measured alike). A 7B's decode, q4k: 3.8-4.0 and 4.8-5.0 tokens/s; q8_0 2.0-2.5 and
/// 2.5-3.0. An L1 request holds one of the core's few line-fill buffers until its line
/// arrives; an L2 request does not, so more lines are on their way at once.
const PREFETCH_L2_AHEAD: usize = 8 << 10;

/// Asks for the three cache lines from `near` bytes past `block` into L1 and for the three
/// from [`PREFETCH_L2_AHEAD`] bytes past it into L2. A prefetch never faults, so addresses past
/// the weight's end are harmless.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_ahead(block: *const u8, near: usize) {
    for line in [0, 64, 128] {
        prefetch_line(block.wrapping_add(line), near);
    }
}

/// [`prefetch_ahead`] for the one cache line `near` bytes past `line`, and the one
/// [`PREFETCH_L2_AHEAD`] bytes past it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_line(line: *const u8, near: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0, _MM_HINT_T1};
    // SAFETY: prefetching reads nothing and never faults, whatever the address.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(near).cast::<i8>());
        _mm_prefetch::<_MM_HINT_T1>(line.wrapping_add(PREFETCH_L2_AHEAD).cast::<i8>());
    }
}

/// The vector instructions the block kernels (cpu_q8.rs, cpu_q4k.rs) may use on the running CPU;
/// each level includes the ones before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum VectorLevel {
    Portable,
    /// AVX2 with FMA and F16C (x86-64 from 2013 on).
    Avx2,
    /// AVX-512 (foundation and byte/word) with VNNI: Ice Lake, Zen 4 and later.
    Avx512Vnni,
}

impl VectorLevel {
    /// The running CPU's level, detected once, lowered to `ONEVISION_VECTOR_LEVEL` where that
    /// names a lower one (`portable`, `avx2`): to run and time the paths an older CPU takes on a
    /// newer one (docs/performance.md compares llama.cpp on AVX2 this way).
    pub(crate) fn detected() -> VectorLevel {
        static LEVEL: std::sync::OnceLock<VectorLevel> = std::sync::OnceLock::new();
        *LEVEL.get_or_init(|| {
            let level = VectorLevel::of_this_cpu();
            let Ok(cap) = std::env::var("ONEVISION_VECTOR_LEVEL") else {
                return level;
            };
            match VectorLevel::named(&cap) {
                Some(cap) => level.min(cap),
                None => {
                    tracing::warn!(
                        value = cap,
                        "ONEVISION_VECTOR_LEVEL is not portable, avx2 or avx512; ignored"
                    );
                    level
                }
            }
        })
    }

    fn of_this_cpu() -> VectorLevel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") && has!("f16c") {
                if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                    return VectorLevel::Avx512Vnni;
                }
                return VectorLevel::Avx2;
            }
        }
        VectorLevel::Portable
    }

    /// The level `name` stands for in `ONEVISION_VECTOR_LEVEL`.
    fn named(name: &str) -> Option<VectorLevel> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" => Some(VectorLevel::Portable),
            "avx2" => Some(VectorLevel::Avx2),
            "avx512" => Some(VectorLevel::Avx512Vnni),
            _ => None,
        }
    }

    /// Every level the running CPU has, the portable one first: what the kernels' tests compare.
    #[cfg(test)]
    pub(crate) fn available() -> impl Iterator<Item = VectorLevel> {
        [
            VectorLevel::Portable,
            VectorLevel::Avx2,
            VectorLevel::Avx512Vnni,
        ]
        .into_iter()
        .filter(|level| *level <= VectorLevel::detected())
    }
}

/// How the block kernels (cpu_q8.rs, cpu_q4k.rs) read one packed format: the inputs and bytes of
/// a block, how an activation row is prepared once per product, and the dot product of one
/// packed weight row with a prepared row.
pub(crate) struct BlockFormat<A> {
    pub(crate) dtype: GgmlDType,
    pub(crate) block_inputs: usize,
    pub(crate) block_bytes: usize,
    /// Activation rows prepared and multiplied per pass over the weight: enough to keep the
    /// cores busy on each weight row while it is in cache, few enough that the prepared rows
    /// stay in the core's own cache.
    pub(crate) chunk_rows: usize,
    /// Activation rows that meet a tile of weight rows together: what the format's widest
    /// several-row kernel takes at once.
    pub(crate) group_rows: usize,
    pub(crate) prepare: fn(&[f32]) -> A,
    /// How a product runs through the weight rows.
    pub(crate) kernel: BlockKernel<A>,
}

/// How [`blocks_times_weight`] meets weight rows with prepared activation rows.
pub(crate) enum BlockKernel<A> {
    /// One packed weight row with several prepared rows, into the slice (as long as the rows):
    /// the row's blocks unpacked once for all of them (Q4K).
    SeveralActivationRows(DotRows<A>),
    /// Consecutive packed weight rows (the bytes of one given) with one prepared row, into the
    /// slice (one value a weight row), read as one stream (Q8_0, whose rows unpack in a few
    /// instructions).
    SeveralWeightRows(DotWeightRows<A>),
}

/// See [`BlockKernel::SeveralActivationRows`].
pub(crate) type DotRows<A> = fn(&[u8], &[A], &mut [f32]);

/// See [`BlockKernel::SeveralWeightRows`].
pub(crate) type DotWeightRows<A> = fn(&[u8], usize, &A, &mut [f32]);

impl<A: Sync> BlockFormat<A> {
    /// Whether [`blocks_times_weight`] serves `x @ packed^T` in this format.
    pub(crate) fn applies(&self, x: &Tensor, packed: &QTensor) -> bool {
        packed.dtype() == self.dtype
            && x.device().is_cpu()
            && x.dtype() == DType::F32
            && x.rank() == 2
            && packed.shape().dims().len() == 2
    }
}

/// `x (rows, inputs) @ packed (outputs, inputs)^T`, `packed` in `format`, `x` in f32 on the CPU:
/// each activation row prepared once, each weight row read once per `format.chunk_rows` rows,
/// output rows over the pool.
pub(crate) fn blocks_times_weight<A: Sync>(
    x: &Tensor,
    packed: &QTensor,
    format: &BlockFormat<A>,
) -> candle_core::Result<Tensor> {
    let name = format.dtype;
    let (rows, inputs) = x.dims2()?;
    let (outputs, w_inputs) = packed.shape().dims2()?;
    if inputs != w_inputs || inputs % format.block_inputs != 0 {
        candle_core::bail!("{name:?} product: {inputs} inputs against a weight of {w_inputs}");
    }
    let data = packed.data()?;
    let row_bytes = inputs / format.block_inputs * format.block_bytes;
    if data.len() != outputs * row_bytes {
        candle_core::bail!(
            "{name:?} product: {} bytes for a {outputs}x{inputs} weight",
            data.len()
        );
    }
    if row_bytes == 0 {
        // No inputs: every output is an empty sum (and a tile of zero-byte rows has no size).
        return Tensor::zeros((rows, outputs), DType::F32, x.device());
    }
    let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let mut result = Vec::with_capacity(rows * outputs);
    for chunk in xs.chunks(format.chunk_rows.max(1) * inputs) {
        let prepared: Vec<A> = chunk.chunks_exact(inputs).map(format.prepare).collect();
        let n = prepared.len();
        let weights =
            |first: usize, count: usize| &data[first * row_bytes..(first + count) * row_bytes];
        let tile = (TILE_BYTES / row_bytes).max(1);
        result.extend(match format.kernel {
            // A tile of weight rows small enough to stay in L2 meets one group of activation
            // rows at a time, which stays in L1: each weight row is unpacked once per group
            // either way, and the activations are no longer fetched from L2 for every weight
            // row.
            BlockKernel::SeveralActivationRows(dot_rows) => {
                per_output_tile(n, outputs, data.len(), tile, |first, out| {
                    let count = out.len() / n;
                    let group = format.group_rows.max(1);
                    for g in (0..n).step_by(group) {
                        let end = (g + group).min(n);
                        for i in 0..count {
                            dot_rows(
                                weights(first + i, 1),
                                &prepared[g..end],
                                &mut out[i * n + g..i * n + end],
                            );
                        }
                    }
                })
            }
            BlockKernel::SeveralWeightRows(dot_weight_rows) => {
                per_output_tile(n, outputs, data.len(), tile, |first, out| {
                    let count = out.len() / n;
                    let tile_rows = weights(first, count);
                    if n == 1 {
                        return dot_weight_rows(tile_rows, row_bytes, &prepared[0], out);
                    }
                    let mut one_row = vec![0f32; count];
                    for (r, a) in prepared.iter().enumerate() {
                        dot_weight_rows(tile_rows, row_bytes, a, &mut one_row);
                        for (i, v) in one_row.iter().enumerate() {
                            out[i * n + r] = *v;
                        }
                    }
                })
            }
        });
    }
    Tensor::from_vec(result, (rows, outputs), x.device())
}

/// The largest |a - b| of two f32 tensors: how far a kernel's product is from the exact one.
#[cfg(test)]
pub(crate) fn max_abs_difference(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .expect("two f32 tensors of one shape")
}

/// Checks a block kernel on random (rows, inputs, outputs) products: within the bound that
/// rounding the activations to 8 bits allows (about 1/254 of each block's largest value per
/// product, summed over `inputs` random products), no worse than candle's own kernel, which
/// also rounds the activations, and its `portable` loop (what a CPU without AVX2 runs) agrees
/// with the product's first output of the first row.
#[cfg(test)]
pub(crate) fn check_block_kernel<A: Sync>(
    format: &BlockFormat<A>,
    shapes: &[(usize, usize, usize)],
    portable: fn(&[u8], &A) -> f32,
) {
    use candle_core::{Device, Module};
    let dev = Device::Cpu;
    let mut rng = crate::test_data::seeded(20261204);
    for &(rows, inputs, outputs) in shapes {
        let w = crate::test_data::gaussian(&mut rng, &[outputs, inputs]);
        let packed = QTensor::quantize(&w, format.dtype).unwrap();
        let x = crate::test_data::gaussian(&mut rng, &[rows, inputs]);
        assert!(format.applies(&x, &packed));
        let exact = x
            .matmul(&packed.dequantize(&dev).unwrap().t().unwrap())
            .unwrap();
        let got = blocks_times_weight(&x, &packed, format).unwrap();
        let data = packed.data().unwrap().into_owned();
        let candle = candle_core::quantized::QMatMul::from_qtensor(packed)
            .unwrap()
            .forward(&x)
            .unwrap();
        let bound = 0.02 * (inputs as f32).sqrt();
        let (ours, theirs) = (
            max_abs_difference(&got, &exact),
            max_abs_difference(&candle, &exact),
        );
        assert!(ours < bound, "{rows}x{inputs}x{outputs}: {ours} >= {bound}");
        // Against candle's own error, with slack of half the bound: with one output, candle's
        // error can be near zero by luck (0.0075 against our 0.128 once, at 512 inputs).
        assert!(
            ours <= theirs * 1.5 + bound * 0.5,
            "{rows}x{inputs}x{outputs}: ours {ours} candle {theirs}"
        );
        let first: Vec<f32> = x
            .narrow(0, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let a = (format.prepare)(&first);
        let row = &data[..inputs / format.block_inputs * format.block_bytes];
        let (vector, scalar) = (
            got.get(0).unwrap().to_vec1::<f32>().unwrap()[0],
            portable(row, &a),
        );
        assert!(
            (vector - scalar).abs() < 1e-3 * (inputs as f32).sqrt(),
            "{vector} vs {scalar}"
        );
    }
}

/// Checks that every vector level the running CPU has gives `portable`'s dot products, within
/// f32 rounding, on three random weight rows packed as `dtype` for each input width.
#[cfg(test)]
pub(crate) fn check_every_level<A>(
    dtype: GgmlDType,
    widths: &[usize],
    prepare: fn(&[f32]) -> A,
    portable: fn(&[u8], &A) -> f32,
    // Safety: `dot_with(level, ..)` may be called for any level the running CPU has.
    dot_with: unsafe fn(VectorLevel, &[u8], &A) -> f32,
) {
    let mut rng = crate::test_data::seeded(8);
    for &inputs in widths {
        let w = crate::test_data::gaussian(&mut rng, &[3, inputs]);
        let packed = QTensor::quantize(&w, dtype).unwrap();
        let data = packed.data().unwrap();
        let x: Vec<f32> = crate::test_data::gaussian(&mut rng, &[inputs])
            .to_vec1()
            .unwrap();
        let a = prepare(&x);
        for row in data.chunks_exact(data.len() / 3) {
            let expected = portable(row, &a);
            for level in VectorLevel::available() {
                // SAFETY: `available` lists only what the running CPU has.
                let got = unsafe { dot_with(level, row, &a) };
                assert!(
                    (got - expected).abs() <= 1e-4 * expected.abs().max(1.0),
                    "{dtype:?} {level:?} at {inputs} inputs: {got} vs {expected}"
                );
            }
        }
    }
}

/// Every weight row of `w` against every activation row of `x`, as `(rows, outputs)`.
fn product<W: FloatValue>(
    x: &[f32],
    w: &[W],
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Vec<f32> {
    per_output(rows, outputs, std::mem::size_of_val(w), |o, out| {
        dot_rows(x, &w[o * inputs..(o + 1) * inputs], out)
    })
}

impl CustomOp2 for RowsTimesWeight {
    fn name(&self) -> &'static str {
        "rows-times-weight"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, inputs) = xl.shape().dims2()?;
        let (outputs, w_inputs) = wl.shape().dims2()?;
        if inputs != w_inputs {
            candle_core::bail!("rows product: {inputs} inputs against a weight of {w_inputs}");
        }
        let (Some((xa, xb)), Some((wa, wb))) = (xl.contiguous_offsets(), wl.contiguous_offsets())
        else {
            candle_core::bail!("rows product needs contiguous operands");
        };
        let x: Vec<f32> = match xs {
            CpuStorage::BF16(v) => v[xa..xb].iter().map(|&v| v.widen()).collect(),
            CpuStorage::F16(v) => v[xa..xb].iter().map(|&v| v.widen()).collect(),
            CpuStorage::F32(v) => v[xa..xb].to_vec(),
            _ => candle_core::bail!("rows product needs bf16, f16 or f32 activations"),
        };
        let result = match ws {
            CpuStorage::BF16(w) => product(&x, &w[wa..wb], rows, inputs, outputs),
            CpuStorage::F16(w) => product(&x, &w[wa..wb], rows, inputs, outputs),
            CpuStorage::F32(w) => product(&x, &w[wa..wb], rows, inputs, outputs),
            _ => candle_core::bail!("rows product needs a bf16, f16 or f32 weight"),
        };
        let shape = Shape::from((rows, outputs));
        Ok(match xs {
            CpuStorage::BF16(_) => (
                CpuStorage::BF16(result.into_iter().map(bf16::from_f32).collect()),
                shape,
            ),
            CpuStorage::F16(_) => (
                CpuStorage::F16(result.into_iter().map(f16::from_f32).collect()),
                shape,
            ),
            _ => (CpuStorage::F32(result), shape),
        })
    }
}

/// `w` in `dtype`. A bf16 or f16 weight is widened to f32 on the CPU in pieces split over the
/// pool, where candle widens on one thread: what a bf16 model's prompt and vision tower pay per
/// product (about a third of a mid-size bf16 prefill went to widening and narrowing when it
/// computed in bf16).
pub(crate) fn widened(w: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    if w.device().is_cpu() && dtype == DType::F32 && matches!(w.dtype(), DType::BF16 | DType::F16) {
        w.contiguous()?.apply_op1_no_bwd(&WidenInParallel)
    } else {
        w.to_dtype(dtype)
    }
}

/// See [`widened`].
struct WidenInParallel;

/// Values a task of [`WidenInParallel`] widens.
const WIDEN_TASK_VALUES: usize = 1 << 16;

impl candle_core::CustomOp1 for WidenInParallel {
    fn name(&self) -> &'static str {
        "widen-in-parallel"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        use half::slice::HalfFloatSliceExt;
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("widening needs a contiguous tensor");
        };
        let mut out = vec![0f32; b - a];
        let pieces = out.par_chunks_mut(WIDEN_TASK_VALUES);
        match s {
            CpuStorage::BF16(v) => pieces
                .zip(v[a..b].par_chunks(WIDEN_TASK_VALUES))
                .for_each(|(o, v)| v.convert_to_f32_slice(o)),
            CpuStorage::F16(v) => pieces
                .zip(v[a..b].par_chunks(WIDEN_TASK_VALUES))
                .for_each(|(o, v)| v.convert_to_f32_slice(o)),
            other => candle_core::bail!("widening a {:?} tensor", other.dtype()),
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// Whether [`rows_times_weight`] serves this product.
pub(crate) fn applies(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu()
        && matches!(w.dtype(), DType::BF16 | DType::F16 | DType::F32)
        && matches!(x.dtype(), DType::BF16 | DType::F16 | DType::F32)
        && x.rank() == 2
        && x.dim(0).is_ok_and(|rows| rows <= MAX_ROWS)
}

/// `x (rows, inputs) @ w (outputs, inputs)^T`, `w` in bf16, f16 or f32 on the CPU.
pub(crate) fn rows_times_weight(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2_no_bwd(&w.contiguous()?, &RowsTimesWeight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_vector_level_is_named_as_the_environment_gives_it() {
        assert_eq!(VectorLevel::named("avx2"), Some(VectorLevel::Avx2));
        assert_eq!(
            VectorLevel::named(" Portable "),
            Some(VectorLevel::Portable)
        );
        assert_eq!(VectorLevel::named("AVX512"), Some(VectorLevel::Avx512Vnni));
        assert_eq!(VectorLevel::named("sse4"), None);
        // The setting only lowers: what the CPU lacks stays off.
        assert!(VectorLevel::detected() <= VectorLevel::of_this_cpu());
    }

    /// Tiles of weight rows met by groups of activation rows give every output exactly what one
    /// pass of all the rows over each weight row gives: a pass of 64 rows and 6 left over, groups
    /// of 4 with 2 left over, and on one thread or two, two whole tiles or more and a short one.
    #[test]
    fn tiled_products_equal_whole_rows_at_a_time() {
        let format = &crate::cpu_q4k::FORMAT;
        let BlockKernel::SeveralActivationRows(dot_rows) = format.kernel else {
            panic!("Q4K meets several activation rows at once");
        };
        let mut rng = crate::test_data::seeded(11);
        let (rows, inputs) = (70, 512);
        let row_bytes = inputs / format.block_inputs * format.block_bytes;
        let outputs = 2 * (TILE_BYTES / row_bytes) + 7;
        let w = crate::test_data::gaussian(&mut rng, &[outputs, inputs]);
        let packed = QTensor::quantize(&w, format.dtype).unwrap();
        let x = crate::test_data::gaussian(&mut rng, &[rows, inputs]);
        let got: Vec<Vec<f32>> = blocks_times_weight(&x, &packed, format)
            .unwrap()
            .to_vec2()
            .unwrap();
        let data = packed.data().unwrap();
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for (pass, chunk) in xs.chunks(format.chunk_rows * inputs).enumerate() {
            let prepared: Vec<_> = chunk.chunks_exact(inputs).map(format.prepare).collect();
            let mut out = vec![0f32; prepared.len()];
            for o in 0..outputs {
                dot_rows(&data[o * row_bytes..][..row_bytes], &prepared, &mut out);
                for (r, want) in out.iter().enumerate() {
                    assert_eq!(
                        got[pass * format.chunk_rows + r][o],
                        *want,
                        "row {r}, output {o}"
                    );
                }
            }
        }
    }

    #[test]
    fn widening_in_parallel_equals_candles() {
        let mut rng = crate::test_data::seeded(8);
        // Several tasks' worth and a short last one, from a view that starts past the storage's
        // beginning.
        let w = crate::test_data::gaussian(&mut rng, &[3, WIDEN_TASK_VALUES + 77]);
        for dtype in [DType::BF16, DType::F16] {
            let narrow = w.to_dtype(dtype).unwrap().narrow(0, 1, 2).unwrap();
            let got = widened(&narrow, DType::F32).unwrap();
            let want = narrow.to_dtype(DType::F32).unwrap();
            assert_eq!(got.dims(), want.dims());
            assert_eq!(max_abs_difference(&got, &want), 0.0, "{dtype:?}");
        }
        // Anything else is candle's conversion.
        assert_eq!(widened(&w, DType::BF16).unwrap().dtype(), DType::BF16);
    }

    #[test]
    fn equals_widened_matmul() {
        let dev = Device::Cpu;
        let mut rng = crate::test_data::seeded(7);
        for weight_dtype in [DType::BF16, DType::F16, DType::F32] {
            for (rows, inputs, outputs) in [
                (1, 896, 130),
                (3, 37, 9),
                (8, 64, 1),
                (2, 40, 3),
                (1, 200, 17),
            ] {
                let w = crate::test_data::gaussian(&mut rng, &[outputs, inputs])
                    .to_dtype(weight_dtype)
                    .unwrap();
                let x = crate::test_data::gaussian(&mut rng, &[rows, inputs]);
                assert!(applies(&x, &w));
                let want = x
                    .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
                    .unwrap();
                let got = rows_times_weight(&x, &w).unwrap();
                let d = max_abs_difference(&got, &want);
                // Same products, summed in another order: f32 rounding only.
                assert!(d < 1e-3, "{weight_dtype:?} {rows}x{inputs}x{outputs}: {d}");
                // Half-width activations give results of their width.
                for half in [DType::BF16, DType::F16] {
                    let xh = x.to_dtype(half).unwrap();
                    assert_eq!(rows_times_weight(&xh, &w).unwrap().dtype(), half);
                }
                // The portable loop (what a CPU without AVX2 runs) agrees as well.
                let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let mut portable = vec![0f32; rows];
                if weight_dtype == DType::BF16 {
                    let ws = w.flatten_all().unwrap().to_vec1::<bf16>().unwrap();
                    dot_rows_portable::<bf16>(&xs, &ws[..inputs], &mut portable);
                } else if weight_dtype == DType::F16 {
                    let ws = w.flatten_all().unwrap().to_vec1::<f16>().unwrap();
                    dot_rows_portable::<f16>(&xs, &ws[..inputs], &mut portable);
                } else {
                    let ws = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    dot_rows_portable::<f32>(&xs, &ws[..inputs], &mut portable);
                }
                let first_output: Vec<f32> = want
                    .narrow(1, 0, 1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                for (p, q) in portable.iter().zip(&first_output) {
                    assert!((p - q).abs() < 1e-3, "portable {p} vs {q}");
                }
            }
        }
        // Many rows, or another dtype, go to candle's matmul.
        let w = Tensor::zeros((4, 16), DType::F32, &dev).unwrap();
        assert!(!applies(
            &Tensor::zeros((MAX_ROWS + 1, 16), DType::F32, &dev).unwrap(),
            &w
        ));
        let w64 = Tensor::zeros((4, 16), DType::F64, &dev).unwrap();
        assert!(!applies(
            &Tensor::zeros((1, 16), DType::F64, &dev).unwrap(),
            &w64
        ));
    }
}
