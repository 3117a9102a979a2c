//! Recording a reply while it is generated. The reply exists in the database from the moment
//! generation starts, in state `streaming`, and its text is appended in batches: at most one
//! write every half second (by default), so a crash loses at most that much text and the disk
//! is not hit once per token.

use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::messages::{ensure_conversation, insert_message, touch_conversation, FullMessage};
use crate::types::{
    ConversationId, GenerationStats, Message, MessageId, MessageKind, MessageStatus, Role,
};

/// Default longest time text waits in memory before it is written.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// How a generation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete,
    /// The user stopped it.
    Stopped,
    /// The engine failed; the message says why.
    Failed(String),
}

/// Everything known at the end of a generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub outcome: Outcome,
    pub final_answer: Option<String>,
    pub stats: GenerationStats,
}

impl Finish {
    pub fn complete(stats: GenerationStats) -> Self {
        Finish {
            outcome: Outcome::Complete,
            final_answer: None,
            stats,
        }
    }
}

/// The live assistant message of one generation. Push deltas as they come; the writer decides
/// when to write. Each write is a single UPDATE, so a reader sees either the previous batch or
/// the next one, never half of one.
///
/// Dropping it without [`StreamWriter::finish`] (a panic, a cancelled task) writes what is
/// pending and marks the reply `interrupted`, if a tokio runtime is still there to do it; if
/// not, the next open of the database does the marking.
#[derive(Debug)]
pub struct StreamWriter {
    store: Store,
    message: MessageId,
    conversation: ConversationId,
    pending: Pending,
    interval: Duration,
    last_flush: Instant,
    finished: bool,
}

#[derive(Debug, Default)]
struct Pending {
    text: String,
    think: String,
    answer: String,
    /// What is known so far of the statistics, written with the next batch, so a reply cut off
    /// by a crash keeps its counts.
    stats: Option<GenerationStats>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.text.is_empty()
            && self.think.is_empty()
            && self.answer.is_empty()
            && self.stats.is_none()
    }
}

/// `later`'s known values over `earlier`'s.
fn merged(earlier: &GenerationStats, later: &GenerationStats) -> GenerationStats {
    GenerationStats {
        prompt_tokens: later.prompt_tokens.or(earlier.prompt_tokens),
        generated_tokens: later.generated_tokens.or(earlier.generated_tokens),
        ttft_ms: later.ttft_ms.or(earlier.ttft_ms),
        vision_ms: later.vision_ms.or(earlier.vision_ms),
        prefill_ms: later.prefill_ms.or(earlier.prefill_ms),
        decode_ms: later.decode_ms.or(earlier.decode_ms),
        tokens_per_s: later.tokens_per_s.or(earlier.tokens_per_s),
        think_ms: later.think_ms.or(earlier.think_ms),
        think_tokens: later.think_tokens.or(earlier.think_tokens),
    }
}

impl Store {
    /// Creates the assistant message of a new generation, in state `streaming`, at the end of
    /// the conversation. `settings` are the generation settings to keep with it.
    pub async fn begin_reply(
        &self,
        conversation: ConversationId,
        settings: Option<serde_json::Value>,
    ) -> Result<StreamWriter> {
        self.begin_message(conversation, settings, MessageKind::Reply)
            .await
    }

    /// Like [`Store::begin_reply`], for transcribe-first's reading of the question's pictures:
    /// its answer part is the transcription.
    pub async fn begin_transcription(
        &self,
        conversation: ConversationId,
        settings: Option<serde_json::Value>,
    ) -> Result<StreamWriter> {
        self.begin_message(conversation, settings, MessageKind::Transcription)
            .await
    }

    /// Opens an assistant message of `kind` ([`Store::begin_reply`], [`Store::begin_transcription`]).
    pub async fn begin_message(
        &self,
        conversation: ConversationId,
        settings: Option<serde_json::Value>,
        kind: MessageKind,
    ) -> Result<StreamWriter> {
        let settings = settings.map(|s| s.to_string());
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        ensure_conversation(&mut *tx, conversation).await?;
        let mut row = FullMessage::plain(Role::Assistant, "", now);
        row.kind = kind;
        row.status = MessageStatus::Streaming;
        row.stream_owner = Some(self.owner_id());
        row.settings = settings;
        let message = insert_message(&mut tx, conversation, &row, &[]).await?;
        touch_conversation(&mut tx, conversation, now).await?;
        tx.commit().await?;
        Ok(StreamWriter {
            store: self.clone(),
            message,
            conversation,
            pending: Pending::default(),
            interval: DEFAULT_FLUSH_INTERVAL,
            last_flush: Instant::now(),
            finished: false,
        })
    }
}

impl StreamWriter {
    pub fn message_id(&self) -> MessageId {
        self.message
    }

    pub fn conversation_id(&self) -> ConversationId {
        self.conversation
    }

    /// Changes how long text may wait in memory (zero writes every delta).
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Appends thinking text; writes if the interval has passed.
    pub async fn push_think(&mut self, delta: &str) -> Result<()> {
        self.pending.think.push_str(delta);
        self.flush_if_due().await.map(|_| ())
    }

    /// Appends answer text; writes if the interval has passed.
    pub async fn push_answer(&mut self, delta: &str) -> Result<()> {
        self.pending.answer.push_str(delta);
        self.flush_if_due().await.map(|_| ())
    }

    /// Appends raw decoded output (tags included), for callers that keep it.
    pub async fn push_text(&mut self, delta: &str) -> Result<()> {
        self.pending.text.push_str(delta);
        self.flush_if_due().await.map(|_| ())
    }

    /// Writes pending text if the interval has passed since the last write. Call it from a
    /// timer too if deltas can pause (they do during a long prefill). Returns whether it wrote.
    pub async fn flush_if_due(&mut self) -> Result<bool> {
        if self.pending.is_empty() || self.last_flush.elapsed() < self.interval {
            return Ok(false);
        }
        self.flush().await?;
        Ok(true)
    }

    /// Records statistics known before the end (tokens so far, when thinking ended); they are
    /// written with the next batch of text and kept if the reply never finishes.
    pub fn note_progress(&mut self, stats: GenerationStats) {
        let earlier = self.pending.stats.take().unwrap_or_default();
        self.pending.stats = Some(merged(&earlier, &stats));
    }

    /// Writes pending text (and statistics) now, in one statement (one transaction).
    pub async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let stats = self.pending.stats.clone().unwrap_or_default();
        let done = sqlx::query(
            "UPDATE messages
             SET text = text || ?1, think = think || ?2, answer = answer || ?3, updated_at = ?4,
                 prompt_tokens = COALESCE(?7, prompt_tokens),
                 generated_tokens = COALESCE(?8, generated_tokens),
                 ttft_ms = COALESCE(?9, ttft_ms), decode_ms = COALESCE(?10, decode_ms),
                 tokens_per_s = COALESCE(?11, tokens_per_s), think_ms = COALESCE(?12, think_ms),
                 think_tokens = COALESCE(?13, think_tokens)
             WHERE id = ?5 AND status = 'streaming' AND stream_owner = ?6",
        )
        .bind(&self.pending.text)
        .bind(&self.pending.think)
        .bind(&self.pending.answer)
        .bind(now_ms())
        .bind(self.message)
        .bind(self.store.owner_id())
        .bind(stats.prompt_tokens)
        .bind(stats.generated_tokens)
        .bind(stats.ttft_ms)
        .bind(stats.decode_ms)
        .bind(stats.tokens_per_s)
        .bind(stats.think_ms)
        .bind(stats.think_tokens)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::StreamNotActive(self.message));
        }
        self.pending = Pending::default();
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Writes the rest of the text and the final state, statistics and final answer in one
    /// transaction, and returns the finished message.
    pub async fn finish(mut self, finish: Finish) -> Result<Message> {
        let (status, error) = match finish.outcome {
            Outcome::Complete => (MessageStatus::Complete, None),
            Outcome::Stopped => (MessageStatus::Stopped, None),
            Outcome::Failed(e) => (MessageStatus::Failed, Some(e)),
        };
        write_end(
            &self.store,
            self.message,
            self.conversation,
            &self.pending,
            status,
            error.as_deref(),
            finish.final_answer.as_deref(),
            // The end's statistics, what was noted on the way filling what the end does not know.
            &merged(
                &self.pending.stats.clone().unwrap_or_default(),
                &finish.stats,
            ),
        )
        .await?;
        // Only now: if the write failed, dropping `self` still tries to mark it interrupted.
        self.finished = true;
        self.store.get_message(self.message).await
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(message = %self.message, "reply abandoned without a runtime; it becomes interrupted at the next open");
            return;
        };
        let store = self.store.clone();
        let (message, conversation) = (self.message, self.conversation);
        let pending = std::mem::take(&mut self.pending);
        tracing::warn!(%message, "reply abandoned before it finished; marking it interrupted");
        runtime.spawn(async move {
            let result = write_end(
                &store,
                message,
                conversation,
                &pending,
                MessageStatus::Interrupted,
                None,
                None,
                &pending.stats.clone().unwrap_or_default(),
            )
            .await;
            if let Err(e) = result {
                tracing::warn!(%message, error = %e, "could not mark an abandoned reply interrupted");
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_end(
    store: &Store,
    message: MessageId,
    conversation: ConversationId,
    pending: &Pending,
    status: MessageStatus,
    error: Option<&str>,
    final_answer: Option<&str>,
    stats: &GenerationStats,
) -> Result<()> {
    let now = now_ms();
    let mut tx = store.write_tx().await?;
    let done = sqlx::query(
        "UPDATE messages
         SET text = text || ?1, think = think || ?2, answer = answer || ?3,
             status = ?4, error = ?5, final_answer = ?6, stream_owner = NULL,
             prompt_tokens = COALESCE(?7, prompt_tokens),
             generated_tokens = COALESCE(?8, generated_tokens), ttft_ms = COALESCE(?9, ttft_ms),
             vision_ms = COALESCE(?10, vision_ms), prefill_ms = COALESCE(?11, prefill_ms),
             decode_ms = COALESCE(?12, decode_ms), tokens_per_s = COALESCE(?13, tokens_per_s),
             updated_at = ?14, think_ms = COALESCE(?17, think_ms),
             think_tokens = COALESCE(?18, think_tokens)
         WHERE id = ?15 AND status = 'streaming' AND stream_owner = ?16",
    )
    .bind(&pending.text)
    .bind(&pending.think)
    .bind(&pending.answer)
    .bind(status)
    .bind(error)
    .bind(final_answer)
    .bind(stats.prompt_tokens)
    .bind(stats.generated_tokens)
    .bind(stats.ttft_ms)
    .bind(stats.vision_ms)
    .bind(stats.prefill_ms)
    .bind(stats.decode_ms)
    .bind(stats.tokens_per_s)
    .bind(now)
    .bind(message)
    .bind(store.owner_id())
    .bind(stats.think_ms)
    .bind(stats.think_tokens)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::StreamNotActive(message));
    }
    touch_conversation(&mut tx, conversation, now).await?;
    tx.commit().await?;
    Ok(())
}
