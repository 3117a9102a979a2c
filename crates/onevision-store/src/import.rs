//! Importing a JSON export (see [`crate::export`]) as a new conversation, in one transaction,
//! after checking everything in it: the format and version, every picture's bytes against its
//! SHA-256, and every picture reference.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use base64::Engine as _;

use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::export::{ConversationExport, EXPORT_FORMAT, EXPORT_VERSION};
use crate::messages::{insert_message, FullMessage};
use crate::pictures::{sha256_hex, store_bytes, StoredFile};
use crate::types::{ConversationId, MessageStatus};

impl Store {
    /// Reads and imports a JSON export file; errors name the file.
    pub async fn import_json_file(&self, path: &Path) -> Result<ConversationId> {
        let origin = path.display().to_string();
        let bytes = fs::read(path).map_err(|e| StoreError::io(path, e))?;
        let export: ConversationExport =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Import {
                origin: origin.clone(),
                reason: format!("it is not a valid conversation export ({e})"),
            })?;
        self.import_json_from(export, &origin).await
    }

    /// Imports an export as a new conversation (importing twice gives two conversations).
    /// Content and times are kept as they were; a reply exported while still `streaming` has no
    /// writer any more and comes back `interrupted`.
    pub async fn import_json(&self, export: ConversationExport) -> Result<ConversationId> {
        self.import_json_from(export, "the imported conversation")
            .await
    }

    async fn import_json_from(
        &self,
        export: ConversationExport,
        origin: &str,
    ) -> Result<ConversationId> {
        let fail = |reason: String| StoreError::Import {
            origin: origin.to_owned(),
            reason,
        };
        if export.format != EXPORT_FORMAT {
            return Err(fail(format!(
                "its format is {:?}, not {EXPORT_FORMAT:?}",
                export.format
            )));
        }
        if export.version > EXPORT_VERSION {
            return Err(fail(format!(
                "it was exported by a newer OneVision (format version {}, this build reads up to {EXPORT_VERSION})",
                export.version
            )));
        }
        if export.version == 0 {
            return Err(fail("its format version is 0".into()));
        }

        let mut decoded = Vec::with_capacity(export.pictures.len());
        for p in &export.pictures {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p.data_base64.as_bytes())
                .map_err(|e| fail(format!("picture {} is not valid base64 ({e})", p.sha256)))?;
            let actual = sha256_hex(&bytes);
            if actual != p.sha256 {
                return Err(fail(format!(
                    "picture {} does not match its SHA-256 (the data hashes to {actual})",
                    p.sha256
                )));
            }
            decoded.push(bytes);
        }
        let known: HashMap<&str, usize> = export
            .pictures
            .iter()
            .enumerate()
            .map(|(i, p)| (p.sha256.as_str(), i))
            .collect();
        for (n, m) in export.messages.iter().enumerate() {
            if let Some(missing) = m.pictures.iter().find(|s| !known.contains_key(s.as_str())) {
                return Err(fail(format!(
                    "message {} uses picture {missing}, which the file does not contain",
                    n + 1
                )));
            }
        }

        let _files = self.inner.picture_files.lock().await;
        let images_dir = self.images_dir().to_owned();
        let origin_owned = origin.to_owned();
        let stored: Vec<StoredFile> = tokio::task::spawn_blocking(move || {
            decoded
                .iter()
                .map(|bytes| store_bytes(&images_dir, bytes, &origin_owned))
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| StoreError::io(self.images_dir(), std::io::Error::other(e)))??;

        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (title, model_id, pinned, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(&export.title)
        .bind(&export.model_id)
        .bind(i64::from(export.pinned))
        .bind(export.created_at)
        .bind(export.updated_at)
        .fetch_one(&mut *tx)
        .await?;
        let conversation = ConversationId(id);
        for m in &export.messages {
            let files: Vec<StoredFile> = m
                .pictures
                .iter()
                .filter_map(|sha| known.get(sha.as_str()).map(|&i| stored[i].clone()))
                .collect();
            let status = match m.status {
                MessageStatus::Streaming => MessageStatus::Interrupted,
                s => s,
            };
            let row = FullMessage {
                role: m.role,
                kind: m.kind,
                text: &m.text,
                think: &m.think,
                answer: &m.answer,
                edited_from: m.edited_from.as_deref(),
                final_answer: m.final_answer.as_deref(),
                status,
                error: m.error.as_deref(),
                stream_owner: None,
                stats: m.stats.clone(),
                settings: m.settings.as_ref().map(|s| s.to_string()),
                created_at: m.created_at,
                updated_at: m.updated_at,
            };
            insert_message(&mut tx, conversation, &row, &files).await?;
        }
        tx.commit().await?;
        tracing::info!(%conversation, origin, "imported conversation");
        Ok(conversation)
    }
}
