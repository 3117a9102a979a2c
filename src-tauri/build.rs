//! Tauri's build step, with the app's own commands declared so that the capability file can
//! grant the main window exactly these and nothing else.

/// Every command the UI may invoke; `capabilities/main.json` grants them through the
/// `allow-app-commands` set in `permissions/app-commands.toml`.
const COMMANDS: &[&str] = &[
    "app_info",
    "window_painted",
    "model_info",
    "load_model",
    "cancel_load",
    "pick_model_dir",
    "find_models",
    "remove_model",
    "measured_speeds",
    "download_model",
    "stop_download",
    "check_server",
    "use_server",
    "saved_server",
    "pick_pictures",
    "attach_picture_path",
    "attach_picture_bytes",
    "capture_screen",
    "crop_capture",
    "cancel_capture",
    "view_picture",
    "crop_picture",
    "ask",
    "solve",
    "stop_generation",
    "list_conversations",
    "get_conversation",
    "search_history",
    "rename_conversation",
    "set_pinned",
    "delete_conversation",
    "export_conversation",
    "import_conversation",
    "open_link",
    "pick_benchmark",
    "start_eval",
    "stop_eval",
    "list_eval_runs",
    "get_eval_run",
    "get_eval_item",
    "open_eval_item",
    "delete_eval_run",
];

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        panic!("tauri build step failed: {e:#}");
    }
}
