//! One error type for the whole store, so the app and the CLI can print a single sentence that
//! names the file or the record at fault.

use std::path::PathBuf;

use crate::types::EvalRunId;
use crate::types::{ConversationId, MessageId};

/// Everything the store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The path holds something that is not an SQLite database (the header is wrong).
    #[error("{path} is not a OneVision history database (it is not an SQLite file); it was left untouched")]
    NotSqlite { path: PathBuf },

    /// The file looks like SQLite but cannot be read back consistently.
    #[error("{path} is a damaged SQLite database ({detail}); it was left untouched")]
    Corrupt { path: PathBuf, detail: String },

    /// A valid SQLite database that some other program owns.
    #[error("{path} is an SQLite database that OneVision did not create ({reason}); it was left untouched")]
    Foreign { path: PathBuf, reason: String },

    /// Written by a newer OneVision: migrating it down is impossible and writing to it unsafe.
    #[error("{path} was written by a newer version of OneVision (schema version {version}, this build knows up to {known}); update the app to open it")]
    NewerVersion {
        path: PathBuf,
        version: i64,
        known: i64,
    },

    /// A file or folder of the store (or one given to import/export) could not be used.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("conversation {0} does not exist")]
    ConversationNotFound(ConversationId),

    #[error("message {0} does not exist")]
    MessageNotFound(MessageId),

    #[error("evaluation run {0} does not exist")]
    EvalRunNotFound(EvalRunId),

    #[error("evaluation run {id} has the unknown status {status:?}")]
    EvalRunStatus { id: EvalRunId, status: String },

    /// The bytes given as a picture are not an image this build can read.
    #[error("{origin} is not a picture OneVision can read: {reason}")]
    InvalidPicture { origin: String, reason: String },

    /// A stream was written to after it stopped being the live stream of its message (it was
    /// finished, or another process declared it interrupted).
    #[error("message {0} is not a finished transcription, so it cannot be corrected")]
    NotATranscription(MessageId),

    #[error("message {0} is no longer streaming")]
    StreamNotActive(MessageId),

    /// An export file that cannot be imported as it is.
    #[error("{origin} cannot be imported: {reason}")]
    Import { origin: String, reason: String },

    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),

    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
