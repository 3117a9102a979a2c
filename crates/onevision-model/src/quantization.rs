//! How the decoder's linear layers are stored: the name users pick and the block format it means.

use std::fmt;
use std::str::FromStr;

use candle_core::quantized::GgmlDType;

use crate::error::{Error, Result};

/// How the decoder's linear layers are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    /// As loaded, in the compute dtype.
    #[default]
    None,
    /// 8-bit blocks of 32 with one f16 scale: about 1.06 bytes per weight.
    Q8_0,
    /// 4-bit k-quants in super-blocks of 256: about 0.56 bytes per weight.
    Q4K,
}

impl Quantization {
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Q8_0 => "q8_0",
            Quantization::Q4K => "q4k",
        }
    }

    pub(crate) fn block_type(self) -> Option<GgmlDType> {
        match self {
            Quantization::None => None,
            Quantization::Q8_0 => Some(GgmlDType::Q8_0),
            Quantization::Q4K => Some(GgmlDType::Q4K),
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quantization {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Quantization::None),
            "q8_0" => Ok(Quantization::Q8_0),
            "q4k" => Ok(Quantization::Q4K),
            other => Err(Error::Input(format!(
                "unknown quantisation {other:?}; expected none, q8_0 or q4k"
            ))),
        }
    }
}
