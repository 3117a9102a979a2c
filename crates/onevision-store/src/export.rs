//! Exporting a conversation: Markdown for reading and sharing, JSON for a lossless copy that
//! [`Store::import_json`] reads back.
//!
//! # JSON format, version 1
//!
//! One object, `"format": "onevision-conversation"`, `"version": 1`, then the conversation's
//! `title`, `model_id`, `pinned`, `created_at`, `updated_at` (Unix ms), `messages` in order
//! (each with `role`, `status`, `text`, `think`, `answer`, `final_answer`, `error`, `stats`,
//! `settings`, `created_at`, `updated_at` and `pictures`: a list of SHA-256 ids), and
//! `pictures`: each distinct picture once, in order of first use, with `sha256`, `mime`, `ext`,
//! `width`, `height`, `byte_size` and the original bytes as standard base64 in `data_base64`.
//! Embedding keeps the export a single self-contained file; database ids are left out, so
//! exporting an imported conversation gives the same file again.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::format_utc;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::types::{
    Conversation, ConversationId, GenerationStats, MessageKind, MessageStatus, Role,
};

/// The `format` field of a JSON export.
pub const EXPORT_FORMAT: &str = "onevision-conversation";
/// The `version` field this build writes, and the newest it can import.
pub const EXPORT_VERSION: u32 = 1;

/// A conversation as exported to JSON (see the module docs for the format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationExport {
    pub format: String,
    pub version: u32,
    pub title: String,
    pub model_id: String,
    pub pinned: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub messages: Vec<ExportedMessage>,
    pub pictures: Vec<ExportedPicture>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedMessage {
    pub role: Role,
    /// Absent in exports from before transcribe-first: a reply.
    #[serde(default)]
    pub kind: MessageKind,
    pub status: MessageStatus,
    pub text: String,
    pub think: String,
    pub answer: String,
    #[serde(default)]
    pub edited_from: Option<String>,
    pub final_answer: Option<String>,
    pub error: Option<String>,
    pub stats: GenerationStats,
    pub settings: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// SHA-256 ids into [`ConversationExport::pictures`], in attachment order.
    pub pictures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedPicture {
    pub sha256: String,
    pub mime: String,
    pub ext: String,
    pub width: u32,
    pub height: u32,
    pub byte_size: u64,
    pub data_base64: String,
}

impl Store {
    /// The conversation in the JSON export structure, pictures embedded.
    pub async fn export_json(&self, id: ConversationId) -> Result<ConversationExport> {
        let conversation = self.get_conversation(id).await?;
        tokio::task::spawn_blocking(move || build_export(&conversation))
            .await
            .map_err(|e| StoreError::io("export", std::io::Error::other(e)))?
    }

    /// Writes the JSON export to `path` (pretty-printed, UTF-8).
    pub async fn export_json_file(&self, id: ConversationId, path: &Path) -> Result<()> {
        let export = self.export_json(id).await?;
        let mut json = serde_json::to_string_pretty(&export)?;
        json.push('\n');
        fs::write(path, json).map_err(|e| StoreError::io(path, e))
    }

    /// Writes `path` (a `.md` file) and copies the pictures into a folder beside it named
    /// `<file stem>_files`, linked relatively so the pair can be moved together. Text and math
    /// are written verbatim (LaTeX stays LaTeX); thinking goes in a collapsed `<details>` block.
    pub async fn export_markdown(&self, id: ConversationId, path: &Path) -> Result<()> {
        let conversation = self.get_conversation(id).await?;
        let folder = markdown_pictures_dir(path);
        let folder_name = folder
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let markdown = render_markdown(&conversation, &folder_name);
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut copied = HashSet::new();
            for picture in conversation.messages.iter().flat_map(|m| &m.pictures) {
                if !copied.insert(&picture.sha256) {
                    continue;
                }
                fs::create_dir_all(&folder).map_err(|e| StoreError::io(&folder, e))?;
                let target = folder.join(format!("{}.{}", picture.sha256, picture.ext));
                fs::copy(&picture.path, &target).map_err(|e| StoreError::io(&picture.path, e))?;
            }
            fs::write(&path, markdown).map_err(|e| StoreError::io(&path, e))
        })
        .await
        .map_err(|e| StoreError::io("export", std::io::Error::other(e)))?
    }
}

fn build_export(c: &Conversation) -> Result<ConversationExport> {
    let mut pictures = Vec::new();
    let mut seen = HashSet::new();
    let mut messages = Vec::with_capacity(c.messages.len());
    for m in &c.messages {
        for p in &m.pictures {
            if seen.insert(p.sha256.clone()) {
                let bytes = fs::read(&p.path).map_err(|e| StoreError::io(&p.path, e))?;
                pictures.push(ExportedPicture {
                    sha256: p.sha256.clone(),
                    mime: p.mime.clone(),
                    ext: p.ext.clone(),
                    width: p.width,
                    height: p.height,
                    byte_size: p.byte_size,
                    data_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
            }
        }
        messages.push(ExportedMessage {
            role: m.role,
            kind: m.kind,
            status: m.status,
            text: m.text.clone(),
            think: m.think.clone(),
            answer: m.answer.clone(),
            edited_from: m.edited_from.clone(),
            final_answer: m.final_answer.clone(),
            error: m.error.clone(),
            stats: m.stats.clone(),
            settings: m.settings.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            pictures: m.pictures.iter().map(|p| p.sha256.clone()).collect(),
        });
    }
    let s = &c.summary;
    Ok(ConversationExport {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_VERSION,
        title: s.title.clone(),
        model_id: s.model_id.clone(),
        pinned: s.pinned,
        created_at: s.created_at,
        updated_at: s.updated_at,
        messages,
        pictures,
    })
}

/// The Markdown text of a conversation whose pictures are (or will be) in `folder_name`
/// beside the file.
pub fn render_markdown(c: &Conversation, folder_name: &str) -> String {
    let mut md = String::new();
    let title = c.summary.title.replace(['\r', '\n'], " ");
    md.push_str(&format!("# {title}\n\n"));
    md.push_str(&format!(
        "*{} · {}*\n",
        c.summary.model_id,
        format_utc(c.summary.created_at)
    ));
    let mut picture_number = 0;
    for m in &c.messages {
        let heading = match (m.role, m.kind) {
            (Role::System, _) => "System",
            (Role::User, _) => "Question",
            (Role::Assistant, MessageKind::Transcription) if m.edited_from.is_some() => {
                "Transcription (corrected by the student)"
            }
            (Role::Assistant, MessageKind::Transcription) => "Transcription",
            (Role::Assistant, MessageKind::Reply) => "Answer",
        };
        // Exactly one blank line between sections, whatever the previous one ended with.
        md.truncate(md.trim_end_matches('\n').len());
        md.push_str(&format!("\n\n## {heading}\n\n"));
        for p in &m.pictures {
            picture_number += 1;
            let link = format!("{folder_name}/{}.{}", p.sha256, p.ext);
            md.push_str(&format!(
                "![Picture {picture_number}]({})\n\n",
                percent_encode_path(&link)
            ));
        }
        if !m.think.trim().is_empty() {
            md.push_str("<details>\n<summary>Thinking</summary>\n\n");
            md.push_str(m.think.trim_end());
            md.push_str("\n\n</details>\n\n");
        }
        let body = match m.role {
            Role::Assistant if !m.answer.trim().is_empty() => &m.answer,
            Role::Assistant if m.think.trim().is_empty() => &m.text,
            Role::Assistant => &m.answer,
            _ => &m.text,
        };
        if !body.trim().is_empty() {
            md.push_str(body.trim_end());
            md.push_str("\n\n");
        }
        if let Some(first) = m.edited_from.as_deref().filter(|f| !f.trim().is_empty()) {
            md.push_str("<details>\n<summary>What the model read first</summary>\n\n");
            md.push_str(first.trim_end());
            md.push_str("\n\n</details>\n\n");
        }
        if let Some(fa) = m.final_answer.as_deref().filter(|fa| !body.contains(*fa)) {
            md.push_str(&format!("**Final answer:** {fa}\n\n"));
        }
        match m.status {
            MessageStatus::Complete => {}
            MessageStatus::Streaming => md.push_str("*(still being written when exported)*\n\n"),
            MessageStatus::Stopped => md.push_str("*(stopped before the end)*\n\n"),
            MessageStatus::Interrupted => {
                md.push_str("*(interrupted: the app closed while writing)*\n\n")
            }
            MessageStatus::Failed => md.push_str(&format!(
                "*(failed: {})*\n\n",
                m.error.as_deref().unwrap_or("unknown error")
            )),
        }
    }
    md.truncate(md.trim_end_matches('\n').len());
    md.push('\n');
    md
}

/// Keeps a relative link valid whatever the export's file name contains (spaces, brackets,
/// non-ASCII): everything but unreserved characters and `/` is percent-encoded.
fn percent_encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where [`Store::export_markdown`] puts the pictures of `md_path`.
pub fn markdown_pictures_dir(md_path: &Path) -> PathBuf {
    let stem = md_path.file_stem().map_or_else(
        || "conversation".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    md_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{stem}_files"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ConversationSummary, Message, MessageId, Picture};

    fn message(role: Role, text: &str, think: &str, answer: &str) -> Message {
        Message {
            id: MessageId(1),
            conversation_id: ConversationId(1),
            position: 0,
            role,
            kind: MessageKind::Reply,
            text: text.into(),
            think: think.into(),
            answer: answer.into(),
            edited_from: None,
            final_answer: None,
            status: MessageStatus::Complete,
            error: None,
            stats: GenerationStats::default(),
            settings: None,
            pictures: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn markdown_layout() {
        let mut question = message(Role::User, "Solve $x^2 = 4$.\n", "", "");
        question.pictures.push(Picture {
            sha256: "ab".repeat(32),
            mime: "image/png".into(),
            ext: "png".into(),
            width: 1,
            height: 1,
            byte_size: 1,
            path: PathBuf::new(),
            thumbnail_path: PathBuf::new(),
        });
        let mut reply = message(
            Role::Assistant,
            "",
            "Roots of\n\\[x^2-4=0\\]",
            "$x = \\pm 2$",
        );
        reply.final_answer = Some("±2".into());
        reply.status = MessageStatus::Stopped;
        let c = Conversation {
            summary: ConversationSummary {
                id: ConversationId(1),
                title: "Solve\nit".into(),
                model_id: "r1-onevision-7b".into(),
                pinned: false,
                created_at: 86_400_000,
                updated_at: 86_400_000,
                message_count: 2,
                interrupted: false,
            },
            messages: vec![question, reply],
        };
        let expected = format!(
            "# Solve it\n\n*r1-onevision-7b · 1970-01-02 00:00 UTC*\n\n## Question\n\n\
             ![Picture 1](pics/{}.png)\n\nSolve $x^2 = 4$.\n\n## Answer\n\n\
             <details>\n<summary>Thinking</summary>\n\nRoots of\n\\[x^2-4=0\\]\n\n</details>\n\n\
             $x = \\pm 2$\n\n**Final answer:** ±2\n\n*(stopped before the end)*\n",
            "ab".repeat(32)
        );
        assert_eq!(render_markdown(&c, "pics"), expected);
    }

    #[test]
    fn links_survive_spaces_and_unicode() {
        assert_eq!(
            percent_encode_path("my notes (é)_files/ab.png"),
            "my%20notes%20%28%C3%A9%29_files/ab.png"
        );
    }
}
