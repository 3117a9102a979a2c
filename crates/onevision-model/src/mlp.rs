//! The SwiGLU feed-forward block both towers use: `down(silu(gate(x)) * up(x))`.

use candle_core::{Module, Tensor};
use candle_nn::{linear_b, Linear, VarBuilder};

pub(crate) struct SwiGlu {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl SwiGlu {
    /// Loads `gate_proj`, `up_proj` and `down_proj` under `vb` (the vision tower's carry biases,
    /// the decoder's do not).
    pub(crate) fn load(
        hidden: usize,
        intermediate: usize,
        bias: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        Ok(SwiGlu {
            gate: linear_b(hidden, intermediate, bias, vb.pp("gate_proj"))?,
            up: linear_b(hidden, intermediate, bias, vb.pp("up_proj"))?,
            down: linear_b(intermediate, hidden, bias, vb.pp("down_proj"))?,
        })
    }
}

impl Module for SwiGlu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        self.down.forward(&(gate * self.up.forward(x)?)?)
    }
}
