//! In-situ quantisation of the linear layers at load time.
//!
//! Each decoder projection is packed from the checkpoint's stored values into ggml blocks (Q8_0:
//! 32 inputs per block; Q4K: 256) so decoding, which is bound by how many weight bytes it reads
//! per token, reads a quarter to an eighth of what f32 does. On the CPU the vision tower's linear
//! layers are packed in Q8_0 too, which halves what they hold (they run once per picture, so
//! memory, not time, is what they cost), and so is the embedding table (token_table.rs). Norms
//! stay as the checkpoint stores them.

use std::sync::Arc;

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Module, Tensor};
use candle_nn::{linear_b, Linear, VarBuilder};

use crate::cpu_q4k;
use crate::cpu_q8;
use crate::cpu_rows;
use crate::cpu_unpack;
use crate::error::Result;
use crate::packed::Packs;

pub use crate::quantization::Quantization;

/// A linear layer that is either dense or packed in quantised blocks.
pub(crate) enum Projection {
    Dense(Linear),
    /// Kept narrower than the activations (the checkpoint's dtype in the vision tower, the dtype
    /// asked for in a bf16 or f16 decoder on the CPU) and widened for each product of many rows,
    /// where the widening costs little beside the product and halves what the weights hold in
    /// memory; a few rows go through the row kernel, which widens in registers.
    Widened(Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

/// `other` when it is narrower than `preferred`, else `preferred`: how wide a weight is kept.
pub(crate) fn narrower(preferred: DType, other: DType) -> DType {
    if other.size_in_bytes() < preferred.size_in_bytes() {
        other
    } else {
        preferred
    }
}

/// The block format `quant` gives a weight with `inputs` columns: an input width that is not a
/// whole number of blocks takes the next finer format that fits (Q4K -> Q8_0 -> dense), so odd
/// checkpoints still load.
fn block_for(inputs: usize, quant: Quantization) -> Option<GgmlDType> {
    let wanted = quant.block_type()?;
    let chosen = [wanted, GgmlDType::Q8_0]
        .into_iter()
        .find(|t| inputs.is_multiple_of(t.block_size()));
    match chosen {
        None => tracing::debug!(
            inputs,
            "input width is not a whole number of blocks; kept dense"
        ),
        Some(block) if block != wanted => {
            tracing::debug!(inputs, ?wanted, ?block, "input width needs a finer block")
        }
        Some(_) => {}
    }
    chosen
}

/// Packs the (outputs, inputs) `weight`, in any float dtype, into `block` like
/// `QTensor::quantize` does, to the same bytes, but splits the rows over the rayon pool (candle
/// packs on one thread, which made the first quantised start of a 7B take minutes: Q4K's scale
/// search is the slow part) and widens only a few rows to f32 at a time, so a bf16 checkpoint's
/// weight is never held in f32 whole (a 7B's output projection is 2.2 GB so).
fn pack_rows_in_parallel(weight: &Tensor, block: GgmlDType) -> Result<QTensor> {
    pack_rows_in_tasks(weight, block, PACK_TASK_VALUES)
}

/// [`pack_rows_in_parallel`] with about `task_values` values widened per rayon task.
fn pack_rows_in_tasks(weight: &Tensor, block: GgmlDType, task_values: usize) -> Result<QTensor> {
    match block {
        GgmlDType::Q8_0 => pack_rows_as::<BlockQ8_0>(weight, task_values),
        GgmlDType::Q4K => pack_rows_as::<BlockQ4K>(weight, task_values),
        other => Ok(QTensor::quantize(&weight.to_dtype(DType::F32)?, other)?),
    }
}

/// Values widened to f32 at once per rayon task while packing.
const PACK_TASK_VALUES: usize = 1 << 20;

fn pack_rows_as<B: GgmlType + 'static>(weight: &Tensor, task_values: usize) -> Result<QTensor> {
    use rayon::prelude::*;
    let (outputs, inputs) = weight.dims2()?;
    if outputs == 0 || inputs == 0 || inputs % B::BLCK_SIZE != 0 {
        return Ok(QTensor::quantize(&weight.to_dtype(DType::F32)?, B::DTYPE)?);
    }
    let weight = weight.contiguous()?;
    let blocks_per_row = inputs / B::BLCK_SIZE;
    let rows_per_task = (task_values / inputs).max(1);
    let mut blocks = crate::block_memory::zeroed_blocks::<B>(outputs * blocks_per_row);
    blocks
        .par_chunks_mut(rows_per_task * blocks_per_row)
        .enumerate()
        .try_for_each(|(task, out)| -> candle_core::Result<()> {
            let rows = weight.narrow(0, task * rows_per_task, out.len() / blocks_per_row)?;
            let values = rows.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            B::from_float(&values, out);
            Ok(())
        })?;
    Ok(QTensor::new(
        QStorage::Cpu(Box::new(blocks)),
        (outputs, inputs),
    )?)
}

impl Projection {
    /// Packs `linear` as `quant` asks (see [`block_for`]).
    #[cfg(test)]
    pub(crate) fn new(linear: Linear, quant: Quantization) -> Result<Self> {
        let (_, inputs) = linear.weight().dims2()?;
        let Some(block) = block_for(inputs, quant) else {
            return Ok(Projection::Dense(linear));
        };
        let packed = pack_rows_in_parallel(linear.weight(), block)?;
        Ok(Projection::Quantized {
            weight: QMatMul::from_qtensor(packed)?,
            bias: linear.bias().cloned(),
        })
    }

    /// The linear layer at `vb` kept in `stored`, the checkpoint's dtype, when that is narrower
    /// than the compute dtype (see [`Projection::Widened`]); dense in the compute dtype otherwise.
    pub(crate) fn load_stored(
        vb: VarBuilder,
        inputs: usize,
        outputs: usize,
        bias: bool,
        stored: DType,
    ) -> Result<Self> {
        let compute = vb.dtype();
        let linear = linear_b(
            inputs,
            outputs,
            bias,
            vb.set_dtype(narrower(compute, stored)),
        )?;
        Ok(Projection::kept(linear, compute))
    }

    /// The linear layer at `vb` ((outputs, inputs) weight, with or without a bias), packed as
    /// `quant` asks through `packs`; a weight that is not packed is made by `unpacked`. `stored`
    /// is the checkpoint's dtype for the weight, which packing reads it in.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        vb: VarBuilder,
        inputs: usize,
        outputs: usize,
        bias: bool,
        quant: Quantization,
        stored: DType,
        packs: &mut Packs,
        unpacked: impl FnOnce(VarBuilder) -> Result<Self>,
    ) -> Result<Self> {
        let name = format!("{}.weight", vb.prefix());
        Projection::load_with(
            &name,
            (outputs, inputs),
            quant,
            packs,
            vb.device(),
            || {
                Ok(vb
                    .clone()
                    .set_dtype(stored)
                    .get((outputs, inputs), "weight")?)
            },
            || Ok(bias.then(|| vb.get(outputs, "bias")).transpose()?),
            || unpacked(vb.clone()),
        )
    }

    /// `linear` as it is, widened per product when its weight is narrower than `compute`.
    pub(crate) fn kept(linear: Linear, compute: DType) -> Self {
        if linear.weight().dtype().size_in_bytes() < compute.size_in_bytes() {
            Projection::Widened(linear)
        } else {
            Projection::Dense(linear)
        }
    }

    /// The weight `name` of shape (outputs, inputs) packed as `quant` asks: taken from `packs`
    /// when it holds it (then only `bias` is read from the checkpoint), otherwise read by
    /// `stored`, packed, and given to `packs` so the next load can skip reading and packing it.
    /// A weight `quant` does not pack (see [`block_for`]) is made by `unpacked`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load_with(
        name: &str,
        shape: (usize, usize),
        quant: Quantization,
        packs: &mut Packs,
        device: &candle_core::Device,
        stored: impl FnOnce() -> Result<Tensor>,
        bias: impl FnOnce() -> Result<Option<Tensor>>,
        unpacked: impl FnOnce() -> Result<Self>,
    ) -> Result<Self> {
        let Some(block) = block_for(shape.1, quant) else {
            return unpacked();
        };
        if let Some(weight) = packs.take(name, shape, block, device) {
            return Ok(Projection::Quantized {
                weight: QMatMul::from_arc(weight)?,
                bias: bias()?,
            });
        }
        let weight = stored()?;
        let packed = Arc::new(pack_rows_in_parallel(&weight, block)?);
        drop(weight);
        let packed = if device.is_cpu() {
            packed
        } else {
            // Packed on the host; the products run where the activations are.
            Arc::new(qtensor_from_ggml(
                block,
                &packed.data()?,
                vec![shape.0, shape.1],
                device,
            )?)
        };
        packs.keep(name, Arc::clone(&packed));
        Ok(Projection::Quantized {
            weight: QMatMul::from_arc(packed)?,
            bias: bias()?,
        })
    }

    /// The packed weight, when this projection is packed.
    pub(crate) fn packed_weight(&self) -> Option<Arc<QTensor>> {
        match self {
            Projection::Quantized {
                weight: QMatMul::QTensor(packed),
                ..
            } => Some(Arc::clone(packed)),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_quantized(&self) -> bool {
        matches!(self, Projection::Quantized { .. })
    }
}

/// `x`'s shape with the last dimension the packed weight's outputs.
fn out_shape(x: &Tensor, packed: &QTensor) -> Vec<usize> {
    let mut shape = x.dims().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = packed.shape().dims()[0];
    }
    shape
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
    match bias {
        Some(b) => y.broadcast_add(&b.to_dtype(y.dtype())?),
        None => Ok(y),
    }
}

impl Module for Projection {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Projection::Dense(l) if cpu_rows::applies(x, l.weight()) => {
                add_bias(cpu_rows::rows_times_weight(x, l.weight())?, l.bias())
            }
            Projection::Dense(l) => l.forward(x),
            // A few rows (decoding) read the narrow weight as it is.
            Projection::Widened(l) if cpu_rows::applies(x, l.weight()) => {
                add_bias(cpu_rows::rows_times_weight(x, l.weight())?, l.bias())
            }
            Projection::Widened(l) => {
                let bias = l.bias().map(|b| b.to_dtype(x.dtype())).transpose()?;
                Linear::new(cpu_rows::widened(l.weight(), x.dtype())?, bias).forward(x)
            }
            Projection::Quantized { weight, bias } => {
                // The block kernels take f32 activations.
                let dtype = x.dtype();
                let x = x.to_dtype(DType::F32)?;
                let rows = x.elem_count() / x.dim(candle_core::D::Minus1)?;
                let flat = x.reshape((rows, ()))?;
                let y = match weight {
                    QMatMul::QTensor(packed)
                        if x.device().is_cpu()
                            && cpu_unpack::worth_unpacking(packed.dtype(), rows) =>
                    {
                        cpu_unpack::unpacked_product(&flat, packed)?
                            .reshape(out_shape(&x, packed))?
                    }
                    QMatMul::QTensor(packed) if cpu_q8::FORMAT.applies(&flat, packed) => {
                        cpu_rows::blocks_times_weight(&flat, packed, &cpu_q8::FORMAT)?
                            .reshape(out_shape(&x, packed))?
                    }
                    QMatMul::QTensor(packed) if cpu_q4k::FORMAT.applies(&flat, packed) => {
                        cpu_rows::blocks_times_weight(&flat, packed, &cpu_q4k::FORMAT)?
                            .reshape(out_shape(&x, packed))?
                    }
                    // On a GPU: unpacking once beats candle's per-row kernels on a prompt.
                    QMatMul::QTensor(packed) if rows >= cpu_unpack::UNPACK_FROM_ROWS => {
                        let w = packed.dequantize(x.device())?;
                        x.broadcast_matmul(&w.t()?)?
                    }
                    _ => weight.forward(&x)?,
                };
                add_bias(y, bias.as_ref())?.to_dtype(dtype)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::{gaussian, seeded};

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for q in [Quantization::None, Quantization::Q8_0, Quantization::Q4K] {
            assert_eq!(q.name().parse::<Quantization>().unwrap(), q);
        }
        let err = "q5".parse::<Quantization>().unwrap_err().to_string();
        assert!(err.contains("\"q5\""), "{err}");
    }

    fn relative_error(quant: Quantization, inputs: usize) -> (bool, f32) {
        let mut rng = seeded(20261202);
        let w = gaussian(&mut rng, &[64, inputs]);
        let b = gaussian(&mut rng, &[64]);
        let dense = Linear::new(w, Some(b));
        let x = gaussian(&mut rng, &[5, inputs]);
        let want = dense.forward(&x).unwrap();
        let p = Projection::new(dense, quant).unwrap();
        let got = p.forward(&x).unwrap();
        let err = (got - &want).unwrap().sqr().unwrap().mean_all().unwrap();
        let scale = want.sqr().unwrap().mean_all().unwrap();
        let rel = (err.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap()).sqrt();
        (p.is_quantized(), rel)
    }

    #[test]
    fn quantised_outputs_stay_close_to_dense() {
        // Measured with this seed: q8_0 0.85 % relative RMS error (Gaussian weights and inputs);
        // unseeded draws reached 1.007 % now and then, which is why the data is seeded.
        let (packed, q8) = relative_error(Quantization::Q8_0, 256);
        assert!(packed && q8 < 0.01, "q8_0 relative error {q8}");
        let (packed, q4) = relative_error(Quantization::Q4K, 256);
        assert!(packed && q4 < 0.12 && q4 > q8, "q4k relative error {q4}");
    }

    #[test]
    fn packing_rows_in_parallel_gives_candles_bytes() {
        let mut rng = seeded(3);
        // 37 rows in tasks of 5 rows: the last task is short.
        for (block, inputs) in [(GgmlDType::Q8_0, 96), (GgmlDType::Q4K, 512)] {
            let w = gaussian(&mut rng, &[37, inputs]);
            let ours = pack_rows_in_tasks(&w, block, 5 * inputs).unwrap();
            let candles = QTensor::quantize(&w, block).unwrap();
            assert_eq!(ours.shape(), candles.shape());
            assert_eq!(ours.dtype(), block);
            assert!(
                ours.data().unwrap() == candles.data().unwrap(),
                "{block:?} blocks differ"
            );
        }
        let one_row = gaussian(&mut rng, &[1, 256]);
        let ours = pack_rows_in_parallel(&one_row, GgmlDType::Q4K).unwrap();
        assert!(
            ours.data().unwrap()
                == QTensor::quantize(&one_row, GgmlDType::Q4K)
                    .unwrap()
                    .data()
                    .unwrap()
        );
    }

    #[test]
    fn widths_that_are_not_whole_blocks_fall_back() {
        // 96 inputs: not whole Q4K blocks (256) but whole Q8_0 blocks (32).
        let (packed, rel) = relative_error(Quantization::Q4K, 96);
        assert!(packed && rel < 0.01, "fell back to q8_0: {rel}");
        // 20 inputs: no block fits, so the layer stays dense and exact.
        let (packed, rel) = relative_error(Quantization::Q8_0, 20);
        assert!(!packed && rel < 1e-6, "kept dense: {rel}");
    }
}
