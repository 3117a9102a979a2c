//! The SwiGLU feed-forward block both towers use: `down(silu(gate(x)) * up(x))`.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::error::Result;
use crate::quant::Projection;

pub(crate) struct SwiGlu {
    gate: Projection,
    up: Projection,
    down: Projection,
}

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
        })
    }
}

impl Module for SwiGlu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}
