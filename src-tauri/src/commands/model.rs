//! Loading a model folder and saying what is loaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use onevision_engine::catalog::cache::model_folder_name;
use onevision_engine::device::{DTypeChoice, DeviceChoice};
use onevision_engine::worker::Worker;
use onevision_model::{LoadOptions, Quantization};
use tauri::State;

use super::blocking;
use crate::dto::{AppInfo, LoadRequest, ModelInfoDto};
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};
use crate::speeds::{self, MeasuredSpeed};
use crate::state::AppState;

/// Replies read for the measured speeds: the newest of every precision a student tried.
const SPEED_REPLIES: u32 = 400;

#[tauri::command(rename_all = "snake_case")]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.display().to_string(),
        history_error: state.history_error(),
    }
}

/// The window painted its first frame: logged once with the time since the app started (what
/// bench/startup.py reads).
#[tauri::command(rename_all = "snake_case")]
pub fn window_painted(state: State<'_, AppState>) {
    if let Some(elapsed) = state.first_paint() {
        tracing::info!(
            since_start_ms = elapsed.as_secs_f64() * 1e3,
            "window painted"
        );
    }
}

#[tauri::command(rename_all = "snake_case")]
pub fn model_info(state: State<'_, AppState>) -> Option<ModelInfoDto> {
    state.loaded().map(|e| ModelInfoDto::from(e.as_ref()))
}

/// Checks the panel's choices before anything is loaded, naming the value at fault.
pub fn load_options(r: &LoadRequest) -> AppResult<(PathBuf, DeviceChoice, LoadOptions)> {
    let dir = r.dir.trim();
    if dir.is_empty() {
        return Err(AppError::new("choose a model folder first"));
    }
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        return Err(AppError::new(format!(
            "{} is not a folder; choose the folder that holds config.json and the .safetensors files",
            dir.display()
        )));
    }
    let device: DeviceChoice = r.device.parse()?;
    let dtype: DTypeChoice = r.dtype.parse()?;
    let quant: Quantization = r.quant.parse()?;
    Ok((
        dir,
        device,
        LoadOptions {
            device: onevision_model::Device::Cpu,
            dtype: dtype.dtype(),
            quant,
            packed_dir: onevision_engine::catalog::cache::packed_dir(),
        },
    ))
}

/// Loads the folder on a new engine thread; the model it replaces is unloaded once its answer
/// (if any) has stopped. A load cancelled (or overtaken by another) meanwhile is dropped when
/// its reading ends and the model in use stays.
#[tauri::command(rename_all = "snake_case")]
pub async fn load_model(
    state: State<'_, AppState>,
    request: LoadRequest,
) -> AppResult<ModelInfoDto> {
    let (dir, device, mut opts) = load_options(&request)?;
    let load = state.begin_load();
    state.stop();
    let shown = dir.display().to_string();
    let worker = blocking(move || {
        opts.device = device.open()?;
        Ok(Worker::start(&dir, opts)?)
    })
    .await?;
    if !state.load_wanted(load) {
        let _ = blocking(move || {
            drop(worker);
            Ok(())
        })
        .await;
        return Err(AppError::new(format!(
            "loading {shown} was cancelled; the model in use (if any) stays"
        )));
    }
    let info = ModelInfoDto::from(worker.info());
    swap_engine(&state, AppEngine::Local(worker)).await;
    Ok(info)
}

/// How fast the model in `dir` ran here, per precision, from its newest replies in the history.
#[tauri::command(rename_all = "snake_case")]
pub async fn measured_speeds(
    state: State<'_, AppState>,
    dir: String,
) -> AppResult<Vec<MeasuredSpeed>> {
    let dir = dir.trim();
    if dir.is_empty() {
        return Ok(Vec::new());
    }
    let name = model_folder_name(Path::new(dir));
    let replies = state.store()?.reply_speeds(&name, SPEED_REPLIES).await?;
    Ok(speeds::summarise(&replies))
}

/// Stops waiting for the load under way: its model is dropped once read.
#[tauri::command(rename_all = "snake_case")]
pub fn cancel_load(state: State<'_, AppState>) {
    state.cancel_load();
}

/// Puts `engine` in place of the one answering now, which is unloaded off the async threads
/// (dropping a local model joins its engine thread).
pub async fn swap_engine(state: &AppState, engine: AppEngine) {
    if let Some(old) = state.replace_engine(Some(Arc::new(engine))) {
        let _ = blocking(move || {
            drop(old);
            Ok(())
        })
        .await;
    }
}

/// The native folder picker; `None` when cancelled.
#[tauri::command(rename_all = "snake_case")]
pub async fn pick_model_dir() -> AppResult<Option<String>> {
    blocking(|| {
        Ok(rfd::FileDialog::new()
            .set_title("Choose a model folder")
            .pick_folder()
            .map(|p| p.display().to_string()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &str, device: &str, dtype: &str, quant: &str) -> LoadRequest {
        LoadRequest {
            dir: dir.into(),
            device: device.into(),
            dtype: dtype.into(),
            quant: quant.into(),
        }
    }

    #[test]
    fn panel_choices_are_checked_before_loading() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        let (_, device, opts) = load_options(&request(&dir, "cpu", "bf16", "q8_0")).unwrap();
        assert_eq!(device, DeviceChoice::Cpu);
        assert_eq!(opts.quant, Quantization::Q8_0);
        assert_eq!(opts.dtype, Some(onevision_model::DType::BF16));

        let e = load_options(&request("  ", "cpu", "auto", "none")).unwrap_err();
        assert_eq!(e.to_string(), "choose a model folder first");
        let e = load_options(&request("/no/such/model", "cpu", "auto", "none")).unwrap_err();
        assert!(
            e.to_string().starts_with("/no/such/model is not a folder"),
            "{e}"
        );
        let e = load_options(&request(&dir, "tpu", "auto", "none")).unwrap_err();
        assert!(e.to_string().contains("\"tpu\""), "{e}");
        let e = load_options(&request(&dir, "cpu", "auto", "q2")).unwrap_err();
        assert!(e.to_string().contains("\"q2\""), "{e}");
    }
}
