//! The history sidebar: list, open, search, rename, pin, delete, export and import.

use std::path::PathBuf;

use onevision_store::{ConversationId, ConversationSummary, SearchQuery};
use serde_json::Value;
use tauri::State;

use super::blocking;
use crate::attachments::data_url;
use crate::dto::{SearchHitDto, SearchRequest};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[tauri::command(rename_all = "snake_case")]
pub async fn list_conversations(
    state: State<'_, AppState>,
    limit: u32,
    offset: u32,
) -> AppResult<Vec<ConversationSummary>> {
    Ok(state.store()?.list_conversations(limit, offset).await?)
}

/// The conversation as the store keeps it, each picture with its thumbnail inlined (the window
/// has no file access).
#[tauri::command(rename_all = "snake_case")]
pub async fn get_conversation(state: State<'_, AppState>, id: i64) -> AppResult<Value> {
    let c = state.store()?.get_conversation(ConversationId(id)).await?;
    blocking(move || {
        let mut out = serde_json::to_value(&c)
            .map_err(|e| AppError::new(format!("cannot send conversation {id}: {e}")))?;
        for (m, row) in c.messages.iter().zip(
            out["messages"]
                .as_array_mut()
                .into_iter()
                .flat_map(|a| a.iter_mut()),
        ) {
            let pictures: Vec<Value> = m
                .pictures
                .iter()
                .map(|p| {
                    // A missing thumbnail shows as an empty frame rather than failing the
                    // whole conversation.
                    let thumb = std::fs::read(&p.thumbnail_path)
                        .map(|b| data_url("image/png", &b))
                        .unwrap_or_default();
                    serde_json::json!({
                        "sha256": p.sha256, "width": p.width, "height": p.height,
                        "mime": p.mime, "thumbnail": thumb,
                    })
                })
                .collect();
            row["pictures"] = Value::Array(pictures);
        }
        Ok(out)
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn search_history(
    state: State<'_, AppState>,
    request: SearchRequest,
) -> AppResult<Vec<SearchHitDto>> {
    let query = SearchQuery {
        text: request.text,
        model_id: request.model_id.filter(|m| !m.is_empty()),
        from_ms: request.from,
        until_ms: request.to,
        limit: 50,
    };
    let hits = state.store()?.search(&query).await?;
    Ok(hits.iter().map(SearchHitDto::from).collect())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn rename_conversation(
    state: State<'_, AppState>,
    id: i64,
    title: String,
) -> AppResult<()> {
    Ok(state
        .store()?
        .rename_conversation(ConversationId(id), &title)
        .await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_pinned(state: State<'_, AppState>, id: i64, pinned: bool) -> AppResult<()> {
    Ok(state
        .store()?
        .set_pinned(ConversationId(id), pinned)
        .await?)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_conversation(state: State<'_, AppState>, id: i64) -> AppResult<()> {
    Ok(state
        .store()?
        .delete_conversation(ConversationId(id))
        .await?)
}

/// A file name from a title: letters, digits and dashes, never empty.
pub fn file_stem(title: &str) -> String {
    let mut stem = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            stem.extend(c.to_lowercase());
        } else if !stem.ends_with('-') && !stem.is_empty() {
            stem.push('-');
        }
        if stem.chars().count() >= 60 {
            break;
        }
    }
    let stem = stem.trim_end_matches('-').to_owned();
    if stem.is_empty() {
        "conversation".to_owned()
    } else {
        stem
    }
}

/// Asks where to save, then writes Markdown (pictures in a folder beside it) or JSON; the path
/// written, or `None` when the dialog was cancelled.
#[tauri::command(rename_all = "snake_case")]
pub async fn export_conversation(
    state: State<'_, AppState>,
    id: i64,
    format: String,
) -> AppResult<Option<String>> {
    let store = state.store()?;
    let id = ConversationId(id);
    let title = store.conversation_summary(id).await?.title;
    let (ext, label) = match format.as_str() {
        "md" => ("md", "Markdown"),
        "json" => ("json", "JSON"),
        other => {
            return Err(AppError::new(format!(
                "cannot export as {other:?}; choose md or json"
            )))
        }
    };
    let name = format!("{}.{ext}", file_stem(&title));
    let path: Option<PathBuf> = blocking(move || {
        Ok(rfd::FileDialog::new()
            .set_title("Export the conversation")
            .set_file_name(name)
            .add_filter(label, &[ext])
            .save_file())
    })
    .await?;
    let Some(path) = path else {
        return Ok(None);
    };
    if ext == "md" {
        store.export_markdown(id, &path).await?;
    } else {
        store.export_json_file(id, &path).await?;
    }
    Ok(Some(path.display().to_string()))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn import_conversation(state: State<'_, AppState>) -> AppResult<Option<i64>> {
    let store = state.store()?;
    let path: Option<PathBuf> = blocking(|| {
        Ok(rfd::FileDialog::new()
            .set_title("Import a conversation")
            .add_filter("OneVision Desk export", &["json"])
            .pick_file())
    })
    .await?;
    match path {
        Some(p) => Ok(Some(store.import_json_file(&p).await?.0)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn titles_become_safe_file_names() {
        assert_eq!(file_stem("Find the area of ΔABC!"), "find-the-area-of-δabc");
        assert_eq!(file_stem("../../etc/passwd"), "etc-passwd");
        assert_eq!(file_stem("  ?? "), "conversation");
    }
}
