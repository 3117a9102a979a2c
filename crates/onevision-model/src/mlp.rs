//! The SwiGLU feed-forward block both towers use: `down(silu(gate(x)) * up(x))`.

use candle_core::{Module, Tensor};
use candle_nn::{linear_b, VarBuilder};

use crate::error::Result;
use crate::quant::{Projection, Quantization};

pub(crate) struct SwiGlu {
    gate: Projection,
    up: Projection,
    down: Projection,
}

impl SwiGlu {
    /// Loads `gate_proj`, `up_proj` and `down_proj` under `vb` (the vision tower's carry biases,
    /// the decoder's do not), packed as `quant` says.
    pub(crate) fn load(
        hidden: usize,
        intermediate: usize,
        bias: bool,
        quant: Quantization,
        vb: VarBuilder,
    ) -> Result<Self> {
        let load = |inputs, outputs, name| -> Result<Projection> {
            Projection::new(linear_b(inputs, outputs, bias, vb.pp(name))?, quant)
        };
        Ok(SwiGlu {
            gate: load(hidden, intermediate, "gate_proj")?,
            up: load(hidden, intermediate, "up_proj")?,
            down: load(intermediate, hidden, "down_proj")?,
        })
    }
}

impl Module for SwiGlu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}
