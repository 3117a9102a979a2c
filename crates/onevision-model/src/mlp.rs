//! The SwiGLU feed-forward block both towers use: `down(silu(gate(x)) * up(x))`.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::error::Result;
use crate::quant::Projection;

pub(crate) struct SwiGlu {
    gate: Projection,
    up: Projection,
    down: Projection,
    /// Rows taken per slice of a long input, so that each intermediate tensor of a slice stays
    /// within [`SLICE_BUDGET_BYTES`].
    slice_rows: usize,
}

/// Upper bound on one slice's f32 intermediate tensor (a slice holds about three at a time).
/// Whole, a 1406-token prompt's three intermediates of a 7B (18944 wide) took 320 MB above the
/// weights. The rows are independent, so slicing changes nothing but the rounding where a short
/// last slice takes another kernel. The block kernels read each weight row once per 64
/// activation rows anyway, so slices of hundreds of rows cost them nothing.
const SLICE_BUDGET_BYTES: usize = 32 * 1024 * 1024;

impl SwiGlu {
    /// Loads `gate_proj`, `up_proj` and `down_proj` under `vb`, each by `load` (given its
    /// builder, inputs and outputs), which decides how the tower keeps them.
    pub(crate) fn load(
        hidden: usize,
        intermediate: usize,
        vb: VarBuilder,
        mut load: impl FnMut(VarBuilder, usize, usize) -> Result<Projection>,
    ) -> Result<Self> {
        Ok(SwiGlu {
            gate: load(vb.pp("gate_proj"), hidden, intermediate)?,
            up: load(vb.pp("up_proj"), hidden, intermediate)?,
            down: load(vb.pp("down_proj"), intermediate, hidden)?,
            slice_rows: (SLICE_BUDGET_BYTES / (intermediate.max(1) * 4)).max(1),
        })
    }

    fn forward_whole(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}

impl Module for SwiGlu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if x.rank() != 2 || x.dim(0)? <= self.slice_rows {
            return self.forward_whole(x);
        }
        let rows = x.dim(0)?;
        let slices = (0..rows)
            .step_by(self.slice_rows)
            .map(|first| {
                self.forward_whole(&x.narrow(0, first, self.slice_rows.min(rows - first))?)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&slices, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Linear;

    #[test]
    fn a_long_input_in_slices_equals_it_whole() {
        let mut rng = crate::test_data::seeded(41);
        let (hidden, intermediate, rows) = (16, 40, 11);
        let mut dense = |o: usize, i: usize| {
            Projection::Dense(Linear::new(
                crate::test_data::gaussian(&mut rng, &[o, i]),
                None,
            ))
        };
        let mlp = SwiGlu {
            gate: dense(intermediate, hidden),
            up: dense(intermediate, hidden),
            down: dense(hidden, intermediate),
            // Four slices, the last one short.
            slice_rows: 3,
        };
        let x = crate::test_data::gaussian(&mut rng, &[rows, hidden]);
        let sliced = mlp.forward(&x).unwrap();
        let whole = mlp.forward_whole(&x).unwrap();
        assert_eq!(sliced.dims(), &[rows, hidden]);
        // Slices of a few rows take the row kernel and the whole the matrix product, so the sums
        // may round differently; nothing more.
        let diff = crate::cpu_rows::max_abs_difference(&sliced, &whole);
        let largest = crate::cpu_rows::max_abs_difference(&whole, &whole.zeros_like().unwrap());
        assert!(largest > 1.0);
        assert!(
            diff <= 1e-5 * largest,
            "slicing the rows changed the result by {diff} of {largest}"
        );
    }
}
