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
    let x = x.contiguous()?;
    let (rows, columns) = x.dims2()?;
    if columns != inputs {
        candle_core::bail!("unpacked product: {columns} inputs against a weight of {inputs}");
    }
    if rows == 0 || outputs == 0 {
        return Tensor::zeros((rows, outputs), candle_core::DType::F32, &Device::Cpu);
    }
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(candle_core::CpuStorage::F32(x_values)) = &*storage else {
        candle_core::bail!("unpacked product: f32 activations on the CPU expected");
    };
    let x_values = &x_values[layout.start_offset()..][..rows * inputs];
    // Slices of equal size, so none is a sliver that the product handles poorly.
    let slices = (outputs * inputs).div_ceil(SLICE_VALUES).max(1);
    let slice_rows = outputs.div_ceil(slices).max(1);
    let mut out = vec![0f32; rows * outputs];
    for first in (0..outputs).step_by(slice_rows) {
        let n = slice_rows.min(outputs - first);
        let bytes = &data[first * row_bytes..(first + n) * row_bytes];
        let w = match block {
            GgmlDType::Q8_0 => unpack::<BlockQ8_0>(bytes, inputs)?,
            _ => unpack::<BlockQ4K>(bytes, inputs)?,
        };
        // out[:, first..first + n] = x w^T, written in place: no slice is copied into the
        // result afterwards.
        // SAFETY: `x_values` holds rows x inputs values, `w` n x inputs, and the destination
        // starts at column `first` of a rows x outputs matrix, with n columns left in each row.
        unsafe {
            gemm::gemm(
                rows,
                n,
                inputs,
                out.as_mut_ptr().add(first),
                1,
                outputs as isize,
                false,
                x_values.as_ptr(),
                1,
                inputs as isize,
                w.as_ptr(),
                inputs as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
    }
    drop(storage);
    Tensor::from_vec(out, (rows, outputs), &Device::Cpu)
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
