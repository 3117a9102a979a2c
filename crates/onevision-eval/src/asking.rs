//! One job through the engine's seam, waited for: its output, or why it failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use onevision_engine::generate::Output;
use onevision_engine::worker::{Job, WorkerEvent};
use onevision_engine::{ChatEngine, Failure};

/// How an asked job ended.
pub enum Asked {
    Done(Box<Output>),
    Failed(Failure),
    /// The run was stopped (Ctrl-C) while it was being answered.
    Stopped,
}

/// Submits `job` and waits for its end, cancelling it if `stop` is raised meanwhile.
pub fn ask(engine: &dyn ChatEngine, job: Job, stop: &AtomicBool) -> Asked {
    let (tx, rx) = mpsc::channel();
    let handle = match engine.submit_job(
        job,
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    ) {
        Ok(h) => h,
        Err(e) => return Asked::Failed(Failure::from(&e)),
    };
    loop {
        if stop.load(Ordering::Relaxed) && !handle.is_cancelled() {
            handle.cancel();
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(WorkerEvent::Done(out)) => {
                return if handle.is_cancelled() {
                    Asked::Stopped
                } else {
                    Asked::Done(out)
                }
            }
            Ok(WorkerEvent::Failed(f)) => return Asked::Failed(f),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Asked::Failed(Failure::engine(
                    "the engine stopped before finishing the answer",
                ))
            }
        }
    }
}
