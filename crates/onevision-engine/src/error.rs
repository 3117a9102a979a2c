use std::path::PathBuf;

/// Failures of the engine, each one sentence naming the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} {reason}")]
    File { path: PathBuf, reason: String },

    #[error("the chat template failed: {0}")]
    Template(String),

    #[error("{0}")]
    Prompt(String),

    /// What was asked cannot be done as asked (a prompt beyond the context, sampling values out
    /// of range): the asker's to fix, not the engine's.
    #[error("{0}")]
    Request(String),

    #[error(transparent)]
    Model(#[from] onevision_model::Error),
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}
