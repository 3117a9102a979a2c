//! Asking a server instead of this computer: "test connection" (what answers there and whether its
//! models read pictures), switching the app to one of its models, and remembering the choice.
//! The API key is kept, when the student asks, in the OS keyring where one runs, else in a file
//! only this user can read (`secrets`); it never enters the history, the settings the replies
//! record, or the logs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use onevision_api::client::{
    base_url, list_models, probe_pictures, served_by, ClientOptions, ServerEngine,
};
use onevision_api::wire::ModelCard;
use tauri::State;

use super::blocking;
use super::model::swap_engine;
use crate::dto::{ModelInfoDto, SavedServer, ServerCheck, ServerModel, ServerRequest};
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};
use crate::secrets;
use crate::state::AppState;

const SERVER_FILE: &str = "server.json";

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

/// The typed key, else the one remembered for this server. Blocking (the keyring).
fn key_for(dir: &Path, base: &str, typed: Option<&str>) -> Option<String> {
    match typed.map(str::trim) {
        Some(k) if !k.is_empty() => Some(k.to_owned()),
        _ => secrets::remembered_key(dir, base, true),
    }
}

async fn key_off_thread(dir: PathBuf, base: String, typed: Option<String>) -> Option<String> {
    blocking(move || Ok(key_for(&dir, &base, typed.as_deref())))
        .await
        .ok()
        .flatten()
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
    let key = key_off_thread(state.data_dir.clone(), base.clone(), api_key).await;
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
    let key = key_off_thread(dir.clone(), base.clone(), request.api_key.clone()).await;
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
    // The list just read found the model: no second round trip to the server.
    let engine = ServerEngine::new(
        base.clone(),
        model.clone(),
        key.as_deref(),
        ClientOptions::default(),
    );
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
    // A folder still being read is no longer wanted: the server answers now.
    state.begin_load();
    state.stop();
    swap_engine(&state, engine).await;
    let remember_key = request.remember_key;
    blocking(move || remember(&dir, &base, &model, key.as_deref(), remember_key, true)).await?;
    Ok(info)
}

/// Keeps the server and model for the next start, and the key when asked (the keyring where one
/// runs, else the private file); not asking forgets a key kept before.
fn remember(
    dir: &Path,
    base: &str,
    model: &str,
    key: Option<&str>,
    remember_key: bool,
    use_keyring: bool,
) -> AppResult<()> {
    let kept = match (remember_key, key) {
        (true, Some(k)) => {
            secrets::remember_key(dir, base, k, use_keyring)
                .map_err(|e| AppError::new(format!("cannot keep the key: {e}")))?;
            true
        }
        _ => {
            secrets::forget_key(dir, base, use_keyring)
                .map_err(|e| AppError::new(format!("cannot forget the key: {e}")))?;
            false
        }
    };
    let saved = SavedServer {
        address: base.to_owned(),
        model: model.to_owned(),
        has_key: kept,
    };
    let path = dir.join(SERVER_FILE);
    let text = serde_json::to_string_pretty(&saved)
        .map_err(|e| AppError::new(format!("cannot write {}: {e}", path.display())))?;
    secrets::write_private(&path, &text)
        .map_err(|e| AppError::new(format!("cannot write {}: {e}", path.display())))
}

/// The server used last, to fill the form; `None` when there is none (or its file is unreadable:
/// the form then starts empty).
#[tauri::command(rename_all = "snake_case")]
pub async fn saved_server(state: State<'_, AppState>) -> AppResult<Option<SavedServer>> {
    let dir = state.data_dir.clone();
    blocking(move || {
        let Some(text) = std::fs::read_to_string(dir.join(SERVER_FILE)).ok() else {
            return Ok(None);
        };
        let Ok(mut saved) = serde_json::from_str::<SavedServer>(&text) else {
            return Ok(None);
        };
        saved.has_key = secrets::remembered_key(&dir, &saved.address, true).is_some();
        Ok(Some(saved))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_file_holds_address_and_model_never_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = "http://a:8000/v1";
        remember(dir.path(), a, "m", Some("k1"), true, false).unwrap();
        let server = std::fs::read_to_string(dir.path().join(SERVER_FILE)).unwrap();
        assert!(server.contains(a) && server.contains("\"m\"") && !server.contains("k1"));
        assert!(server.contains("\"has_key\": true"));
        assert_eq!(
            secrets::remembered_key(dir.path(), a, false).as_deref(),
            Some("k1")
        );
        // Not remembering forgets a key kept before.
        remember(dir.path(), a, "m", Some("k1"), false, false).unwrap();
        assert_eq!(secrets::remembered_key(dir.path(), a, false), None);
    }

    #[test]
    fn a_typed_key_wins_and_an_empty_one_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let a = "http://onevision-test.invalid:2/v1";
        remember(dir.path(), a, "m", Some("k1"), true, true).unwrap();
        assert_eq!(key_for(dir.path(), a, Some("k2")).as_deref(), Some("k2"));
        assert_eq!(key_for(dir.path(), a, Some("  ")).as_deref(), Some("k1"));
        remember(dir.path(), a, "m", None, false, true).unwrap();
        assert_eq!(key_for(dir.path(), a, None), None);
    }
}
