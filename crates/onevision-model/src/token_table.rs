//! The token embedding table, which is looked up a few rows at a time.
//!
//! A quantised model keeps the table in Q8_0 blocks on the CPU: a 7B's table is 1.09 GB in bf16
//! and 0.58 GB in Q8_0, and where the output projection shares the table (tied embeddings) it is
//! the very same packed tensor the logits are computed from, so the table is held once. An
//! untied table read back from the packed-weights file stays in that file: a prompt looks up a
//! few thousand of its 152k rows, so holding it all in memory would only raise the peak.

use std::sync::Arc;

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Embedding;

use crate::error::{Error, Result};
use crate::packed::RowsOnDisk;

pub(crate) enum TokenTable {
    /// As the checkpoint stores it, or in the compute dtype when a dense output projection
    /// shares it.
    Dense(Embedding),
    /// Whole blocks per row (the width is a multiple of the block size), in host memory.
    Packed(Arc<QTensor>),
    /// Whole blocks per row, read from the packed-weights file as they are asked for.
    OnDisk(RowsOnDisk),
}

impl TokenTable {
    /// The rows of `ids`, (len, width), in `dtype`.
    pub(crate) fn rows(&self, ids: &[u32], dtype: DType, device: &Device) -> Result<Tensor> {
        match self {
            TokenTable::Dense(embed) => {
                let ids = Tensor::from_slice(ids, ids.len(), device)?;
                Ok(embed.forward(&ids)?.to_dtype(dtype)?)
            }
            TokenTable::Packed(table) => {
                let (vocab, width) = table.shape().dims2()?;
                let block = table.dtype();
                let row_bytes = width / block.block_size() * block.type_size();
                let data = table.data()?;
                let picked = pick_rows(ids, vocab, row_bytes, |row, out| {
                    out.extend_from_slice(&data[row * row_bytes..(row + 1) * row_bytes]);
                    Ok(())
                })?;
                dequantize_rows(&picked, ids.len(), width, block, dtype, device)
            }
            TokenTable::OnDisk(table) => {
                let (vocab, width) = table.shape();
                let picked = pick_rows(ids, vocab, table.row_bytes(), |row, out| {
                    table.read_row(row, out).map_err(|e| Error::Weights {
                        path: table.path().to_path_buf(),
                        reason: format!("cannot read row {row} of the packed token table: {e}"),
                    })
                })?;
                dequantize_rows(&picked, ids.len(), width, table.block(), dtype, device)
            }
        }
    }
}

/// The blocks of the rows `ids` of a table of `vocab` rows, one after another.
fn pick_rows(
    ids: &[u32],
    vocab: usize,
    row_bytes: usize,
    mut read_row: impl FnMut(usize, &mut Vec<u8>) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut picked = Vec::with_capacity(ids.len() * row_bytes);
    for &id in ids {
        let row = id as usize;
        if row >= vocab {
            return Err(Error::Input(format!(
                "token id {id} is outside the vocabulary of {vocab} tokens"
            )));
        }
        read_row(row, &mut picked)?;
    }
    Ok(picked)
}

fn dequantize_rows(
    picked: &[u8],
    rows: usize,
    width: usize,
    block: GgmlDType,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    if rows == 0 {
        return Ok(Tensor::zeros((0, width), dtype, device)?);
    }
    let picked = qtensor_from_ggml(block, picked, vec![rows, width], device)?;
    Ok(picked.dequantize(device)?.to_dtype(dtype)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;

    fn table() -> Tensor {
        let values: Vec<f32> = (0..5 * 64)
            .map(|i| ((i * 37) % 101) as f32 / 7.0 - 7.0)
            .collect();
        Tensor::from_vec(values, (5, 64), &Device::Cpu).unwrap()
    }

    #[test]
    fn packed_rows_are_the_dequantised_tables_rows() {
        let dense = table();
        let packed = Arc::new(QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap());
        let whole = packed.dequantize(&Device::Cpu).unwrap();
        let ids = [3u32, 0, 3, 4];
        let got = TokenTable::Packed(packed)
            .rows(&ids, DType::F32, &Device::Cpu)
            .unwrap();
        let want = whole
            .index_select(&Tensor::new(&ids, &Device::Cpu).unwrap(), 0)
            .unwrap();
        assert_eq!(
            got.to_vec2::<f32>().unwrap(),
            want.to_vec2::<f32>().unwrap()
        );
        // Q8_0 keeps each value within half a step of its block's scale (max |x| / 127).
        let exact = dense
            .index_select(&Tensor::new(&ids, &Device::Cpu).unwrap(), 0)
            .unwrap();
        let err = crate::cpu_rows::max_abs_difference(&got, &exact);
        assert!(err > 0.0 && err <= 7.5 / 127.0 / 2.0 + 1e-3, "{err}");
    }

    #[test]
    fn a_token_outside_the_vocabulary_is_refused_by_name() {
        let packed = Arc::new(QTensor::quantize(&table(), GgmlDType::Q8_0).unwrap());
        let err = TokenTable::Packed(packed)
            .rows(&[1, 5], DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("token id 5") && err.contains("5 tokens"),
            "{err}"
        );
        let empty = TokenTable::Packed(Arc::new(
            QTensor::quantize(&table(), GgmlDType::Q8_0).unwrap(),
        ))
        .rows(&[], DType::F32, &Device::Cpu)
        .unwrap();
        assert_eq!(empty.dims(), [0, 64]);
    }
}
