//! Asking a server instead of this computer: "test connection" (what answers there and whether its
//! models read pictures), switching the app to one of its models, and remembering the choice.
//! The API key is kept, when the student asks, in a file of its own that only this user can read
//! (no OS keyring is used yet); it never enters the history, the settings the replies record, or
//! the logs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use onevision_api::client::{
    base_url, list_models, probe_pictures, served_by, ClientOptions, ServerEngine,
};
use onevision_api::wire::ModelCard;
use serde::{Deserialize, Serialize};
use tauri::State;

use super::blocking;
use super::model::swap_engine;
use crate::dto::{ModelInfoDto, SavedServer, ServerCheck, ServerModel, ServerRequest};
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const SERVER_FILE: &str = "server.json";
const KEY_FILE: &str = "server-key.json";

/// The key and the one server address it is for: a key is never sent to another server.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    base_url: String,
    api_key: String,
}

fn describe(card: &ModelCard) -> ServerModel {
    ServerModel {
        id: card.id.clone(),
        takes_pictures: card
            .input_modalities
            .as_ref()
            .map(|m| m.iter().any(|x| x == "image")),
        context_tokens: card.max_model_len,
    }
}

fn remembered_key(dir: &Path, base: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(KEY_FILE)).ok()?;
    let stored: StoredKey = serde_json::from_str(&text).ok()?;
    (stored.base_url == base).then_some(stored.api_key)
}

/// Writes `text` so that only this user can read it (0600 on Unix), replacing the file whole.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn key_for(dir: &Path, base: &str, typed: Option<&str>) -> Option<String> {
    match typed.map(str::trim) {
        Some(k) if !k.is_empty() => Some(k.to_owned()),
        _ => remembered_key(dir, base),
    }
}

/// Models whose list entry does not say whether they read pictures are asked, at most this many.
const MAX_PROBES: usize = 4;

/// "Test connection": the server's models, or one sentence saying why it did not answer. A model
/// the list says nothing about is asked a one-token question with a small picture, to learn
/// whether it reads pictures.
#[tauri::command(rename_all = "snake_case")]
pub async fn check_server(
    state: State<'_, AppState>,
    address: String,
    api_key: Option<String>,
) -> AppResult<ServerCheck> {
    let base = base_url(&address).map_err(|e| AppError::new(e.to_string()))?;
    let key = key_for(&state.data_dir, &base, api_key.as_deref());
    let start = Instant::now();
    let options = ClientOptions::default();
    let models = list_models(&base, key.as_deref(), &options)
        .await
        .map_err(|e| AppError::new(e.to_string()))?;
    if models.is_empty() {
        return Err(AppError::new(format!(
            "the server at {base} lists no models"
        )));
    }
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut described: Vec<ServerModel> = models.iter().map(describe).collect();
    for m in described
        .iter_mut()
        .filter(|m| m.takes_pictures.is_none())
        .take(MAX_PROBES)
    {
        m.takes_pictures = probe_pictures(&base, &m.id, key.as_deref(), &options).await;
    }
    Ok(ServerCheck {
        base_url: base,
        served_by: models
            .first()
            .and_then(|m| served_by(&m.owned_by))
            .map(str::to_owned),
        models: described,
        elapsed_ms,
    })
}

/// Makes the server's model the one that answers (the model loaded here, if any, is unloaded).
#[tauri::command(rename_all = "snake_case")]
pub async fn use_server(
    state: State<'_, AppState>,
    request: ServerRequest,
) -> AppResult<ModelInfoDto> {
    let base = base_url(&request.address).map_err(|e| AppError::new(e.to_string()))?;
    let model = request.model.trim().to_owned();
    if model.is_empty() {
        return Err(AppError::new("choose one of the server's models first"));
    }
    let dir = state.data_dir.clone();
    let key = key_for(&dir, &base, request.api_key.as_deref());
    let start = Instant::now();
    let card = list_models(&base, key.as_deref(), &ClientOptions::default())
        .await
        .map_err(|e| AppError::new(e.to_string()))?
        .into_iter()
        .find(|m| m.id == model)
        .ok_or_else(|| {
            AppError::new(format!(
                "the server at {base} does not list a model \"{model}\""
            ))
        })?;
    let connect_ms = start.elapsed().as_secs_f64() * 1e3;
    let engine = {
        let base = base.clone();
        let key = key.clone();
        let model = model.clone();
        blocking(move || {
            ServerEngine::connect(
                &base,
                Some(&model),
                key.as_deref(),
                ClientOptions::default(),
            )
            .map_err(|e| AppError::new(e.to_string()))
        })
        .await?
    };
    let mut described = describe(&card);
    if described.takes_pictures.is_none() {
        described.takes_pictures =
            probe_pictures(&base, &model, key.as_deref(), &ClientOptions::default()).await;
    }
    let engine = AppEngine::Server {
        engine,
        connect_ms,
        context_tokens: described.context_tokens,
        takes_pictures: described.takes_pictures,
    };
    let info = ModelInfoDto::from(&engine);
    state.stop();
    swap_engine(&state, engine).await;
    remember(&dir, &base, &model, key.as_deref(), request.remember_key)?;
    Ok(info)
}

fn remember(
    dir: &Path,
    base: &str,
    model: &str,
    key: Option<&str>,
    remember_key: bool,
) -> AppResult<()> {
    let key_path: PathBuf = dir.join(KEY_FILE);
    let saved_key = match (remember_key, key) {
        (true, Some(k)) => {
            let stored = StoredKey {
                base_url: base.to_owned(),
                api_key: k.to_owned(),
            };
            let text = serde_json::to_string(&stored)
                .map_err(|e| AppError::new(format!("cannot write the key: {e}")))?;
            write_private(&key_path, &text).map_err(|e| {
                AppError::new(format!(
                    "cannot keep the key in {}: {e}",
                    key_path.display()
                ))
            })?;
            true
        }
        _ => {
            if key_path.exists() {
                std::fs::remove_file(&key_path).map_err(|e| {
                    AppError::new(format!("cannot remove {}: {e}", key_path.display()))
                })?;
            }
            false
        }
    };
    let saved = SavedServer {
        address: base.to_owned(),
        model: model.to_owned(),
        has_key: saved_key,
    };
    let path = dir.join(SERVER_FILE);
    let text = serde_json::to_string_pretty(&saved)
        .map_err(|e| AppError::new(format!("cannot write {}: {e}", path.display())))?;
    write_private(&path, &text)
        .map_err(|e| AppError::new(format!("cannot write {}: {e}", path.display())))
}

/// The server used last, to fill the form; `None` when there is none (or its file is unreadable:
/// the form then starts empty).
#[tauri::command(rename_all = "snake_case")]
pub fn saved_server(state: State<'_, AppState>) -> Option<SavedServer> {
    let text = std::fs::read_to_string(state.data_dir.join(SERVER_FILE)).ok()?;
    let mut saved: SavedServer = serde_json::from_str(&text).ok()?;
    saved.has_key = remembered_key(&state.data_dir, &saved.address).is_some();
    Some(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_key_is_private_and_only_for_its_server() {
        let dir = tempfile::tempdir().unwrap();
        remember(dir.path(), "http://a:8000/v1", "m", Some("k1"), true).unwrap();
        assert_eq!(
            remembered_key(dir.path(), "http://a:8000/v1").as_deref(),
            Some("k1")
        );
        assert_eq!(remembered_key(dir.path(), "http://b:8000/v1"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The server file holds the address and model, never the key.
        let server = std::fs::read_to_string(dir.path().join(SERVER_FILE)).unwrap();
        assert!(server.contains("http://a:8000/v1") && !server.contains("k1"));
        // Not remembering forgets a key kept before.
        remember(dir.path(), "http://a:8000/v1", "m", Some("k1"), false).unwrap();
        assert_eq!(remembered_key(dir.path(), "http://a:8000/v1"), None);
        // A typed key wins over a remembered one; an empty one does not count.
        remember(dir.path(), "http://a:8000/v1", "m", Some("k1"), true).unwrap();
        assert_eq!(
            key_for(dir.path(), "http://a:8000/v1", Some("k2")).as_deref(),
            Some("k2")
        );
        assert_eq!(
            key_for(dir.path(), "http://a:8000/v1", Some("  ")).as_deref(),
            Some("k1")
        );
    }
}
