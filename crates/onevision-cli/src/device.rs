//! `--device` and `--dtype`: clap's view of the engine's device and precision choices.

use anyhow::Result;
use clap::ValueEnum;
use onevision_engine::device::{DTypeChoice, DeviceChoice};
use onevision_model::{DType, Device};

pub use onevision_engine::device::{device_name, dtype_name};

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
    let choice = match arg {
        DeviceArg::Auto => DeviceChoice::Auto,
        DeviceArg::Cpu => DeviceChoice::Cpu,
        DeviceArg::Cuda => DeviceChoice::Cuda,
        DeviceArg::Metal => DeviceChoice::Metal,
    };
    choice
        .open()
        .map_err(|e| anyhow::anyhow!("--device {choice}: {e}"))
}

pub fn dtype(arg: DTypeArg) -> Option<DType> {
    match arg {
        DTypeArg::Auto => DTypeChoice::Auto,
        DTypeArg::F32 => DTypeChoice::F32,
        DTypeArg::Bf16 => DTypeChoice::Bf16,
        DTypeArg::F16 => DTypeChoice::F16,
    }
    .dtype()
}
