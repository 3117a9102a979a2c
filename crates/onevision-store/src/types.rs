//! The records the store hands out. They serialise with serde so the desktop shell can pass them
//! to the UI unchanged; times are Unix milliseconds (UTC) and the UI formats them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A conversation's row id; stable for the life of the database (not across export/import).
    ConversationId
);
id_type!(
    /// A message's row id.
    MessageId
);
id_type!(
    /// A benchmark run's row id.
    EvalRunId
);

/// Who wrote a message, with the chat template's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// Where a message is in its life. Only assistant replies are ever anything but `Complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum MessageStatus {
    /// A live process is still writing it.
    Streaming,
    Complete,
    /// The user stopped the generation; the text so far is kept.
    Stopped,
    /// The engine reported an error (see `Message::error`); the text so far is kept.
    Failed,
    /// The writing process died (crash, kill, power loss); the text flushed so far is kept.
    Interrupted,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Streaming => "streaming",
            MessageStatus::Complete => "complete",
            MessageStatus::Stopped => "stopped",
            MessageStatus::Failed => "failed",
            MessageStatus::Interrupted => "interrupted",
        }
    }
}

/// What an assistant message is: an answer, or transcribe-first's reading of the question's
/// pictures (DESIGN.md §10). Questions and system prompts are replies in this sense.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Reply,
    Transcription,
}

/// What a generation measured. Every field is optional because a stopped or failed run may not
/// have reached the point where it is known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationStats {
    pub prompt_tokens: Option<u32>,
    pub generated_tokens: Option<u32>,
    /// Time to first token.
    pub ttft_ms: Option<f64>,
    pub vision_ms: Option<f64>,
    pub prefill_ms: Option<f64>,
    pub decode_ms: Option<f64>,
    /// Decode speed.
    pub tokens_per_s: Option<f64>,
    /// From the request to the first answer text, when the model thought first.
    pub think_ms: Option<f64>,
    /// Tokens generated before the answer began.
    pub think_tokens: Option<u32>,
}

/// A row of the history list. The UI groups rows by day from `updated_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub title: String,
    pub model_id: String,
    pub pinned: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub message_count: i64,
    /// A reply in it was cut off by a crash (the history list marks it).
    #[serde(default)]
    pub interrupted: bool,
}

/// A conversation with everything needed to show or continue it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// In conversation order.
    pub messages: Vec<Message>,
}

/// One turn. For a user or system message `text` is what was asked; for an assistant reply
/// `think` and `answer` are the two streamed parts and `text`, when the caller records it, is
/// the raw decoded output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Order within the conversation; increasing, not necessarily contiguous.
    pub position: i64,
    pub role: Role,
    /// A transcription's `answer` is the reading the answer that follows reasons from.
    #[serde(default)]
    pub kind: MessageKind,
    pub text: String,
    pub think: String,
    pub answer: String,
    /// A corrected transcription: the model's own reading, before the student's correction.
    #[serde(default)]
    pub edited_from: Option<String>,
    /// The highlighted final result (an `<answer>` block, a `\boxed{}`, an `Answer:` line).
    pub final_answer: Option<String>,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub stats: GenerationStats,
    /// The generation settings as the engine reported them; the store does not interpret them.
    pub settings: Option<serde_json::Value>,
    /// In the order they were attached.
    pub pictures: Vec<Picture>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Message {
    /// A finished transcription's reading (its answer part); `None` for any other message, and
    /// for a transcription that was stopped, failed or cut off, which no answer should use.
    pub fn reading(&self) -> Option<&str> {
        (self.kind == MessageKind::Transcription && self.status == MessageStatus::Complete)
            .then_some(self.answer.as_str())
    }

    /// What this turn said, as the model should read it when the conversation continues: the
    /// question for a user or system turn; for a reply, the raw output with its tags when it was
    /// recorded, else the thinking and answer put back together. `None` for a reply that ended
    /// before saying anything, which is best left out of the prompt.
    pub fn prompt_text(&self) -> Option<String> {
        if self.role != Role::Assistant {
            return Some(self.text.clone());
        }
        let text = if !self.text.is_empty() {
            self.text.clone()
        } else if self.think.is_empty() {
            self.answer.clone()
        } else {
            format!("<think>{}</think>{}", self.think, self.answer)
        };
        (!text.trim().is_empty()).then_some(text)
    }
}

/// A stored picture. The same picture attached to many messages is one file and one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Lower-case hex SHA-256 of the file's bytes: its identity.
    pub sha256: String,
    pub mime: String,
    /// File extension without the dot, from the detected format (not from the original name).
    pub ext: String,
    pub width: u32,
    pub height: u32,
    pub byte_size: u64,
    /// The original bytes, under the store's images folder.
    pub path: PathBuf,
    /// A PNG at most 256 pixels on its longer side, beside the original.
    pub thumbnail_path: PathBuf,
}
