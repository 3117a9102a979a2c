//! What the model panel shows before anything is loaded: the catalog's models, the copies of
//! them already on this machine (the Hugging Face cache and the folders the student added), and
//! in words what this machine can run.

use std::path::{Path, PathBuf};

use onevision_engine::catalog::cache::model_folder_name;
use onevision_engine::catalog::cache::{hub_cache_dir, packed_dir};
use onevision_engine::catalog::discover::{discover, FoundModel, Source, MODEL_TYPE};
use onevision_engine::catalog::hub::token_from_env;
use onevision_engine::catalog::remove;
use onevision_engine::catalog::CATALOG;
use onevision_engine::hardware::fit::{choose, Wish};
use onevision_engine::hardware::{self, Hardware};

use tauri::State;

use super::blocking;
use crate::dto::{MachineModels, ModelCopy, ModelOffer, OtherModel, RemovedModel};
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The panel's list for `hw`, the cache at `cache` and the added folders `extra`; blocking (reads
/// the disk).
pub fn machine_models(hw: &Hardware, cache: Option<&Path>, extra: &[PathBuf]) -> MachineModels {
    let found = discover(cache, extra);
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
        has_token: token_from_env().is_some(),
        others: found
            .iter()
            .filter(|f| f.catalog_id.is_none() && f.model_type.as_deref() == Some(MODEL_TYPE))
            .map(|f| OtherModel {
                name: model_folder_name(&f.path),
                path: f.path.display().to_string(),
                complete: f.complete,
                missing: f.missing.clone(),
                bytes: f.bytes,
                downloaded: f.source == Source::HubCache,
            })
            .collect(),
        folder_errors: extra
            .iter()
            .filter(|d| !d.is_dir())
            .map(|d| {
                format!(
                    "{} is not a folder any more (moved or deleted?); remove it from the list",
                    d.display()
                )
            })
            .collect(),
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
                    licence: e.licence.to_owned(),
                    note: e.note.to_owned(),
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
            bytes: f.bytes,
            downloaded: f.source == Source::HubCache,
        }
    }
}

/// `folders`: the folders the student added to look for models in, besides the hub cache.
#[tauri::command(rename_all = "snake_case")]
pub async fn find_models(folders: Vec<String>) -> AppResult<MachineModels> {
    let extra: Vec<PathBuf> = folders.into_iter().map(PathBuf::from).collect();
    blocking(move || {
        let hw = hardware::detect();
        Ok(machine_models(&hw, hub_cache_dir().as_deref(), &extra))
    })
    .await
}

/// Deletes the model at `path` (a cache snapshot or an added folder's checkpoint) and the packed
/// weights kept for it. Refused for the model in use and while a download runs (it may be
/// writing into the same cache folder).
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_model(state: State<'_, AppState>, path: String) -> AppResult<RemovedModel> {
    let path = PathBuf::from(path.trim());
    if let Some(engine) = state.loaded() {
        if let AppEngine::Local(w) = engine.as_ref() {
            if same_folder(&w.info().dir, &path) {
                return Err(AppError::new(format!(
                    "{} is the model in use; load another before removing it",
                    path.display()
                )));
            }
        }
    }
    if state.downloads.any_running() {
        return Err(AppError::new(
            "a download is running; remove models once it has finished or been stopped",
        ));
    }
    blocking(move || {
        let removed = remove::remove_model(&path, packed_dir().as_deref())?;
        tracing::info!(path = %path.display(), freed_bytes = removed.freed_bytes, "model removed");
        Ok(RemovedModel {
            freed_bytes: removed.freed_bytes,
            packed_files: removed.packed_files,
        })
    })
    .await
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_model(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }

    #[test]
    fn catalog_models_are_offered_with_advice_and_their_cached_copies() {
        let cache = tempfile::tempdir().unwrap();
        // A complete snapshot of the 3B in the hub's layout, made from the parity fixture.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/parity/fixtures/real_tokenizer_chat/model");
        let snapshot = cache
            .path()
            .join("models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc123");
        copy_model(&fixture, &snapshot);
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
        // An added folder holding a catalog model under its own name, a model the catalog does
        // not know, and a folder that is gone.
        let added = tempfile::tempdir().unwrap();
        for name in ["R1-Onevision-7B", "my-finetune"] {
            copy_model(&fixture, &added.path().join(name));
        }
        // A model of another kind is not offered.
        let llama = added.path().join("llama");
        std::fs::create_dir_all(&llama).unwrap();
        std::fs::write(llama.join("config.json"), r#"{"model_type": "llama"}"#).unwrap();
        let gone = added.path().join("deleted");
        let m = machine_models(
            &hw,
            Some(cache.path()),
            &[added.path().to_path_buf(), gone.clone()],
        );
        assert_eq!(m.models.len(), CATALOG.len());
        assert_eq!(
            m.gpu_note.as_deref(),
            Some("this build has no CUDA support")
        );
        let seven = m.models.iter().find(|o| o.id == "r1-onevision-7b").unwrap();
        assert_eq!(seven.copies.len(), 1, "{:?}", seven.copies);
        assert!(seven.copies[0].path.ends_with("R1-Onevision-7B"));
        assert!(
            !seven.copies[0].downloaded,
            "an added folder is the student's own"
        );
        assert_eq!(m.others.len(), 1, "{:?}", m.others);
        assert_eq!(m.others[0].name, "my-finetune");
        assert!(!m.others[0].downloaded);
        assert!(m.others[0].complete, "{:?}", m.others[0].missing);
        assert_eq!(m.folder_errors.len(), 1);
        assert!(
            m.folder_errors[0].starts_with(&gone.display().to_string()),
            "{:?}",
            m.folder_errors
        );
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
        assert!(
            three.copies[0].downloaded,
            "a cache snapshot was downloaded"
        );
        assert!(three.copies[0].complete, "{:?}", three.copies[0].missing);
        assert!(m.models.iter().any(|o| o.gated));
    }
}
