use std::path::PathBuf;

/// What stops a whole run (a single item's trouble is recorded against that item instead).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{0}")]
    Engine(String),
}

pub type Result<T> = std::result::Result<T, EvalError>;

impl EvalError {
    pub fn read(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        EvalError::Read {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    pub fn write(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        EvalError::Write {
            path: path.into(),
            reason: e.to_string(),
        }
    }
}
