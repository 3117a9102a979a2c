//! `ask --save` and `ask --conversation`: the exchange goes into the history database as the app
//! records it (the question first, then the reply, streamed in batches), and a saved
//! conversation can be continued with its pictures.

use std::path::{Path, PathBuf};

use anyhow::Result;
use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::preset::PromptPreset;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::transcribe::{attach_reading, Transcription};
use onevision_store::{
    ConversationId, Finish, GenerationStats, MessageId, MessageKind, NewMessage, Outcome,
    PictureInput, Store, StreamWriter,
};
use tokio::runtime::Runtime;

use crate::history::{open_store, runtime};

/// A conversation read back from the store, ready for the engine.
pub struct Restored {
    pub messages: Vec<Message>,
    pub pictures: Vec<PathBuf>,
}

fn engine_role(r: onevision_store::Role) -> Role {
    match r {
        onevision_store::Role::System => Role::System,
        onevision_store::Role::User => Role::User,
        onevision_store::Role::Assistant => Role::Assistant,
    }
}

fn store_role(r: Role) -> onevision_store::Role {
    match r {
        Role::System => onevision_store::Role::System,
        Role::User => onevision_store::Role::User,
        Role::Assistant => onevision_store::Role::Assistant,
    }
}

/// Where this exchange is being written.
pub struct Recorder {
    rt: Runtime,
    store: Store,
    pub conversation: ConversationId,
    writer: Option<StreamWriter>,
    settings: serde_json::Value,
}

impl Recorder {
    pub fn open(db: Option<&Path>) -> Result<(Runtime, Store)> {
        let rt = runtime()?;
        let store = rt.block_on(open_store(db))?;
        Ok((rt, store))
    }

    /// The stored conversation `id`, as engine messages with its pictures' files. A question
    /// answered from a transcription is shown as it was then (the request for the
    /// transcription worded for `preset`, the reading, the question).
    pub fn restore(rt: &Runtime, store: &Store, id: i64, preset: PromptPreset) -> Result<Restored> {
        let c = rt.block_on(store.get_conversation(ConversationId(id)))?;
        let mut out = Restored {
            messages: Vec::new(),
            pictures: Vec::new(),
        };
        for m in c.messages {
            if m.kind == MessageKind::Transcription {
                if let Some(reading) = m.reading().and_then(Transcription::from_saved) {
                    attach_reading(&mut out.messages, preset, &reading)?;
                }
                continue;
            }
            let Some(text) = m.prompt_text() else {
                continue;
            };
            let mut parts = Vec::new();
            for p in m.pictures {
                out.pictures.push(p.path);
                parts.push(Part::Image(out.pictures.len() - 1));
            }
            parts.push(Part::Text(text));
            out.messages.push(Message {
                role: engine_role(m.role),
                parts,
            });
        }
        Ok(out)
    }

    /// Saves `new` (the turns this command adds, their pictures indexed into `pictures`) in a new
    /// conversation or at the end of `continuing`, then opens the first message of kind `first`:
    /// the reply, or the transcription (then [`Recorder::begin_answer`] opens the reply after it).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        rt: Runtime,
        store: Store,
        continuing: Option<i64>,
        model_id: &str,
        new: &[Message],
        pictures: &[PathBuf],
        settings: serde_json::Value,
        first: MessageKind,
    ) -> Result<Recorder> {
        let rows: Vec<NewMessage> = new
            .iter()
            .map(|m| {
                let mut row = NewMessage::user(String::new());
                row.role = store_role(m.role);
                for part in &m.parts {
                    match part {
                        Part::Text(t) => row.text.push_str(t),
                        Part::Image(i) => {
                            row.pictures.push(PictureInput::File(pictures[*i].clone()))
                        }
                    }
                }
                row
            })
            .collect();
        let (conversation, writer) = rt.block_on(async {
            let conversation = match continuing {
                Some(id) => {
                    let id = ConversationId(id);
                    store.append_messages(id, rows).await?;
                    id
                }
                None => {
                    store
                        .create_conversation(model_id, rows)
                        .await?
                        .conversation
                }
            };
            let writer = store
                .begin_message(conversation, Some(settings.clone()), first)
                .await?;
            anyhow::Ok((conversation, writer))
        })?;
        Ok(Recorder {
            rt,
            store,
            conversation,
            writer: Some(writer),
            settings,
        })
    }

    /// Opens the reply after a transcription was closed with [`Recorder::close_part`].
    pub fn begin_answer(&mut self) -> Result<()> {
        let writer = self.rt.block_on(
            self.store
                .begin_reply(self.conversation, Some(self.settings.clone())),
        )?;
        self.writer = Some(writer);
        Ok(())
    }

    pub fn message_id(&self) -> Option<MessageId> {
        self.writer.as_ref().map(StreamWriter::message_id)
    }

    pub fn think(&mut self, delta: &str) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            self.rt.block_on(async {
                w.push_think(delta).await?;
                w.flush_if_due().await
            })?;
        }
        Ok(())
    }

    pub fn answer(&mut self, delta: &str) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            self.rt.block_on(async {
                w.push_answer(delta).await?;
                w.flush_if_due().await
            })?;
        }
        Ok(())
    }

    /// Closes the message being written: complete (with `out`'s stats when the engine wrote
    /// it), stopped, or failed with `error`. The store stays open for the next one.
    pub fn close_part(&mut self, out: Option<&Output>, error: Option<&str>) -> Result<()> {
        let Some(mut w) = self.writer.take() else {
            return Ok(());
        };
        let (outcome, final_answer, stats) = match (out, error) {
            (_, Some(e)) => (
                Outcome::Failed(e.to_string()),
                None,
                GenerationStats::default(),
            ),
            (Some(o), None) => {
                let t = &o.timings;
                let stats = GenerationStats {
                    prompt_tokens: Some(o.prompt_token_ids.len() as u32),
                    generated_tokens: Some(o.generated_token_ids.len() as u32),
                    ttft_ms: Some(t.time_to_first_token_ms),
                    vision_ms: Some(t.vision_ms),
                    prefill_ms: Some(t.prefill_ms),
                    decode_ms: Some(t.decode_ms),
                    tokens_per_s: Some(t.decode_tokens_per_s),
                    think_ms: (o.think_tokens > 0).then_some(t.think_ms),
                    think_tokens: (o.think_tokens > 0).then_some(o.think_tokens as u32),
                };
                let outcome = if o.finish_reason == FinishReason::Cancelled {
                    Outcome::Stopped
                } else {
                    Outcome::Complete
                };
                (outcome, o.final_answer.clone(), stats)
            }
            // Written by the student, not generated.
            (None, None) => (Outcome::Complete, None, GenerationStats::default()),
        };
        let raw = out.map(|o| o.text.clone()).unwrap_or_default();
        self.rt.block_on(async {
            w.push_text(&raw).await?;
            w.finish(Finish {
                outcome,
                final_answer,
                stats,
            })
            .await?;
            anyhow::Ok(())
        })
    }

    /// Closes the reply (as [`Recorder::close_part`]) and the store.
    pub fn finish(mut self, out: Option<&Output>, error: Option<&str>) -> Result<()> {
        self.close_part(out, error)?;
        self.rt.block_on(self.store.clone().close());
        Ok(())
    }
}
