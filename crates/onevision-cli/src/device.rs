//! `--device` and `--dtype` to candle's device and dtype.

use anyhow::{bail, Result};
use clap::ValueEnum;
use onevision_model::{DType, Device};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DTypeArg {
    Auto,
    F32,
    Bf16,
    F16,
}

pub fn device(arg: DeviceArg) -> Result<Device> {
    Ok(match arg {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda => match Device::new_cuda(0) {
            Ok(d) => d,
            Err(e) => bail!("--device cuda is not usable here: {e}"),
        },
        DeviceArg::Metal => match Device::new_metal(0) {
            Ok(d) => d,
            Err(e) => bail!("--device metal is not usable here: {e}"),
        },
        DeviceArg::Auto => {
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

pub fn dtype(arg: DTypeArg) -> Option<DType> {
    match arg {
        DTypeArg::Auto => None,
        DTypeArg::F32 => Some(DType::F32),
        DTypeArg::Bf16 => Some(DType::BF16),
        DTypeArg::F16 => Some(DType::F16),
    }
}

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
