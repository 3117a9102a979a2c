//! Adding finished messages (questions, system prompts) and reading messages back with their
//! pictures.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteExecutor, Transaction};

use crate::clock::now_ms;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::pictures::{link_pictures, PictureInput, PictureRow, StoredFile};
use crate::types::{
    ConversationId, GenerationStats, Message, MessageId, MessageKind, MessageStatus, Picture, Role,
};

/// A message to add as it is (not streamed): a user's question or a system prompt.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: Role,
    pub text: String,
    /// In the order they were attached.
    pub pictures: Vec<PictureInput>,
}

impl NewMessage {
    pub fn user(text: impl Into<String>) -> Self {
        NewMessage {
            role: Role::User,
            text: text.into(),
            pictures: Vec::new(),
        }
    }

    pub fn system(text: impl Into<String>) -> Self {
        NewMessage {
            role: Role::System,
            text: text.into(),
            pictures: Vec::new(),
        }
    }

    pub fn with_picture(mut self, picture: PictureInput) -> Self {
        self.pictures.push(picture);
        self
    }
}

/// Every column of a message row, as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub(crate) id: MessageId,
    pub(crate) conversation_id: ConversationId,
    pub(crate) position: i64,
    pub(crate) role: Role,
    pub(crate) kind: MessageKind,
    pub(crate) text: String,
    pub(crate) think: String,
    pub(crate) answer: String,
    pub(crate) edited_from: Option<String>,
    pub(crate) final_answer: Option<String>,
    pub(crate) status: MessageStatus,
    pub(crate) error: Option<String>,
    pub(crate) prompt_tokens: Option<u32>,
    pub(crate) generated_tokens: Option<u32>,
    pub(crate) ttft_ms: Option<f64>,
    pub(crate) vision_ms: Option<f64>,
    pub(crate) prefill_ms: Option<f64>,
    pub(crate) decode_ms: Option<f64>,
    pub(crate) tokens_per_s: Option<f64>,
    pub(crate) think_ms: Option<f64>,
    pub(crate) think_tokens: Option<u32>,
    pub(crate) settings: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, conversation_id, position, role, kind, text, think, answer, edited_from, \
     final_answer, status, error, prompt_tokens, generated_tokens, ttft_ms, vision_ms, \
     prefill_ms, decode_ms, tokens_per_s, think_ms, think_tokens, settings, created_at, updated_at";

impl MessageRow {
    fn into_message(self, pictures: Vec<Picture>) -> Message {
        // Settings are written only by us, from a serde_json::Value; text that no longer parses
        // is kept visible as a string rather than failing the whole conversation.
        let settings = self
            .settings
            .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)));
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            position: self.position,
            role: self.role,
            kind: self.kind,
            text: self.text,
            think: self.think,
            answer: self.answer,
            edited_from: self.edited_from,
            final_answer: self.final_answer,
            status: self.status,
            error: self.error,
            stats: GenerationStats {
                prompt_tokens: self.prompt_tokens,
                generated_tokens: self.generated_tokens,
                ttft_ms: self.ttft_ms,
                vision_ms: self.vision_ms,
                prefill_ms: self.prefill_ms,
                decode_ms: self.decode_ms,
                tokens_per_s: self.tokens_per_s,
                think_ms: self.think_ms,
                think_tokens: self.think_tokens,
            },
            settings,
            pictures,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A complete message row to insert; streaming replies start from [`FullMessage::streaming`].
#[derive(Debug, Clone)]
pub(crate) struct FullMessage<'a> {
    pub(crate) role: Role,
    pub(crate) kind: MessageKind,
    pub(crate) text: &'a str,
    pub(crate) think: &'a str,
    pub(crate) answer: &'a str,
    pub(crate) edited_from: Option<&'a str>,
    pub(crate) final_answer: Option<&'a str>,
    pub(crate) status: MessageStatus,
    pub(crate) error: Option<&'a str>,
    pub(crate) stream_owner: Option<&'a str>,
    pub(crate) stats: GenerationStats,
    pub(crate) settings: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl<'a> FullMessage<'a> {
    pub(crate) fn plain(role: Role, text: &'a str, now: i64) -> Self {
        FullMessage {
            role,
            kind: MessageKind::Reply,
            text,
            think: "",
            answer: "",
            edited_from: None,
            final_answer: None,
            status: MessageStatus::Complete,
            error: None,
            stream_owner: None,
            stats: GenerationStats::default(),
            settings: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Appends a message at the end of a conversation and links its pictures. The caller's
/// transaction must have been begun IMMEDIATE: the position is read, then written.
pub(crate) async fn insert_message(
    tx: &mut Transaction<'static, Sqlite>,
    conversation: ConversationId,
    m: &FullMessage<'_>,
    pictures: &[StoredFile],
) -> Result<MessageId> {
    let s = &m.stats;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, position, role, text, think, answer, final_answer,
             status, error, stream_owner, prompt_tokens, generated_tokens, ttft_ms, vision_ms,
             prefill_ms, decode_ms, tokens_per_s, think_ms, think_tokens, settings, created_at,
             updated_at, kind, edited_from)
         VALUES (?1,
             (SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE conversation_id = ?1),
             ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
             ?21, ?22, ?23)
         RETURNING id",
    )
    .bind(conversation)
    .bind(m.role)
    .bind(m.text)
    .bind(m.think)
    .bind(m.answer)
    .bind(m.final_answer)
    .bind(m.status)
    .bind(m.error)
    .bind(m.stream_owner)
    .bind(s.prompt_tokens)
    .bind(s.generated_tokens)
    .bind(s.ttft_ms)
    .bind(s.vision_ms)
    .bind(s.prefill_ms)
    .bind(s.decode_ms)
    .bind(s.tokens_per_s)
    .bind(s.think_ms)
    .bind(s.think_tokens)
    .bind(&m.settings)
    .bind(m.created_at)
    .bind(m.updated_at)
    .bind(m.kind)
    .bind(m.edited_from)
    .fetch_one(&mut **tx)
    .await?;
    link_pictures(tx, id, pictures, m.created_at).await?;
    Ok(MessageId(id))
}

/// Fails with `ConversationNotFound` unless the conversation exists.
pub(crate) async fn ensure_conversation<'e>(
    executor: impl SqliteExecutor<'e>,
    id: ConversationId,
) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM conversations WHERE id = ?1")
        .bind(id)
        .fetch_optional(executor)
        .await?;
    found
        .map(|_| ())
        .ok_or(StoreError::ConversationNotFound(id))
}

pub(crate) async fn touch_conversation(
    tx: &mut Transaction<'static, Sqlite>,
    id: ConversationId,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE conversations SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Adds messages at the end of an existing conversation (continuing it), in one
    /// transaction, and returns their ids in order. Pictures are stored once however many
    /// messages use them.
    pub async fn append_messages(
        &self,
        conversation: ConversationId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<MessageId>> {
        let _files = self.inner.picture_files.lock().await;
        let mut stored = Vec::with_capacity(messages.len());
        for m in &messages {
            stored.push(self.store_picture_files(m.pictures.clone()).await?);
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        ensure_conversation(&mut *tx, conversation).await?;
        let mut ids = Vec::with_capacity(messages.len());
        for (m, files) in messages.iter().zip(&stored) {
            let row = FullMessage::plain(m.role, &m.text, now);
            ids.push(insert_message(&mut tx, conversation, &row, files).await?);
        }
        touch_conversation(&mut tx, conversation, now).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// One message with its pictures.
    pub async fn get_message(&self, id: MessageId) -> Result<Message> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
        let row: MessageRow = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::MessageNotFound(id))?;
        let mut pictures = self.pictures_of(&[id.0]).await?;
        Ok(row.into_message(pictures.remove(&id.0).unwrap_or_default()))
    }

    /// Replaces a finished transcription's reading with the student's correction; the model's
    /// first reading is kept in `edited_from` however often it is corrected. A reading that was
    /// stopped or failed becomes complete: the student's correction is a whole reading.
    pub async fn correct_transcription(&self, id: MessageId, reading: &str) -> Result<Message> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let found: Option<(ConversationId, MessageKind, MessageStatus)> =
            sqlx::query_as("SELECT conversation_id, kind, status FROM messages WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let conversation = match found {
            None => return Err(StoreError::MessageNotFound(id)),
            Some((c, MessageKind::Transcription, status)) if status != MessageStatus::Streaming => {
                c
            }
            Some(_) => return Err(StoreError::NotATranscription(id)),
        };
        sqlx::query(
            "UPDATE messages SET edited_from = COALESCE(edited_from, answer), answer = ?2,
                 status = 'complete', error = NULL, updated_at = ?3
             WHERE id = ?1",
        )
        .bind(id)
        .bind(reading)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        touch_conversation(&mut tx, conversation, now).await?;
        tx.commit().await?;
        self.get_message(id).await
    }

    /// All messages of a conversation in order, with their pictures. Reads in one transaction
    /// so a concurrent flush is seen entirely or not at all.
    pub(crate) async fn messages_of(&self, conversation: ConversationId) -> Result<Vec<Message>> {
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 ORDER BY position"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(&sql)
            .bind(conversation)
            .fetch_all(&mut *tx)
            .await?;
        let links: Vec<(i64, PictureRow)> = pictures_query(&mut tx, conversation).await?;
        tx.commit().await?;
        let mut by_message: HashMap<i64, Vec<Picture>> = HashMap::new();
        for (message_id, row) in links {
            by_message
                .entry(message_id)
                .or_default()
                .push(self.picture_from_row(row));
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let pictures = by_message.remove(&r.id.0).unwrap_or_default();
                r.into_message(pictures)
            })
            .collect())
    }

    async fn pictures_of(&self, message_ids: &[i64]) -> Result<HashMap<i64, Vec<Picture>>> {
        let mut out: HashMap<i64, Vec<Picture>> = HashMap::new();
        for &id in message_ids {
            let rows: Vec<PictureLinkRow> = sqlx::query_as(
                "SELECT mp.message_id, p.sha256, p.ext, p.mime, p.width, p.height, p.byte_size
                 FROM message_pictures mp JOIN pictures p ON p.sha256 = mp.picture_sha256
                 WHERE mp.message_id = ?1 ORDER BY mp.position",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                out.entry(r.message_id)
                    .or_default()
                    .push(self.picture_from_row(r.picture));
            }
        }
        Ok(out)
    }
}

#[derive(Debug, sqlx::FromRow)]
struct PictureLinkRow {
    message_id: i64,
    #[sqlx(flatten)]
    picture: PictureRow,
}

async fn pictures_query(
    tx: &mut Transaction<'static, Sqlite>,
    conversation: ConversationId,
) -> Result<Vec<(i64, PictureRow)>> {
    let rows: Vec<PictureLinkRow> = sqlx::query_as(
        "SELECT mp.message_id, p.sha256, p.ext, p.mime, p.width, p.height, p.byte_size
         FROM message_pictures mp
         JOIN messages m ON m.id = mp.message_id
         JOIN pictures p ON p.sha256 = mp.picture_sha256
         WHERE m.conversation_id = ?1
         ORDER BY m.position, mp.position",
    )
    .bind(conversation)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.message_id, r.picture))
        .collect())
}
