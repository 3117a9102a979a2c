//! Downloading a catalog model from the model panel, into the standard Hugging Face cache (where
//! `onevision models download` puts it too). Progress streams over a channel; a stop keeps what
//! arrived, and the next download of the same model resumes from it.

use onevision_engine::catalog::download::{download, DownloadOptions, DownloadProgress};
use onevision_engine::catalog::error::CatalogError;
use onevision_engine::catalog::{find, CatalogEntry};
use tauri::ipc::Channel;
use tauri::State;

use super::blocking;
use crate::dto::DownloadOutcome;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Downloads the catalog model `id`; returns when it is complete and checked, or stopped.
/// `token` (for a gated repository) is used for this download only and never stored; without
/// one, the token `huggingface-cli login` saved (or `HF_TOKEN`) is used.
#[tauri::command(rename_all = "snake_case")]
pub async fn download_model(
    state: State<'_, AppState>,
    id: String,
    token: Option<String>,
    channel: Channel<DownloadProgress>,
) -> AppResult<DownloadOutcome> {
    let entry = catalog_entry(&id)?;
    let mut opts = DownloadOptions::from_env()?;
    if let Some(token) = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        opts.token = Some(token);
    }
    let running = state.downloads.begin(entry.id, entry.name)?;
    opts.cancel = running.cancel.clone();
    blocking(move || {
        let _running = running;
        let mut send = |p: &DownloadProgress| {
            // A closed window only stops the reports; the download goes on to completion.
            let _ = channel.send(p.clone());
        };
        fetch(entry, &opts, &mut send)
    })
    .await
}

/// Stops the download of `id` between two chunks; false when none is running.
#[tauri::command(rename_all = "snake_case")]
pub fn stop_download(state: State<'_, AppState>, id: String) -> bool {
    state.downloads.stop(&id)
}

fn catalog_entry(id: &str) -> AppResult<&'static CatalogEntry> {
    find(id).ok_or_else(|| AppError::new(format!("{id:?} is not a model in the catalog")))
}

/// The download, with a stop reported as an outcome rather than an error.
fn fetch(
    entry: &CatalogEntry,
    opts: &DownloadOptions,
    on_progress: &mut dyn FnMut(&DownloadProgress),
) -> AppResult<DownloadOutcome> {
    match download(entry.repo, opts, on_progress) {
        Ok(done) => Ok(DownloadOutcome::Done {
            snapshot: done.snapshot.display().to_string(),
            total_bytes: done.total_bytes,
            fetched_bytes: done.fetched_bytes,
            seconds: done.seconds,
        }),
        Err(CatalogError::Cancelled) => Ok(DownloadOutcome::Stopped),
        // The engine's sentence points at the command's --token; here the token has a field.
        Err(CatalogError::NeedsToken { repo, endpoint }) => Err(AppError::new(format!(
            "{} is gated: accept the model's conditions at {endpoint}/{repo} while signed in, then \
             paste a Hugging Face access token into the field below and download again",
            entry.name
        ))),
        Err(e) => Err(AppError::new(format!(
            "cannot download {}: {e}",
            entry.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn unknown_ids_are_refused_by_name() {
        let e = catalog_entry("gpt-5").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("\"gpt-5\" is not a model in the catalog")
        );
        assert_eq!(
            catalog_entry("r1-onevision-7b").map(|e| e.repo).ok(),
            Some("Fancy-MLLM/R1-Onevision-7B")
        );
    }

    fn options(endpoint: &str, cache: &std::path::Path) -> DownloadOptions {
        DownloadOptions {
            endpoint: endpoint.to_owned(),
            cache_dir: cache.to_path_buf(),
            revision: "main".into(),
            token: None,
            retries: 0,
            cancel: Arc::new(AtomicBool::new(false)),
            free_space: |_| Ok(u64::MAX),
        }
    }

    #[test]
    fn a_failure_names_the_model_and_the_hub() {
        let cache = tempfile::tempdir().unwrap();
        let entry = catalog_entry("qwen2.5-vl-3b").unwrap();
        // Nothing listens on port 9 (discard) here: the hub cannot be reached.
        let opts = options("http://127.0.0.1:9", cache.path());
        let err = fetch(entry, &opts, &mut |_| {})
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("cannot download Qwen2.5-VL-3B-Instruct: cannot reach http://127.0.0.1:9/api/models/Qwen/Qwen2.5-VL-3B-Instruct"),
            "{err}"
        );
    }

    #[test]
    fn a_gated_model_without_a_token_points_at_the_token_field() {
        use std::io::{Read, Write};
        // A hub that answers 401 to anyone without a token, as the hub does for a gated repo.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let hub = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request).unwrap();
            conn.write_all(
                b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .unwrap();
        });
        let cache = tempfile::tempdir().unwrap();
        let entry = catalog_entry("ovr-7b-rl").unwrap();
        let err = fetch(entry, &options(&endpoint, cache.path()), &mut |_| {})
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        hub.join().unwrap();
        assert_eq!(
            err,
            format!(
                "OVR-7B-RL is gated: accept the model's conditions at {endpoint}/Kangheng/OVR-7B-RL \
                 while signed in, then paste a Hugging Face access token into the field below and \
                 download again"
            )
        );
    }
}
