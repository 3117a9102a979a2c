use std::path::PathBuf;

/// Every failure of the model crate, worded as one sentence that names the file, field or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path} is not a Qwen2.5-VL checkpoint config: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    Weights { path: PathBuf, reason: String },

    #[error("picture {name}: {reason}")]
    Image { name: String, reason: String },

    #[error("invalid input: {0}")]
    Input(String),

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
