//! The commands the window may invoke (each listed in build.rs and granted in
//! capabilities/main.json). They validate, move blocking work off the async threads and return
//! one sentence on failure.

pub mod ask;
pub mod download;
pub mod eval;
pub mod history;
pub mod machine;
pub mod model;
pub mod pictures;
pub mod server;

use crate::error::{AppError, AppResult};

/// Runs blocking work (decoding, loading, dialogs) on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| AppError::new(format!("a background task failed: {e}")))?
}
