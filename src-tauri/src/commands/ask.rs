//! Asking, regenerating, editing and resending, answering from a transcription, stopping.

use onevision_engine::transcribe::{self, Transcription};
use onevision_store::{
    ConversationId, Finish, Message, MessageId, MessageKind, MessageStatus, NewMessage, Outcome,
    PictureInput, Store,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

use super::blocking;
use crate::dto::{
    AskRequest, AskStarted, GenerationSettings, SolveRequest, SolveStarted, StreamEvent,
};
use crate::engine::AppEngine;
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

impl<'a> SlotGuard<'a> {
    /// The answer slot, or why another generation holds it.
    fn take(state: &'a AppState) -> AppResult<SlotGuard<'a>> {
        Ok(SlotGuard {
            state,
            id: state.begin_job()?,
            armed: true,
        })
    }
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
    let slot = SlotGuard::take(&state)?;

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

    let transcription = request.transcribe_first && !request.pictures.is_empty();
    let pass = if transcription {
        Pass::Transcription
    } else {
        Pass::Answer
    };
    let assistant = start_reply(
        &app,
        slot,
        &engine,
        &store,
        conversation,
        &request.settings,
        pass,
        channel,
    )
    .await?;
    Ok(AskStarted {
        conversation_id: conversation.0,
        user_message_id: user_message.0,
        assistant_message_id: assistant.0,
        transcription,
    })
}

/// Answers the question before a transcription from that reading: the student's correction
/// (when given) is saved first, any answer already after the reading is replaced (regenerating
/// the second pass), and the answer streams over `channel`.
#[tauri::command(rename_all = "snake_case")]
pub async fn solve(
    app: AppHandle,
    state: State<'_, AppState>,
    request: SolveRequest,
    channel: Channel<StreamEvent>,
) -> AppResult<SolveStarted> {
    let engine = state.engine()?;
    let store = state.store()?.clone();
    let slot = SlotGuard::take(&state)?;
    let conversation = ConversationId(request.conversation_id);
    let kept = settle_reading(
        &store,
        conversation,
        MessageId(request.transcription_id),
        request.reading.as_deref(),
    )
    .await?;
    let assistant = start_reply(
        &app,
        slot,
        &engine,
        &store,
        conversation,
        &request.settings,
        Pass::Answer,
        channel,
    )
    .await?;
    Ok(SolveStarted {
        assistant_message_id: assistant.0,
        reading: kept.answer,
        corrected: kept.edited_from.is_some(),
    })
}

/// Makes transcription `id` of `conversation` the reading its question is answered from: the
/// student's correction (when it differs) is saved, and whatever followed the reading goes (the
/// answer being regenerated). Everything is checked first, so a refused reading loses nothing.
/// Returns the reading as saved.
pub async fn settle_reading(
    store: &Store,
    conversation: ConversationId,
    id: MessageId,
    correction: Option<&str>,
) -> AppResult<Message> {
    let saved = store
        .get_conversation(conversation)
        .await?
        .messages
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| {
            AppError::new(format!(
                "message {id} is not part of conversation {conversation}"
            ))
        })?;
    if saved.kind != MessageKind::Transcription {
        return Err(AppError::new(format!(
            "message {id} is not a transcription to answer from"
        )));
    }
    if saved.status == MessageStatus::Streaming {
        return Err(AppError::new(
            "the transcription is still being written: wait for it, or stop it first",
        ));
    }
    let edited = correction
        .map(str::trim)
        .filter(|r| *r != saved.answer.trim());
    let reading = edited.unwrap_or(&saved.answer);
    Transcription::read(reading)?;
    // The student's text is kept as typed; a reading the model never finished becomes theirs
    // once they answer from it.
    let kept = if edited.is_some() || saved.status != MessageStatus::Complete {
        store.correct_transcription(id, reading).await?
    } else {
        saved.clone()
    };
    store
        .truncate_conversation(conversation, saved.position + 1)
        .await?;
    Ok(kept)
}

/// Which reply a question gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The answer (after a transcription, when the conversation holds one).
    Answer,
    /// Transcribe-first's reading of the question's pictures.
    Transcription,
}

/// Opens the reply's row at the end of `conversation`, builds the engine's job from the saved
/// conversation and sends it; returns the row's id once the job is queued. When the job cannot
/// be built the row records why, and the question stays saved.
#[allow(clippy::too_many_arguments)]
async fn start_reply(
    app: &AppHandle,
    mut slot: SlotGuard<'_>,
    engine: &AppEngine,
    store: &Store,
    conversation: ConversationId,
    settings: &GenerationSettings,
    pass: Pass,
    channel: Channel<StreamEvent>,
) -> AppResult<MessageId> {
    let mut recorded = serde_json::to_value(settings)
        .map_err(|e| AppError::new(format!("cannot record the settings: {e}")))?;
    recorded["model"] = engine.record_name().into();
    // What the model panel's measured speeds are grouped by.
    for (key, value) in engine.precision().into_iter().flatten() {
        recorded[key] = value.into();
    }
    if let Some(endpoint) = engine.endpoint() {
        recorded["endpoint"] = endpoint.into();
    }
    let writer = match pass {
        Pass::Answer => store.begin_reply(conversation, Some(recorded)).await?,
        Pass::Transcription => {
            store
                .begin_transcription(conversation, Some(recorded))
                .await?
        }
    };
    let id = writer.message_id();

    let saved = store.get_conversation(conversation).await?;
    let settings = settings.clone();
    let defaults = engine.defaults();
    let for_server = engine.endpoint().is_some();
    let built = blocking(move || {
        let mut job = job::build(&saved, &settings, &defaults)?;
        if pass == Pass::Transcription {
            job.messages = transcribe::first_pass(&job.messages, settings.preset)?;
        }
        if for_server {
            job::leave_to_server(&mut job, &settings);
        }
        Ok(job)
    })
    .await;
    let job = match built {
        Ok(job) => job,
        Err(e) => {
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
    reply::start(app, slot.id, engine.seam(), job, writer, channel)?;
    slot.armed = false;
    Ok(id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn stop_generation(state: State<'_, AppState>) -> bool {
    state.stop()
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevision_store::GenerationStats;

    /// A question, the model's finished reading of it, and an answer from that reading.
    async fn answered_from_a_reading(store: &Store) -> (ConversationId, MessageId) {
        let id = store
            .create_conversation("m", vec![NewMessage::user("What is AC?")])
            .await
            .unwrap()
            .conversation;
        let mut w = store.begin_transcription(id, None).await.unwrap();
        w.push_answer("Kind: geometry\nAB = 3, BC = 4")
            .await
            .unwrap();
        let reading = w.message_id();
        w.finish(Finish::complete(GenerationStats::default()))
            .await
            .unwrap();
        let mut w = store.begin_reply(id, None).await.unwrap();
        w.push_answer("AC = 5").await.unwrap();
        w.finish(Finish::complete(GenerationStats::default()))
            .await
            .unwrap();
        (id, reading)
    }

    fn answers(c: &onevision_store::Conversation) -> Vec<(MessageKind, &str)> {
        c.messages
            .iter()
            .filter(|m| m.role == onevision_store::Role::Assistant)
            .map(|m| (m.kind, m.answer.as_str()))
            .collect()
    }

    #[tokio::test]
    async fn a_correction_is_saved_and_the_old_answer_makes_way() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let (id, reading) = answered_from_a_reading(&store).await;

        let kept = settle_reading(
            &store,
            id,
            reading,
            Some("  Kind: geometry\nAB = 6, BC = 8\n"),
        )
        .await
        .unwrap();
        assert_eq!(kept.answer, "Kind: geometry\nAB = 6, BC = 8");
        assert_eq!(
            kept.edited_from.as_deref(),
            Some("Kind: geometry\nAB = 3, BC = 4")
        );
        let c = store.get_conversation(id).await.unwrap();
        assert_eq!(
            answers(&c),
            vec![(MessageKind::Transcription, "Kind: geometry\nAB = 6, BC = 8")],
            "the answer from the old reading is gone"
        );
    }

    #[tokio::test]
    async fn an_unchanged_reading_is_not_marked_corrected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let (id, reading) = answered_from_a_reading(&store).await;
        for same in [None, Some("Kind: geometry\nAB = 3, BC = 4\n")] {
            let kept = settle_reading(&store, id, reading, same).await.unwrap();
            assert_eq!(kept.edited_from, None);
        }
        let c = store.get_conversation(id).await.unwrap();
        assert_eq!(
            answers(&c),
            vec![(MessageKind::Transcription, "Kind: geometry\nAB = 3, BC = 4")]
        );
    }

    #[tokio::test]
    async fn a_refused_reading_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let (id, reading) = answered_from_a_reading(&store).await;
        let before = store.get_conversation(id).await.unwrap();
        let question = before.messages[0].id;
        let answer = before.messages[2].id;
        let absurd = "x".repeat(30_000);
        let cases: Vec<(MessageId, Option<&str>, &str)> = vec![
            (
                reading,
                Some("Kind: geometry\n   "),
                "the transcription is empty",
            ),
            (reading, Some(&absurd), "30000 characters long"),
            (question, None, "is not a transcription"),
            (answer, Some("AB = 1"), "is not a transcription"),
            (MessageId(9_999), None, "is not part of conversation"),
        ];
        for (message, correction, says) in cases {
            let e = settle_reading(&store, id, message, correction)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{e}");
            assert!(!e.contains('\n'), "one sentence: {e}");
        }
        let after = store.get_conversation(id).await.unwrap();
        assert_eq!(answers(&after), answers(&before));
        assert_eq!(after.messages[1].edited_from, None);
    }

    #[tokio::test]
    async fn a_reading_still_streaming_cannot_be_answered_from() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let id = store
            .create_conversation("m", vec![NewMessage::user("What is AC?")])
            .await
            .unwrap()
            .conversation;
        let w = store.begin_transcription(id, None).await.unwrap();
        let e = settle_reading(&store, id, w.message_id(), Some("AB = 3"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("still being written"), "{e}");
    }
}
