//! One dedicated OS thread owns the loaded model: jobs go in through a queue, typed events come out
//! through each job's callback. Heavy compute thus never runs on a UI thread or an async runtime's
//! workers, and the model's caches (the conversation's keys and values, recent pictures' vision
//! output) live as long as the thread does.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

use onevision_model::image::ImageProcessorConfig;
use onevision_model::{DType, Device, LoadOptions, Model, PackedWeights, Quantization};

use crate::error::{EngineError, Result};
use crate::failure::Failure;
use crate::generate::{generate, Event, GenerationDefaults, Output, Progress, Request};
use crate::prompt::{Message, PromptBuilder};
use crate::sampler::SamplingParams;
use crate::session::Session;
use crate::split::Splitting;

/// Used when neither the job nor generation_config.json sets a budget.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 4096;

/// What a job reports, in this order: `Started`, then `Think`/`Answer` deltas and `Stats` now and
/// then, then exactly one of `Done` or `Failed`.
#[derive(Debug, Clone)]
pub enum WorkerEvent {
    Started {
        prompt_tokens: usize,
        reused_tokens: usize,
        cached_pictures: usize,
    },
    Think(String),
    Answer(String),
    Stats(Progress),
    /// The whole answer, with its finish reason (`stop`, `length` or `cancelled`) and timings.
    Done(Box<Output>),
    /// What went wrong, in one sentence, and whose it is to fix; the model stays loaded and
    /// usable.
    Failed(Failure),
}

/// One question: the whole conversation so far, ending with the user's turn.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub messages: Vec<Message>,
    /// Pictures in the order the messages refer to them.
    pub pictures: Vec<image::RgbImage>,
    pub max_pixels: Option<usize>,
    /// `None`: the model folder's generation_config.json.
    pub sampling: Option<SamplingParams>,
    /// `None`: generation_config.json's, else [`DEFAULT_MAX_NEW_TOKENS`].
    pub max_new_tokens: Option<usize>,
    pub logprobs: usize,
    /// The answer ends before the first of these strings it writes (not included).
    pub stop: Vec<String>,
    /// How the text is divided into thinking and answer events.
    pub splitting: Splitting,
}

/// What the loaded model is, for display and for filling in a job's defaults.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub device: Device,
    pub dtype: DType,
    pub quant: Quantization,
    /// Whether the load packed its weights and kept them, or read kept ones back.
    pub packed_weights: PackedWeights,
    pub load_ms: f64,
    pub defaults: GenerationDefaults,
    /// The longest prompt plus answer, in tokens.
    pub context_tokens: usize,
    /// How the model resizes pictures (its preprocessor_config.json as loaded).
    pub image: ImageProcessorConfig,
}

/// Stops a submitted job between two tokens (or before it starts).
#[derive(Debug, Clone, Default)]
pub struct JobHandle {
    cancel: Arc<AtomicBool>,
}

impl JobHandle {
    /// A handle whose cancel flag the caller's own engine watches.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Where a job's events go: called on the engine's thread, so it should only pass them on.
pub type EventSink = Box<dyn FnMut(WorkerEvent) + Send>;

struct Queued {
    job: Job,
    cancel: Arc<AtomicBool>,
    on_event: EventSink,
}

pub struct Worker {
    jobs: Option<mpsc::Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
    info: ModelInfo,
}

impl Worker {
    /// Starts the thread and loads the model folder on it; returns once the model is ready, or
    /// with the reason it cannot be loaded.
    pub fn start(dir: &Path, opts: LoadOptions) -> Result<Worker> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Queued>();
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("onevision-engine".into())
            .spawn(move || {
                let loaded = load(&dir, &opts);
                let (model, prompt, info) = match loaded {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if ready_tx.send(Ok(info.clone())).is_err() {
                    return;
                }
                serve(model, prompt, info, jobs_rx);
            })
            .map_err(|e| EngineError::Prompt(format!("cannot start the engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(info)) => Ok(Worker {
                jobs: Some(jobs_tx),
                thread: Some(thread),
                info,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EngineError::Prompt(
                    "the engine thread stopped while loading the model".into(),
                ))
            }
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Queues a job; its events go to `on_event`, on the engine thread, so keep it quick (send
    /// the event on; do not compute).
    pub fn submit(
        &self,
        job: Job,
        on_event: impl FnMut(WorkerEvent) + Send + 'static,
    ) -> Result<JobHandle> {
        let cancel = Arc::new(AtomicBool::new(false));
        let queued = Queued {
            job,
            cancel: cancel.clone(),
            on_event: Box::new(on_event),
        };
        self.jobs
            .as_ref()
            .and_then(|tx| tx.send(queued).ok())
            .ok_or_else(|| EngineError::Prompt("the engine thread has stopped".into()))?;
        Ok(JobHandle { cancel })
    }
}

impl Drop for Worker {
    /// Lets the queued jobs finish, then ends the thread.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn load(dir: &Path, opts: &LoadOptions) -> Result<(Model, PromptBuilder, ModelInfo)> {
    let start = Instant::now();
    let model = Model::load(dir, opts)?;
    let prompt = PromptBuilder::from_dir(dir, model.config().image_token_id)?;
    let defaults = GenerationDefaults::from_dir(dir)?;
    let info = ModelInfo {
        dir: dir.to_path_buf(),
        device: model.device().clone(),
        dtype: model.dtype(),
        quant: model.quantization(),
        packed_weights: model.packed_weights(),
        load_ms: start.elapsed().as_secs_f64() * 1e3,
        defaults,
        context_tokens: model.config().text.max_position_embeddings,
        image: model.image_config().clone(),
    };
    tracing::info!(dir = %dir.display(), load_ms = info.load_ms, "model loaded");
    Ok((model, prompt, info))
}

fn serve(mut model: Model, prompt: PromptBuilder, info: ModelInfo, jobs: mpsc::Receiver<Queued>) {
    let mut session = Session::new();
    for Queued {
        job,
        cancel,
        mut on_event,
    } in jobs
    {
        let ran = catch_unwind(AssertUnwindSafe(|| {
            run_job(
                &mut model,
                &prompt,
                &info,
                &mut session,
                &job,
                &cancel,
                &mut on_event,
            )
        }));
        match ran {
            Ok(Ok(out)) => on_event(WorkerEvent::Done(Box::new(out))),
            Ok(Err(e)) => on_event(WorkerEvent::Failed(Failure::from(&e))),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(%what, "generation panicked");
                session.forget(&mut model);
                on_event(WorkerEvent::Failed(Failure::engine(format!(
                    "the engine failed unexpectedly ({what}); the conversation cache was cleared"
                ))));
            }
        }
    }
}

fn run_job(
    model: &mut Model,
    prompt: &PromptBuilder,
    info: &ModelInfo,
    session: &mut Session,
    job: &Job,
    cancel: &AtomicBool,
    on_event: &mut EventSink,
) -> Result<Output> {
    let sampling = job
        .sampling
        .clone()
        .unwrap_or_else(|| info.defaults.sampling.clone());
    let max_new_tokens = job
        .max_new_tokens
        .or(info.defaults.max_new_tokens)
        .unwrap_or(DEFAULT_MAX_NEW_TOKENS);
    let req = Request {
        messages: &job.messages,
        pictures: &job.pictures,
        max_pixels: job.max_pixels,
        sampling,
        max_new_tokens,
        eos_token_ids: &info.defaults.eos_token_ids,
        logprobs: job.logprobs,
        stop: &job.stop,
        splitting: job.splitting,
    };
    generate(model, prompt, &req, session, cancel, |e| {
        on_event(match e {
            Event::Started {
                prompt_tokens,
                reused_tokens,
                cached_pictures,
            } => WorkerEvent::Started {
                prompt_tokens,
                reused_tokens,
                cached_pictures,
            },
            Event::Think(t) => WorkerEvent::Think(t),
            Event::Answer(t) => WorkerEvent::Answer(t),
            Event::Progress(p) => WorkerEvent::Stats(p),
        })
    })
}
