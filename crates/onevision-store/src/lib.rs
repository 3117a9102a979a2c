//! The conversation history of OneVision Desk: an SQLite database (through sqlx) plus a folder
//! of content-addressed pictures.
//!
//! The store knows nothing of models: the desktop shell and the `onevision` command feed it
//! questions, streamed replies ([`StreamWriter`]) and statistics, and read back conversations,
//! search hits and exports. See the crate README for the schema and the guarantees.

mod clock;
mod conversations;
mod db;
mod error;
mod evals;
pub mod export;
mod import;
mod messages;
mod owner;
mod pictures;
pub mod search;
mod speeds;
mod stream;
mod title;
mod types;

pub use conversations::Created;
pub use db::{Store, DB_FILE_NAME, MIGRATOR};
pub use error::{Result, StoreError};
pub use evals::{EvalRun, EvalRunId, EvalStatus};
pub use export::{
    render_markdown, ConversationExport, ExportedMessage, ExportedPicture, EXPORT_FORMAT,
    EXPORT_VERSION,
};
pub use messages::NewMessage;
pub use pictures::{preview_picture, PictureInput, PicturePreview, THUMBNAIL_SIZE};
pub use search::{SearchHit, SearchQuery, HIGHLIGHT_END, HIGHLIGHT_START, RANKED_MATCHES_MAX};
pub use speeds::ReplySpeed;
pub use stream::{Finish, Outcome, StreamWriter, DEFAULT_FLUSH_INTERVAL};
pub use title::{title_from_question, TITLE_MAX_CHARS};
pub use types::{
    Conversation, ConversationId, ConversationSummary, GenerationStats, Message, MessageId,
    MessageKind, MessageStatus, Picture, Role,
};
