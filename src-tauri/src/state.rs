//! What the app holds between commands: the history store, the engine that answers (a model
//! loaded here or a server), the answer being written, pictures waiting in the composer, a
//! pending screen capture and the model downloads under way.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use onevision_engine::worker::JobHandle;
use onevision_store::Store;

use crate::attachments::Attachments;
use crate::capture::Captures;
use crate::downloads::Downloads;
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};

struct Running {
    id: u64,
    /// `None` while the question is being saved and the job prepared.
    handle: Option<JobHandle>,
    /// Stop was asked before the job reached the engine.
    stop_asked: bool,
}

/// The stop flag of the benchmark run under way.
pub type EvalStop = Arc<AtomicBool>;

fn raise(stop: &EvalStop) {
    stop.store(true, Ordering::Relaxed);
}

pub struct AppState {
    pub data_dir: PathBuf,
    store: Result<Store, String>,
    engine: Mutex<Option<Arc<AppEngine>>>,
    running: Mutex<Option<Running>>,
    next_job: AtomicU64,
    /// When `main` began, for the start-up time.
    started: std::time::Instant,
    painted: AtomicBool,
    /// Counts model loads begun and cancelled: a load whose number is no longer the latest when
    /// it finishes has been cancelled or overtaken, and its model is dropped.
    loads: AtomicU64,
    pub attachments: Attachments,
    pub captures: Captures,
    pub downloads: Downloads,
    /// The benchmark run under way (one at a time), by its stop flag.
    evaluating: Arc<Mutex<Option<EvalStop>>>,
}

/// Every lock here guards a single `Option` swap, which a panic cannot leave half-done, so a
/// poisoned lock is still consistent and is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// `store` is the opened history, or the sentence saying why it could not be opened (the
    /// app still runs, so the student can read the reason and still load a model).
    pub fn new(
        data_dir: PathBuf,
        store: Result<Store, String>,
        started: std::time::Instant,
    ) -> Self {
        AppState {
            data_dir,
            store,
            engine: Mutex::new(None),
            running: Mutex::new(None),
            next_job: AtomicU64::new(1),
            started,
            painted: AtomicBool::new(false),
            loads: AtomicU64::new(0),
            attachments: Attachments::default(),
            captures: Captures::default(),
            downloads: Downloads::default(),
            evaluating: Arc::new(Mutex::new(None)),
        }
    }

    pub fn store(&self) -> AppResult<&Store> {
        self.store.as_ref().map_err(|e| AppError::new(e.clone()))
    }

    pub fn history_error(&self) -> Option<String> {
        self.store.as_ref().err().cloned()
    }

    pub fn engine(&self) -> AppResult<Arc<AppEngine>> {
        lock(&self.engine).clone().ok_or_else(|| {
            AppError::new(
                "no model is loaded yet: choose a model folder or a server in the model panel",
            )
        })
    }

    pub fn loaded(&self) -> Option<Arc<AppEngine>> {
        lock(&self.engine).clone()
    }

    /// Puts `engine` in place and hands back the one it replaces, for the caller to drop off
    /// the async threads (dropping a local model waits for its thread).
    pub fn replace_engine(&self, engine: Option<Arc<AppEngine>>) -> Option<Arc<AppEngine>> {
        std::mem::replace(&mut *lock(&self.engine), engine)
    }

    /// Time from the app's start to the window's first painted frame, the first time it is
    /// asked; `None` after that.
    pub fn first_paint(&self) -> Option<std::time::Duration> {
        (!self.painted.swap(true, Ordering::SeqCst)).then(|| self.started.elapsed())
    }

    /// A model load begins; the number tells it later whether it is still wanted.
    pub fn begin_load(&self) -> u64 {
        self.loads.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// False once the load numbered `load` has been cancelled or a later one has begun.
    pub fn load_wanted(&self, load: u64) -> bool {
        self.loads.load(Ordering::SeqCst) == load
    }

    /// Whatever load is under way is no longer wanted.
    pub fn cancel_load(&self) {
        self.loads.fetch_add(1, Ordering::SeqCst);
    }

    /// Reserves the one slot for an answer; refuses a second while the first is being written.
    pub fn begin_job(&self) -> AppResult<u64> {
        let mut running = lock(&self.running);
        if running.is_some() {
            return Err(AppError::new(
                "an answer is still being written: stop it (Esc) or wait for it to finish",
            ));
        }
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        *running = Some(Running {
            id,
            handle: None,
            stop_asked: false,
        });
        Ok(id)
    }

    /// The job reached the engine; a stop asked meanwhile takes effect now.
    pub fn set_job_handle(&self, id: u64, handle: JobHandle) {
        let mut running = lock(&self.running);
        if let Some(r) = running.as_mut().filter(|r| r.id == id) {
            if r.stop_asked {
                handle.cancel();
            }
            r.handle = Some(handle);
        }
    }

    pub fn end_job(&self, id: u64) {
        let mut running = lock(&self.running);
        if running.as_ref().is_some_and(|r| r.id == id) {
            *running = None;
        }
    }

    /// Reserves the one slot for a benchmark run; its stop flag.
    pub fn begin_eval(&self) -> AppResult<EvalStop> {
        let mut slot = lock(&self.evaluating);
        if slot.is_some() {
            return Err(AppError::new(
                "a benchmark is already running: stop it or wait for it to finish",
            ));
        }
        let stop = EvalStop::default();
        *slot = Some(stop.clone());
        Ok(stop)
    }

    pub fn end_eval(&self) {
        *lock(&self.evaluating) = None;
    }

    /// Frees the slot from the run's own thread when it ends.
    pub fn eval_finished(&self) -> impl FnOnce() + Send + 'static {
        let slot = self.evaluating.clone();
        move || *lock(&slot) = None
    }

    /// Stops the benchmark run under way; true when there was one.
    pub fn stop_eval(&self) -> bool {
        match lock(&self.evaluating).as_ref() {
            Some(stop) => {
                raise(stop);
                true
            }
            None => false,
        }
    }

    /// Stops the answer being written, if any; true when there was one.
    pub fn stop(&self) -> bool {
        match lock(&self.running).as_mut() {
            Some(r) => {
                r.stop_asked = true;
                if let Some(h) = &r.handle {
                    h.cancel();
                }
                true
            }
            None => false,
        }
    }
}
