//! The seam between whoever asks (the app, `onevision ask`, eval, the API server) and whatever
//! answers: a conversation goes in as a [`Job`], the events of [`WorkerEvent`] come out. The model
//! on this computer (the engine thread of [`Worker`]) fills it, and so does a client of a server
//! that speaks OpenAI's chat API; callers do not care which.

use std::path::PathBuf;

use crate::error::Result;
use crate::worker::{EventSink, Job, JobHandle, Worker};

/// Where the answers come from, for the top bar, the history's records and `--format json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineSource {
    /// The model folder loaded on this computer.
    Local { dir: PathBuf },
    /// A server: its base URL (ending in `/v1`) and the model it was asked for.
    Server { base_url: String, model: String },
}

impl EngineSource {
    /// A short name for the model: the folder's name, or the server's model id.
    pub fn model_name(&self) -> String {
        match self {
            EngineSource::Local { dir } => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            EngineSource::Server { model, .. } => model.clone(),
        }
    }
}

pub trait ChatEngine: Send + Sync {
    fn source(&self) -> EngineSource;

    /// Queues a job; its events go to `on_event` in the order [`WorkerEvent`] describes, ending
    /// with exactly one `Done` or `Failed`. The handle stops it between two tokens.
    fn submit_job(&self, job: Job, on_event: EventSink) -> Result<JobHandle>;
}

impl ChatEngine for Worker {
    fn source(&self) -> EngineSource {
        EngineSource::Local {
            dir: self.info().dir.clone(),
        }
    }

    fn submit_job(&self, job: Job, on_event: EventSink) -> Result<JobHandle> {
        self.submit(job, on_event)
    }
}
