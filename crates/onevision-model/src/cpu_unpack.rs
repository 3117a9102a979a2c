//! Prompt-sized products of many activation rows with a packed weight on the CPU: the weight is
//! unpacked to f32 a slice of output rows at a time, on every core, and each slice goes through
//! candle's matrix product. Past a hundred or so rows that beats the block kernels (which redo
//! their integer dot products row by row), and unpacking in slices keeps the f32 copy small: a
//! 7B's largest projection is 271 MB in f32, which would otherwise sit on top of the model.

use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

/// Weight values unpacked at once (16 MB of f32).
const SLICE_VALUES: usize = 1 << 22;

/// Activation rows from which a product in a format without block kernels (or off the CPU) is
/// faster as one matrix product over the unpacked weight.
pub(crate) const UNPACK_FROM_ROWS: usize = 16;

/// Activation rows from which [`unpacked_product`] beats the block kernels, per format and the
/// CPU's vector level (measured on a 3584x18944 product: docs/performance.md). The Q4K kernels
/// take four rows per unpacking of the weight with AVX2 as with VNNI, and stayed ahead up to the
/// most rows measured (VNNI, 512 rows: 474 ms against 625; AVX2 on a 2-core EPYC, 1024 rows:
/// 1232 ms against 1293), so prompts never unpack Q4K where the CPU has AVX2.
pub(crate) fn worth_unpacking(block: GgmlDType, rows: usize) -> bool {
    match block {
        GgmlDType::Q8_0 => rows > 96,
        GgmlDType::Q4K => {
            crate::cpu_rows::VectorLevel::detected() < crate::cpu_rows::VectorLevel::Avx2
                && rows > 192
        }
        _ => rows >= UNPACK_FROM_ROWS,
    }
}

/// `x (rows, inputs) @ packed (outputs, inputs)^T` for f32 `x` on the CPU.
pub(crate) fn unpacked_product(x: &Tensor, packed: &QTensor) -> candle_core::Result<Tensor> {
    let (outputs, inputs) = packed.shape().dims2()?;
    let block = packed.dtype();
    if !matches!(block, GgmlDType::Q8_0 | GgmlDType::Q4K) || inputs % block.block_size() != 0 {
        // Formats the loader does not produce: candle's own unpacking.
        return x.broadcast_matmul(&packed.dequantize(&Device::Cpu)?.t()?);
    }
    let data = packed.data()?;
    let row_bytes = inputs / block.block_size() * block.type_size();
    let slice_rows = (SLICE_VALUES / inputs).clamp(1, outputs.max(1));
    let mut parts = Vec::with_capacity(outputs.div_ceil(slice_rows));
    for first in (0..outputs).step_by(slice_rows) {
        let n = slice_rows.min(outputs - first);
        let bytes = &data[first * row_bytes..(first + n) * row_bytes];
        let values = match block {
            GgmlDType::Q8_0 => unpack::<BlockQ8_0>(bytes, inputs)?,
            _ => unpack::<BlockQ4K>(bytes, inputs)?,
        };
        let w = Tensor::from_vec(values, (n, inputs), &Device::Cpu)?;
        parts.push(x.matmul(&w.t()?)?);
    }
    Tensor::cat(&parts, 1)
}

/// Whole rows of `B` blocks to f32, rows spread over the rayon pool.
fn unpack<B: GgmlType + Sync>(bytes: &[u8], inputs: usize) -> candle_core::Result<Vec<f32>> {
    // SAFETY: ggml blocks are plain bytes of which any pattern is valid; `align_to` only yields
    // the middle part where the address suits `B`, and the checks below refuse anything else.
    let (head, blocks, tail) = unsafe { bytes.align_to::<B>() };
    if !head.is_empty() || !tail.is_empty() || std::mem::size_of::<B>() != B::DTYPE.type_size() {
        candle_core::bail!("{:?} weight bytes are not whole, aligned blocks", B::DTYPE);
    }
    let blocks_per_row = inputs / B::BLCK_SIZE;
    let mut values = vec![0f32; blocks.len() * B::BLCK_SIZE];
    values
        .par_chunks_mut(inputs)
        .zip(blocks.par_chunks(blocks_per_row))
        .for_each(|(out, row)| B::to_float(row, out));
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{gaussian, seeded};

    #[test]
    fn equals_candles_unpacked_product() {
        let mut rng = seeded(11);
        // 300 outputs of 512 inputs: with 16 MB slices one slice; 20000 inputs: several.
        for (block, rows, inputs, outputs) in [
            (GgmlDType::Q8_0, 97, 512, 300),
            (GgmlDType::Q4K, 5, 512, 300),
            (GgmlDType::Q4K, 3, 20_480, 700),
        ] {
            let w = gaussian(&mut rng, &[outputs, inputs]);
            let packed = QTensor::quantize(&w, block).unwrap();
            let x = gaussian(&mut rng, &[rows, inputs]);
            let want = x
                .matmul(&packed.dequantize(&Device::Cpu).unwrap().t().unwrap())
                .unwrap();
            let got = unpacked_product(&x, &packed).unwrap();
            assert_eq!(got.dims(), want.dims());
            let d = crate::cpu_rows::max_abs_difference(&got, &want);
            // The same f32 products; only the summation order may differ.
            assert!(d < 1e-3, "{block:?} {rows}x{inputs}x{outputs}: {d}");
        }
        assert!(worth_unpacking(GgmlDType::Q8_0, 97) && !worth_unpacking(GgmlDType::Q8_0, 96));
        let q4k_unpacks =
            worth_unpacking(GgmlDType::Q4K, 193) && !worth_unpacking(GgmlDType::Q4K, 192);
        let four_row_kernel =
            crate::cpu_rows::VectorLevel::detected() >= crate::cpu_rows::VectorLevel::Avx2;
        assert_eq!(q4k_unpacks, !four_row_kernel);
        assert_eq!(worth_unpacking(GgmlDType::Q4K, 100_000), !four_row_kernel);
    }
}
