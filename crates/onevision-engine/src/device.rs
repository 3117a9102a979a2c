//! Where a model runs and in what precision, from the words a user picks ("auto", "cuda",
//! "bf16"…): shared by the `onevision` command's flags and the app's model panel.

use std::fmt;
use std::str::FromStr;

use onevision_model::{DType, Device};

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The GPU this build supports when there is one, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DTypeChoice {
    /// f32 on the CPU, bf16 on a GPU.
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

impl FromStr for DeviceChoice {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => DeviceChoice::Auto,
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            "metal" => DeviceChoice::Metal,
            other => {
                return Err(EngineError::Prompt(format!(
                    "unknown device {other:?}; expected auto, cpu, cuda or metal"
                )))
            }
        })
    }
}

impl FromStr for DTypeChoice {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => DTypeChoice::Auto,
            "f32" => DTypeChoice::F32,
            "bf16" => DTypeChoice::Bf16,
            "f16" => DTypeChoice::F16,
            other => {
                return Err(EngineError::Prompt(format!(
                    "unknown precision {other:?}; expected auto, f32, bf16 or f16"
                )))
            }
        })
    }
}

impl DeviceChoice {
    /// Opens the device. An explicit GPU that cannot be used is an error naming it; `Auto`
    /// falls back to the CPU.
    pub fn open(self) -> Result<Device> {
        Ok(match self {
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| unusable("cuda", e))?,
            DeviceChoice::Metal => Device::new_metal(0).map_err(|e| unusable("metal", e))?,
            DeviceChoice::Auto => {
                if cfg!(feature = "cuda") {
                    Device::new_cuda(0).unwrap_or(Device::Cpu)
                } else if cfg!(feature = "metal") {
                    Device::new_metal(0).unwrap_or(Device::Cpu)
                } else {
                    Device::Cpu
                }
            }
        })
    }
}

impl DTypeChoice {
    /// `None` lets the model pick (f32 on the CPU, bf16 on a GPU).
    pub fn dtype(self) -> Option<DType> {
        match self {
            DTypeChoice::Auto => None,
            DTypeChoice::F32 => Some(DType::F32),
            DTypeChoice::Bf16 => Some(DType::BF16),
            DTypeChoice::F16 => Some(DType::F16),
        }
    }
}

fn unusable(name: &str, e: impl fmt::Display) -> EngineError {
    EngineError::Prompt(format!("the {name} device is not usable here: {e}"))
}

/// A device as the user reads it: "cpu", "cuda" or "metal".
pub fn device_name(d: &Device) -> &'static str {
    if d.is_cuda() {
        "cuda"
    } else if d.is_metal() {
        "metal"
    } else {
        "cpu"
    }
}

pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ => "other",
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Metal => "metal",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_unknown_ones_are_named() {
        assert_eq!(
            "cuda".parse::<DeviceChoice>().ok(),
            Some(DeviceChoice::Cuda)
        );
        assert_eq!("bf16".parse::<DTypeChoice>().ok(), Some(DTypeChoice::Bf16));
        let e = "gpu".parse::<DeviceChoice>().unwrap_err().to_string();
        assert!(e.contains("\"gpu\"") && e.contains("cuda"), "{e}");
        let e = "fp8".parse::<DTypeChoice>().unwrap_err().to_string();
        assert!(e.contains("\"fp8\""), "{e}");
    }

    #[test]
    fn auto_and_cpu_open_the_cpu_in_a_cpu_build() {
        if cfg!(any(feature = "cuda", feature = "metal")) {
            return;
        }
        assert!(DeviceChoice::Auto.open().unwrap().is_cpu());
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
        assert_eq!(DTypeChoice::Auto.dtype(), None);
        assert_eq!(DTypeChoice::F16.dtype(), Some(DType::F16));
    }
}
