use std::path::PathBuf;

/// Failures of finding, checking and downloading models; each one sentence naming what is at
/// fault and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} {reason}")]
    Incomplete { path: PathBuf, reason: String },

    #[error("unknown model {0:?}; `onevision models list` shows the catalog (or give a Hugging Face repository as Org/Name)")]
    UnknownModel(String),

    #[error(
        "{repo} is gated: the hub wants a Hugging Face access token. Accept the model's conditions \
         at {endpoint}/{repo}, then give a token with --token, the HF_TOKEN environment variable, \
         or `huggingface-cli login`"
    )]
    NeedsToken { repo: String, endpoint: String },

    #[error(
        "the token was refused for {repo}: accept the model's conditions at {endpoint}/{repo} \
         with the account the token belongs to, or check that the token is valid"
    )]
    Refused { repo: String, endpoint: String },

    #[error("{what} was not found on the hub ({url})")]
    NotFound { what: String, url: String },

    #[error("the hub answered {status} for {url}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },

    #[error("cannot reach {url}: {reason}")]
    Network { url: String, reason: String },

    #[error("the hub's answer for {url} cannot be read: {reason}")]
    BadAnswer { url: String, reason: String },

    #[error(
        "{file} failed its checksum: the hub says {algorithm} {expected}, the download gave \
         {actual}; the damaged copy was deleted, run the download again"
    )]
    HashMismatch {
        file: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },

    #[error(
        "not enough free space in {path}: the download needs {needed} more but only {available} \
         is free"
    )]
    DiskFull {
        path: PathBuf,
        needed: String,
        available: String,
    },

    #[error(transparent)]
    Model(#[from] onevision_model::Error),

    #[error("the download was stopped; run it again to resume where it left off")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, CatalogError>;

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CatalogError::Io {
            path: path.into(),
            source,
        }
    }
}
