//! What the model panel shows before anything is loaded: the catalog's models, the copies of
//! them already on this machine (the Hugging Face cache), and in words what this machine can run.

use std::path::Path;

use onevision_engine::catalog::cache::hub_cache_dir;
use onevision_engine::catalog::discover::{discover, FoundModel};
use onevision_engine::catalog::CATALOG;
use onevision_engine::hardware::fit::{choose, Wish};
use onevision_engine::hardware::{self, Hardware};

use super::blocking;
use crate::dto::{MachineModels, ModelCopy, ModelOffer};
use crate::error::AppResult;

/// The panel's list for `hw` and the cache at `cache`; blocking (reads the cache).
pub fn machine_models(hw: &Hardware, cache: Option<&Path>) -> MachineModels {
    let found = discover(cache, &[]);
    let copies_of = |id: &str| -> Vec<ModelCopy> {
        found
            .iter()
            .filter(|f| f.catalog_id == Some(id))
            .map(ModelCopy::from)
            .collect()
    };
    MachineModels {
        hub_cache: cache.map(|c| c.display().to_string()),
        gpu_note: hw.gpu_note.clone(),
        ram_total_bytes: hw.ram_total_bytes,
        models: CATALOG
            .iter()
            .map(|e| {
                let fit = choose(e.name, &e.size, hw, Wish::default());
                ModelOffer {
                    id: e.id.to_owned(),
                    name: e.name.to_owned(),
                    repo: e.repo.to_owned(),
                    download_bytes: e.download_bytes,
                    gated: e.gated,
                    preset: e.preset,
                    advice: fit.advice,
                    fits: fit.fits,
                    device: fit.device.to_owned(),
                    dtype: fit.dtype.to_owned(),
                    quant: fit.quant.to_owned(),
                    copies: copies_of(e.id),
                }
            })
            .collect(),
    }
}

impl From<&FoundModel> for ModelCopy {
    fn from(f: &FoundModel) -> Self {
        ModelCopy {
            path: f.path.display().to_string(),
            complete: f.complete,
            missing: f.missing.clone(),
        }
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn find_models() -> AppResult<MachineModels> {
    blocking(|| {
        let hw = hardware::detect();
        Ok(machine_models(&hw, hub_cache_dir().as_deref()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_models_are_offered_with_advice_and_their_cached_copies() {
        let cache = tempfile::tempdir().unwrap();
        // A complete snapshot of the 3B in the hub's layout, made from the parity fixture.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/parity/fixtures/real_tokenizer_chat/model");
        let snapshot = cache
            .path()
            .join("models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc123");
        std::fs::create_dir_all(&snapshot).unwrap();
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), snapshot.join(entry.file_name())).unwrap();
        }
        let refs = cache
            .path()
            .join("models--Qwen--Qwen2.5-VL-3B-Instruct/refs");
        std::fs::create_dir_all(&refs).unwrap();
        std::fs::write(refs.join("main"), "abc123").unwrap();

        let hw = Hardware {
            gpus: Vec::new(),
            gpu_note: Some("this build has no CUDA support".into()),
            ram_total_bytes: Some(24 << 30),
            ram_available_bytes: Some(20 << 30),
        };
        let m = machine_models(&hw, Some(cache.path()));
        assert_eq!(m.models.len(), CATALOG.len());
        assert_eq!(
            m.gpu_note.as_deref(),
            Some("this build has no CUDA support")
        );
        let seven = m.models.iter().find(|o| o.id == "r1-onevision-7b").unwrap();
        assert!(seven.copies.is_empty());
        // 20 GB free cannot hold a 7B in f32 on the CPU; the panel must say what does fit.
        assert_eq!(
            (seven.device.as_str(), seven.quant.as_str()),
            ("cpu", "q8_0")
        );
        assert!(seven.advice.contains("q8_0"), "{}", seven.advice);
        let three = m
            .models
            .iter()
            .find(|o| o.repo == "Qwen/Qwen2.5-VL-3B-Instruct")
            .unwrap();
        assert_eq!(three.copies.len(), 1, "{:?}", three.copies);
        assert!(three.copies[0].path.ends_with("snapshots/abc123"));
        assert!(three.copies[0].complete, "{:?}", three.copies[0].missing);
        assert!(m.models.iter().any(|o| o.gated));
    }
}
