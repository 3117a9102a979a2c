//! Conversations as the history list sees them: create, list, open, rename, pin, delete.

use crate::clock::now_ms;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::messages::{ensure_conversation, insert_message, FullMessage, NewMessage};
use crate::pictures::delete_unused_rows;
use crate::title::{title_from_question, UNTITLED};
use crate::types::{Conversation, ConversationId, ConversationSummary, MessageId, Role};

const SUMMARY_SELECT: &str = "SELECT c.id, c.title, c.model_id, c.pinned != 0 AS pinned, \
     c.created_at, c.updated_at, \
     (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count, \
     EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.status = 'interrupted') \
       AS interrupted \
     FROM conversations c";

/// The result of starting a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub conversation: ConversationId,
    /// The ids of the initial messages, in order.
    pub messages: Vec<MessageId>,
}

impl Store {
    /// Starts a conversation with its first messages (typically a user question with its
    /// pictures, perhaps after a system prompt), all in one transaction. The title is made from
    /// the first user message's text; rename it with [`Store::rename_conversation`].
    pub async fn create_conversation(
        &self,
        model_id: &str,
        messages: Vec<NewMessage>,
    ) -> Result<Created> {
        let title = messages
            .iter()
            .find(|m| m.role == Role::User)
            .map_or_else(|| UNTITLED.to_owned(), |m| title_from_question(&m.text));
        let _files = self.inner.picture_files.lock().await;
        let mut stored = Vec::with_capacity(messages.len());
        for m in &messages {
            stored.push(self.store_picture_files(m.pictures.clone()).await?);
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (title, model_id, pinned, created_at, updated_at)
             VALUES (?1, ?2, 0, ?3, ?3) RETURNING id",
        )
        .bind(&title)
        .bind(model_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let conversation = ConversationId(id);
        let mut ids = Vec::with_capacity(messages.len());
        for (m, files) in messages.iter().zip(&stored) {
            let row = FullMessage::plain(m.role, &m.text, now);
            ids.push(insert_message(&mut tx, conversation, &row, files).await?);
        }
        tx.commit().await?;
        tracing::debug!(%conversation, "created conversation");
        Ok(Created {
            conversation,
            messages: ids,
        })
    }

    /// The history list: pinned first, then most recently updated. `limit`/`offset` page it.
    pub async fn list_conversations(
        &self,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<ConversationSummary>> {
        let sql = format!(
            "{SUMMARY_SELECT} ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ?1 OFFSET ?2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?)
    }

    /// One row of the history list.
    pub async fn conversation_summary(&self, id: ConversationId) -> Result<ConversationSummary> {
        let sql = format!("{SUMMARY_SELECT} WHERE c.id = ?1");
        sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::ConversationNotFound(id))
    }

    /// A conversation with all its messages and their pictures.
    pub async fn get_conversation(&self, id: ConversationId) -> Result<Conversation> {
        let summary = self.conversation_summary(id).await?;
        let messages = self.messages_of(id).await?;
        Ok(Conversation { summary, messages })
    }

    /// Sets a title chosen by the user (surrounding blanks removed; an empty title is refused
    /// by falling back to the placeholder, so the list never shows a blank row).
    pub async fn rename_conversation(&self, id: ConversationId, title: &str) -> Result<()> {
        let title = title.trim();
        let title = if title.is_empty() { UNTITLED } else { title };
        self.update_conversation(
            id,
            "UPDATE conversations SET title = ?2 WHERE id = ?1",
            title,
        )
        .await
    }

    /// Pins or unpins; pinned conversations head the list. Does not change `updated_at`, so
    /// pinning does not move a conversation to "today".
    pub async fn set_pinned(&self, id: ConversationId, pinned: bool) -> Result<()> {
        self.update_conversation(
            id,
            "UPDATE conversations SET pinned = ?2 WHERE id = ?1",
            i64::from(pinned),
        )
        .await
    }

    async fn update_conversation<'q, T>(
        &self,
        id: ConversationId,
        sql: &'q str,
        value: T,
    ) -> Result<()>
    where
        T: 'q + Send + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        let done = sqlx::query(sql)
            .bind(id)
            .bind(value)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ConversationNotFound(id));
        }
        Ok(())
    }

    /// Deletes a conversation, its messages, and every picture no other message uses. The
    /// picture files go after the transaction commits, so a failure never leaves a row
    /// pointing to a deleted file.
    pub async fn delete_conversation(&self, id: ConversationId) -> Result<()> {
        let _files = self.inner.picture_files.lock().await;
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM conversations WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ConversationNotFound(id));
        }
        let removed = delete_unused_rows(&mut tx).await?;
        tx.commit().await?;
        self.remove_files(&removed);
        tracing::debug!(%id, pictures = removed.len(), "deleted conversation");
        Ok(())
    }

    /// Deletes the messages at `from_position` and after (for "regenerate" and "edit and
    /// resend"), collecting pictures nothing uses any more. Returns how many messages went.
    pub async fn truncate_conversation(
        &self,
        id: ConversationId,
        from_position: i64,
    ) -> Result<u64> {
        let _files = self.inner.picture_files.lock().await;
        let mut tx = self.write_tx().await?;
        ensure_conversation(&mut *tx, id).await?;
        let deleted =
            sqlx::query("DELETE FROM messages WHERE conversation_id = ?1 AND position >= ?2")
                .bind(id)
                .bind(from_position)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query("UPDATE conversations SET updated_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let removed = delete_unused_rows(&mut tx).await?;
        tx.commit().await?;
        self.remove_files(&removed);
        Ok(deleted)
    }
}
