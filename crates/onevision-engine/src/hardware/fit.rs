//! The best precision a model can be loaded in on this machine, said in plain words.
//!
//! Best means closest to the checkpoint's own numbers: on a GPU bf16, then Q8_0, then Q4K; on the
//! CPU f32 (what the engine computes in there), then Q8_0, then Q4K, then Q4K with bf16 for the
//! parts that stay dense. The user may pin the device, the dtype or the quantisation; the choice
//! is then made among what is left.

use onevision_model::{DType, Quantization};
use serde::Serialize;

use super::size::ModelSize;
use super::{Gpu, GpuKind, Hardware};
use crate::device::{dtype_name, DTypeChoice, DeviceChoice};

/// What the user asked for; `Default` leaves every choice to [`choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wish {
    pub device: DeviceChoice,
    pub dtype: DTypeChoice,
    pub quant: Option<Quantization>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Placement {
    Cpu,
    Gpu(Gpu),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    pub placement: Placement,
    /// "cpu", "cuda" or "metal", as `--device` spells it.
    pub device: &'static str,
    /// "f32", "bf16" or "f16", as `--dtype` spells it.
    pub dtype: &'static str,
    /// "none", "q8_0" or "q4k", as `--quant` spells it.
    pub quant: &'static str,
    pub needed_bytes: u64,
    /// `None` when the machine's memory could not be read.
    pub available_bytes: Option<u64>,
    pub fits: bool,
    /// One or two sentences for the user.
    pub advice: String,
}

/// Picks where and in what precision `name` (of shape `size`) runs best on `hw`.
pub fn choose(name: &str, size: &ModelSize, hw: &Hardware, wish: Wish) -> Fit {
    let (placement, preface) = placement(hw, wish.device);
    let available = match &placement {
        Placement::Gpu(g) => Some(g.free_bytes),
        Placement::Cpu => hw.ram_available_bytes,
    };
    let on_gpu = matches!(placement, Placement::Gpu(_));
    let default_dtype = if on_gpu { DType::BF16 } else { DType::F32 };
    let mut candidates: Vec<(DType, Quantization)> = match wish.dtype.dtype() {
        // A pinned dtype keeps its place on every rung.
        Some(d) => [Quantization::None, Quantization::Q8_0, Quantization::Q4K]
            .into_iter()
            .map(|q| (d, q))
            .collect(),
        None if on_gpu => vec![
            (DType::BF16, Quantization::None),
            (DType::BF16, Quantization::Q8_0),
            (DType::BF16, Quantization::Q4K),
        ],
        None => vec![
            (DType::F32, Quantization::None),
            (DType::F32, Quantization::Q8_0),
            (DType::F32, Quantization::Q4K),
            (DType::BF16, Quantization::Q4K),
        ],
    };
    if let Some(q) = wish.quant {
        // Every ladder has each quantisation, so one rung at least is left.
        candidates.retain(|(_, c)| *c == q);
    }
    let need = |(d, q): (DType, Quantization)| size.runtime_bytes(d, q, !on_gpu);
    let fallback = (default_dtype, Quantization::None);
    let first = candidates.first().copied().unwrap_or(fallback);
    let smallest = candidates.last().copied().unwrap_or(fallback);
    let chosen = match available {
        Some(avail) => candidates
            .iter()
            .copied()
            .find(|&c| need(c) <= avail)
            .unwrap_or(smallest),
        None => first,
    };
    let fits = available.is_none_or(|a| need(chosen) <= a);
    let place = describe(&placement);
    let memory = if on_gpu { "memory" } else { "RAM" };
    let advice = match available {
        None => format!(
            "{preface}{name} runs on {place} in {} (needs ~{}); this machine's {memory} could not be read.",
            precision(first, default_dtype),
            gb(need(first))
        ),
        Some(avail) if chosen == first && fits => format!(
            "{preface}{name} runs on {place} in {} (needs ~{}, {} free).",
            precision(first, default_dtype),
            gb(need(first)),
            gb(avail)
        ),
        Some(avail) if fits => format!(
            "{preface}{name} on {place} in {} needs ~{} {memory}, you have {} free: choose {} (~{}).",
            precision(first, default_dtype),
            gb(need(first)),
            gb(avail),
            precision(chosen, default_dtype),
            gb(need(chosen))
        ),
        Some(avail) => format!(
            "{preface}{name} does not fit on {place}: even {} needs ~{} {memory} and {} is free.",
            precision(chosen, default_dtype),
            gb(need(chosen)),
            gb(avail)
        ),
    };
    Fit {
        device: match &placement {
            Placement::Cpu => "cpu",
            Placement::Gpu(g) if g.kind == GpuKind::Cuda => "cuda",
            Placement::Gpu(_) => "metal",
        },
        placement,
        dtype: dtype_name(chosen.0),
        quant: chosen.1.name(),
        needed_bytes: need(chosen),
        available_bytes: available,
        fits,
        advice,
    }
}

/// Where the model goes, and a preface saying why it is not on a GPU when it is not.
fn placement(hw: &Hardware, wish: DeviceChoice) -> (Placement, String) {
    let best = |kind: Option<GpuKind>| {
        hw.gpus
            .iter()
            .filter(|g| kind.is_none_or(|k| g.kind == k))
            .max_by_key(|g| g.free_bytes)
            .cloned()
    };
    let no_gpu = |what: &str| {
        let why = hw.gpu_note.as_deref().unwrap_or("none was found");
        format!("This machine has no usable {what} ({why}); ")
    };
    match wish {
        DeviceChoice::Cpu => (Placement::Cpu, String::new()),
        DeviceChoice::Auto => match best(None) {
            Some(g) => (Placement::Gpu(g), String::new()),
            None => (Placement::Cpu, no_gpu("GPU")),
        },
        DeviceChoice::Cuda => match best(Some(GpuKind::Cuda)) {
            Some(g) => (Placement::Gpu(g), String::new()),
            None => (Placement::Cpu, no_gpu("CUDA device")),
        },
        DeviceChoice::Metal => match best(Some(GpuKind::Metal)) {
            Some(g) => (Placement::Gpu(g), String::new()),
            None => (Placement::Cpu, no_gpu("Metal GPU")),
        },
    }
}

fn describe(p: &Placement) -> String {
    match p {
        Placement::Cpu => "the CPU".into(),
        Placement::Gpu(g) if g.kind == GpuKind::Cuda => {
            format!("CUDA device {} ({})", g.ordinal, g.name)
        }
        Placement::Gpu(g) => format!("the {} (Metal)", g.name),
    }
}

/// "f32", "q8_0", or "q4k with bf16" when the parts left dense are not in the device's usual dtype.
fn precision((dtype, quant): (DType, Quantization), usual: DType) -> String {
    match quant {
        Quantization::None => dtype_name(dtype).to_string(),
        q if dtype == usual => q.name().to_string(),
        q => format!("{} with {}", q.name(), dtype_name(dtype)),
    }
}

/// Decimal units, as disks and download pages count them: "16.6 GB", "3.0 MB".
pub fn gb(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn machine(ram_gb: u64, gpu_free_gb: Option<u64>) -> Hardware {
        Hardware {
            gpus: gpu_free_gb
                .map(|f| Gpu {
                    kind: GpuKind::Cuda,
                    ordinal: 0,
                    name: "Test GPU".into(),
                    total_bytes: f * 1_000_000_000,
                    free_bytes: f * 1_000_000_000,
                })
                .into_iter()
                .collect(),
            gpu_note: gpu_free_gb
                .is_none()
                .then(|| "this build has no CUDA support".into()),
            ram_total_bytes: Some(ram_gb * 1_000_000_000),
            ram_available_bytes: Some(ram_gb * 1_000_000_000),
        }
    }

    fn r1() -> ModelSize {
        catalog::find("r1-onevision-7b").unwrap().size
    }

    #[test]
    fn a_24_gb_cpu_machine_is_told_to_choose_q8_0_for_a_7b() {
        let fit = choose(
            "R1-Onevision-7B",
            &r1(),
            &machine(24, None),
            Wish::default(),
        );
        assert_eq!(
            (fit.device, fit.dtype, fit.quant, fit.fits),
            ("cpu", "f32", "q8_0", true)
        );
        assert!(
            fit.advice
                .starts_with("This machine has no usable GPU (this build has no CUDA"),
            "{}",
            fit.advice
        );
        assert!(
            fit.advice.contains("needs ~") && fit.advice.contains("choose q8_0"),
            "{}",
            fit.advice
        );
        assert!(fit.needed_bytes <= 24_000_000_000, "{}", fit.needed_bytes);
    }

    #[test]
    fn a_big_gpu_takes_bf16_and_smaller_cards_take_q8_0_then_q4k() {
        let fit = choose(
            "R1-Onevision-7B",
            &r1(),
            &machine(64, Some(80)),
            Wish::default(),
        );
        assert_eq!((fit.device, fit.dtype, fit.quant), ("cuda", "bf16", "none"));
        assert!(
            fit.advice.contains("CUDA device 0 (Test GPU)"),
            "{}",
            fit.advice
        );
        let fit = choose(
            "R1-Onevision-7B",
            &r1(),
            &machine(64, Some(12)),
            Wish::default(),
        );
        assert_eq!(
            (fit.dtype, fit.quant, fit.fits),
            ("bf16", "q8_0", true),
            "{}",
            fit.advice
        );
        let fit = choose(
            "R1-Onevision-7B",
            &r1(),
            &machine(64, Some(10)),
            Wish::default(),
        );
        assert_eq!(
            (fit.dtype, fit.quant, fit.fits),
            ("bf16", "q4k", true),
            "{}",
            fit.advice
        );
        // Q4K weights alone are ~6.7 GB: within an 8 GB card (DESIGN.md §7).
        assert!(r1().weight_bytes(DType::BF16, Quantization::Q4K, false) < 7_000_000_000);
    }

    #[test]
    fn too_little_memory_says_so_and_a_pinned_choice_is_kept() {
        let fit = choose("R1-Onevision-7B", &r1(), &machine(4, None), Wish::default());
        assert!(!fit.fits);
        assert!(fit.advice.contains("does not fit"), "{}", fit.advice);
        let wish = Wish {
            device: DeviceChoice::Cpu,
            dtype: DTypeChoice::Auto,
            quant: Some(Quantization::Q4K),
        };
        let fit = choose("R1-Onevision-7B", &r1(), &machine(64, Some(80)), wish);
        assert_eq!((fit.device, fit.dtype, fit.quant), ("cpu", "f32", "q4k"));
        let wish = Wish {
            device: DeviceChoice::Cuda,
            ..Wish::default()
        };
        let fit = choose("R1-Onevision-7B", &r1(), &machine(64, None), wish);
        assert_eq!(fit.device, "cpu");
        assert!(
            fit.advice.contains("no usable CUDA device"),
            "{}",
            fit.advice
        );
    }
}
