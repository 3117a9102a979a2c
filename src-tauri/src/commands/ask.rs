//! Asking, regenerating, editing and resending, stopping.

use onevision_store::{ConversationId, Finish, MessageId, NewMessage, Outcome, PictureInput};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

use super::blocking;
use crate::dto::{AskRequest, AskStarted, StreamEvent};
use crate::error::{AppError, AppResult};
use crate::job;
use crate::reply;
use crate::state::AppState;

/// Frees the answer slot if the question never reaches the engine.
struct SlotGuard<'a> {
    state: &'a AppState,
    id: u64,
    armed: bool,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.state.end_job(self.id);
        }
    }
}

/// Saves the question (with its pictures) and an open reply, then sends the job to the engine;
/// returns once the job is queued. The reply streams over `channel`.
#[tauri::command(rename_all = "snake_case")]
pub async fn ask(
    app: AppHandle,
    state: State<'_, AppState>,
    request: AskRequest,
    channel: Channel<StreamEvent>,
) -> AppResult<AskStarted> {
    let engine = state.engine()?;
    let store = state.store()?.clone();
    let text = request.text.trim().to_owned();
    if text.is_empty() && request.pictures.is_empty() {
        return Err(AppError::new("type a question or attach a picture first"));
    }
    let job_id = state.begin_job()?;
    let mut slot = SlotGuard {
        state: &state,
        id: job_id,
        armed: true,
    };

    let existing = match request.conversation_id {
        Some(id) => Some(store.get_conversation(ConversationId(id)).await?),
        None => None,
    };
    let mut question = NewMessage::user(text);
    for sha in &request.pictures {
        let input = match state.attachments.get(sha) {
            Some(bytes) => PictureInput::Bytes(bytes),
            None => existing
                .iter()
                .flat_map(|c| &c.messages)
                .flat_map(|m| &m.pictures)
                .find(|p| &p.sha256 == sha)
                .map(|p| PictureInput::File(p.path.clone()))
                .ok_or_else(|| {
                    AppError::new(
                        "a picture attached earlier is no longer available; attach it again",
                    )
                })?,
        };
        question = question.with_picture(input);
    }

    let (conversation, user_message) = match (&existing, request.replace_from) {
        (Some(c), replace_from) => {
            if let Some(from) = replace_from {
                let position = c
                    .messages
                    .iter()
                    .find(|m| m.id == MessageId(from))
                    .map(|m| m.position)
                    .ok_or_else(|| {
                        AppError::new(format!(
                            "message {from} is not part of conversation {}",
                            c.summary.id
                        ))
                    })?;
                store.truncate_conversation(c.summary.id, position).await?;
            }
            let ids = store.append_messages(c.summary.id, vec![question]).await?;
            (c.summary.id, ids[0])
        }
        (None, Some(_)) => {
            return Err(AppError::new(
                "nothing to replace: the conversation was not given",
            ))
        }
        (None, None) => {
            let created = store
                .create_conversation(&engine.record_name(), vec![question])
                .await?;
            (created.conversation, created.messages[0])
        }
    };
    state.attachments.forget(&request.pictures);

    let mut recorded = serde_json::to_value(&request.settings)
        .map_err(|e| AppError::new(format!("cannot record the settings: {e}")))?;
    recorded["model"] = engine.record_name().into();
    if let Some(endpoint) = engine.endpoint() {
        recorded["endpoint"] = endpoint.into();
    }
    let writer = store.begin_reply(conversation, Some(recorded)).await?;
    let started = AskStarted {
        conversation_id: conversation.0,
        user_message_id: user_message.0,
        assistant_message_id: writer.message_id().0,
    };

    let saved = store.get_conversation(conversation).await?;
    let settings = request.settings.clone();
    let defaults = engine.defaults();
    let for_server = engine.endpoint().is_some();
    let built = blocking(move || {
        let mut job = job::build(&saved, &settings, &defaults)?;
        if for_server {
            job::leave_to_server(&mut job, &settings);
        }
        Ok(job)
    })
    .await;
    let job = match built {
        Ok(job) => job,
        Err(e) => {
            // The question stays saved; its reply records why it could not be answered.
            writer
                .finish(Finish {
                    outcome: Outcome::Failed(e.to_string()),
                    final_answer: None,
                    stats: Default::default(),
                })
                .await?;
            return Err(e);
        }
    };
    reply::start(&app, job_id, engine.seam(), job, writer, channel)?;
    slot.armed = false;
    Ok(started)
}

#[tauri::command(rename_all = "snake_case")]
pub fn stop_generation(state: State<'_, AppState>) -> bool {
    state.stop()
}
