//! OneVision Desk's desktop shell: a thin Tauri layer that hands the window's questions to the
//! engine's worker thread and records everything in the history store. All logic that does not
//! need a window lives in the crates under `crates/`.

mod attachments;
mod capture;
mod commands;
mod downloads;
mod dto;
mod engine;
mod error;
mod job;
mod reply;
mod secrets;
mod seen;
mod speeds;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use onevision_store::Store;

use crate::state::AppState;

/// The per-user data folder, shared with `onevision history` and `onevision ask --save`.
pub const APP_DIR_NAME: &str = "onevision-desk";

/// Overrides the data folder (a portable install, or a test that must not touch real history).
pub const DATA_DIR_ENV: &str = "ONEVISION_DESK_DATA_DIR";

fn data_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir()
        .map(|d| d.join(APP_DIR_NAME))
        .ok_or_else(|| format!("this system has no per-user data folder; set {DATA_DIR_ENV}"))
}

/// On Linux and the BSDs the window needs an X11 or Wayland session; without one GTK would
/// abort with a panic, so say it in words instead.
fn graphical_session_missing() -> Option<&'static str> {
    let unix_desktop = cfg!(all(
        unix,
        not(target_os = "macos"),
        not(target_os = "android")
    ));
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    (unix_desktop && !has_display).then_some(
        "OneVision Desk needs a graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set); \
         in a terminal, use the `onevision` command instead",
    )
}

pub fn main() -> ExitCode {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(why) = graphical_session_missing() {
        eprintln!("{why}");
        return ExitCode::FAILURE;
    }
    let (dir, store) = match data_dir() {
        Ok(dir) => {
            let store = tauri::async_runtime::block_on(Store::open_in(&dir));
            (dir, store.map_err(|e| e.to_string()))
        }
        Err(e) => (PathBuf::new(), Err(e)),
    };
    if let Err(e) = &store {
        tracing::error!("history unavailable: {e}");
    }
    let state = AppState::new(dir, store, started);
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::model::app_info,
            commands::model::model_info,
            commands::model::window_painted,
            commands::model::load_model,
            commands::model::cancel_load,
            commands::model::pick_model_dir,
            commands::model::measured_speeds,
            commands::machine::find_models,
            commands::machine::remove_model,
            commands::download::download_model,
            commands::download::stop_download,
            commands::server::check_server,
            commands::server::use_server,
            commands::server::saved_server,
            commands::pictures::pick_pictures,
            commands::pictures::attach_picture_path,
            commands::pictures::attach_picture_bytes,
            commands::pictures::capture_screen,
            commands::pictures::crop_capture,
            commands::pictures::cancel_capture,
            commands::pictures::view_picture,
            commands::pictures::crop_picture,
            commands::pictures::open_link,
            commands::ask::ask,
            commands::ask::solve,
            commands::ask::stop_generation,
            commands::history::list_conversations,
            commands::history::get_conversation,
            commands::history::search_history,
            commands::history::rename_conversation,
            commands::history::set_pinned,
            commands::history::delete_conversation,
            commands::history::export_conversation,
            commands::history::import_conversation,
            commands::eval::pick_benchmark,
            commands::eval::start_eval,
            commands::eval::stop_eval,
            commands::eval::list_eval_runs,
            commands::eval::get_eval_run,
            commands::eval::get_eval_item,
            commands::eval::open_eval_item,
            commands::eval::delete_eval_run,
        ])
        .run(tauri::generate_context!());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("OneVision Desk could not start: {e}");
            ExitCode::FAILURE
        }
    }
}
