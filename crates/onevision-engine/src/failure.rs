//! Why a job failed, and whose it is to fix: the asker (a prompt beyond the context), nobody for
//! now (a server that is down or busy: worth asking again later), or the engine itself.

use std::fmt;

use crate::error::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The job as asked cannot be done; asking again the same way fails the same way.
    Request,
    /// The answerer could not be reached or gave up (a server down, busy, a connection that
    /// broke): asking again later may work.
    Unavailable,
    /// Anything else (a model that failed, a reply that cannot be read).
    Engine,
}

/// One sentence saying what went wrong, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub kind: FailureKind,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            kind,
        }
    }

    pub fn engine(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Engine, message)
    }

    pub fn request(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Request, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Unavailable, message)
    }

    /// Whether asking again later may work.
    pub fn is_transient(&self) -> bool {
        self.kind == FailureKind::Unavailable
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&EngineError> for Failure {
    fn from(e: &EngineError) -> Self {
        let kind = match e {
            EngineError::Request(_) => FailureKind::Request,
            _ => FailureKind::Engine,
        };
        Failure::new(kind, e.to_string())
    }
}
