//! The sampling flags `ask` and `eval` share, laid over a base (generation_config.json's values,
//! or a server's defaults).

use anyhow::Result;
use onevision_engine::sampler::SamplingParams;

#[derive(clap::Args, Debug, Clone)]
pub struct SamplingArgs {
    /// 0 decodes greedily.
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    pub repetition_penalty: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SamplingArgs {
    /// Whether any value (other than the seed) was given.
    pub fn any(&self) -> bool {
        self.temperature.is_some()
            || self.top_p.is_some()
            || self.top_k.is_some()
            || self.repetition_penalty.is_some()
    }

    /// `base` with the given flags and the seed laid over it, checked.
    pub fn over(&self, base: SamplingParams) -> Result<SamplingParams> {
        let mut s = SamplingParams {
            seed: self.seed,
            ..base
        };
        if let Some(t) = self.temperature {
            s.temperature = t;
        }
        if let Some(p) = self.top_p {
            s.top_p = p;
        }
        if let Some(k) = self.top_k {
            s.top_k = k;
        }
        if let Some(r) = self.repetition_penalty {
            s.repetition_penalty = r;
        }
        s.validate().map_err(anyhow::Error::msg)?;
        Ok(s)
    }
}
