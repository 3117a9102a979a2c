//! The flags that say which model to load and how: shared by every subcommand that runs one.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::ValueEnum;
use onevision_model::{LoadOptions, Quantization};

use crate::device::{self, DTypeArg, DeviceArg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuantArg {
    None,
    #[value(name = "q8_0")]
    Q8_0,
    Q4k,
}

impl From<QuantArg> for Quantization {
    fn from(q: QuantArg) -> Self {
        match q {
            QuantArg::None => Quantization::None,
            QuantArg::Q8_0 => Quantization::Q8_0,
            QuantArg::Q4k => Quantization::Q4K,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model folder (config.json, safetensors, tokenizer.json, chat template).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Compute precision (auto: f32 on the CPU, bf16 on a GPU).
    #[arg(long, value_enum, default_value_t = DTypeArg::Auto)]
    pub dtype: DTypeArg,
    /// Pack the text decoder's linear layers at load time.
    #[arg(long, value_enum, default_value_t = QuantArg::None)]
    pub quant: QuantArg,
    /// Where packed weights are kept between starts, so only the first start with --quant
    /// packs them (default: $ONEVISION_PACKED_DIR, else ~/.cache/onevision/packed).
    #[arg(long, value_name = "DIR")]
    pub packed_dir: Option<PathBuf>,
}

impl ModelArgs {
    /// The model folder, which this command needs.
    pub fn dir(&self) -> Result<&Path> {
        self.model
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--model DIR is needed: the model folder to load"))
    }

    pub fn load_options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            device: device::device(self.device)?,
            dtype: device::dtype(self.dtype),
            quant: self.quant.into(),
            packed_dir: self
                .packed_dir
                .clone()
                .or_else(onevision_engine::catalog::cache::packed_dir),
        })
    }
}
