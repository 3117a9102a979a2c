//! What this machine offers a model: its GPUs (when the build can drive them), their free memory,
//! and system RAM; [`fit`] turns that into the precision a model can be loaded in.

pub mod fit;
pub mod size;

use serde::Serialize;

pub use fit::{choose, Fit, Placement, Wish};
pub use size::ModelSize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuKind {
    Cuda,
    Metal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    pub kind: GpuKind,
    pub ordinal: usize,
    pub name: String,
    pub total_bytes: u64,
    /// What a model may take now: free device memory, or for Metal the share of unified memory
    /// the GPU may wire.
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hardware {
    pub gpus: Vec<Gpu>,
    /// Why there is no usable GPU, in words ("this build has no CUDA support", the driver's error).
    pub gpu_note: Option<String>,
    pub ram_total_bytes: Option<u64>,
    /// Memory the system could give a new process now (Linux's MemAvailable).
    pub ram_available_bytes: Option<u64>,
}

/// Looks at the machine. Never fails: what cannot be found out is `None` or explained in
/// `gpu_note`.
pub fn detect() -> Hardware {
    let (ram_total_bytes, ram_available_bytes) = ram();
    let (gpus, gpu_note) = gpus(ram_total_bytes);
    let hw = Hardware {
        gpus,
        gpu_note,
        ram_total_bytes,
        ram_available_bytes,
    };
    tracing::debug!(?hw, "hardware");
    hw
}

fn gpus(ram_total: Option<u64>) -> (Vec<Gpu>, Option<String>) {
    let mut notes = Vec::new();
    let mut found = Vec::new();
    if cfg!(feature = "cuda") {
        match cuda::devices() {
            Ok(d) if d.is_empty() => notes.push("no CUDA device was found".to_string()),
            Ok(d) => found.extend(d),
            Err(e) => notes.push(format!("CUDA is not usable: {e}")),
        }
    }
    if cfg!(feature = "metal") {
        match onevision_model::Device::new_metal(0) {
            // Unified memory: macOS lets the GPU wire about three quarters of RAM by default.
            Ok(_) => found.push(Gpu {
                kind: GpuKind::Metal,
                ordinal: 0,
                name: "Apple GPU".into(),
                total_bytes: ram_total.unwrap_or(0),
                free_bytes: ram_total.map(|r| r / 4 * 3).unwrap_or(0),
            }),
            Err(e) => notes.push(format!("Metal is not usable: {e}")),
        }
    }
    if !cfg!(any(feature = "cuda", feature = "metal")) {
        notes.push("this build has no CUDA or Metal support".into());
    }
    let note = if found.is_empty() {
        Some(notes.join("; "))
    } else {
        None
    };
    (found, note)
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::{Gpu, GpuKind};
    use candle_core::cuda_backend::cudarc::driver::CudaContext;

    pub fn devices() -> Result<Vec<Gpu>, String> {
        // candle links the driver library when the program starts, so a missing driver stops the
        // program before this; a panic inside the bindings must still not take the model panel
        // down with it.
        std::panic::catch_unwind(list)
            .map_err(|_| "the CUDA driver library could not be loaded".to_string())?
    }

    fn list() -> Result<Vec<Gpu>, String> {
        let count = CudaContext::device_count().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for ordinal in 0..count.max(0) as usize {
            let ctx = CudaContext::new(ordinal).map_err(|e| e.to_string())?;
            let name = ctx.name().map_err(|e| e.to_string())?;
            let (free, total) = ctx.mem_get_info().map_err(|e| e.to_string())?;
            out.push(Gpu {
                kind: GpuKind::Cuda,
                ordinal,
                name,
                total_bytes: total as u64,
                free_bytes: free as u64,
            });
        }
        Ok(out)
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    pub fn devices() -> Result<Vec<super::Gpu>, String> {
        Ok(Vec::new())
    }
}

/// (total, available) system memory in bytes.
fn ram() -> (Option<u64>, Option<u64>) {
    #[cfg(target_os = "linux")]
    {
        match std::fs::read_to_string("/proc/meminfo") {
            Ok(text) => parse_meminfo(&text),
            Err(e) => {
                tracing::warn!("cannot read /proc/meminfo: {e}");
                (None, None)
            }
        }
    }
    #[cfg(target_os = "macos")]
    {
        // macOS keeps most free memory as reclaimable cache; the total is the honest budget.
        let total = std::process::Command::new("sysctl")
            .args(["-n", "hw.memsize"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        (total, total)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        (None, None)
    }
}

/// `MemTotal` and `MemAvailable` of /proc/meminfo, which are in KiB.
pub fn parse_meminfo(text: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    (field("MemTotal"), field("MemAvailable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_are_read_in_bytes() {
        let text =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20480000 kB\n";
        assert_eq!(
            parse_meminfo(text),
            (Some(24_576_000 * 1024), Some(20_480_000 * 1024))
        );
        assert_eq!(parse_meminfo("garbage"), (None, None));
    }

    #[test]
    fn this_machine_reports_its_ram_and_a_cpu_build_says_it_has_no_gpu() {
        let hw = detect();
        if cfg!(target_os = "linux") {
            let (total, avail) = (hw.ram_total_bytes.unwrap(), hw.ram_available_bytes.unwrap());
            assert!(total > 256 << 20 && avail <= total, "{hw:?}");
        }
        if !cfg!(any(feature = "cuda", feature = "metal")) {
            assert!(hw.gpus.is_empty());
            assert!(
                hw.gpu_note.as_deref().unwrap().contains("no CUDA"),
                "{hw:?}"
            );
        }
    }
}
