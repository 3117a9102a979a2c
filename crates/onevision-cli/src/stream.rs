//! Running one job on the engine (ours or a server) to its end, its text passed on as it streams.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Result};
use onevision_engine::generate::Output;
use onevision_engine::worker::{Job, WorkerEvent};

use crate::engine_args::Engine;

/// A piece of streamed text.
pub enum Streamed<'a> {
    Think(&'a str),
    Answer(&'a str),
}

/// Runs one job to its end, passing its text on as it streams; Ctrl-C cancels it between tokens
/// (the output then says `cancelled`).
pub fn stream(
    engine: &Engine,
    job: Job,
    interrupted: &AtomicBool,
    mut on_text: impl FnMut(Streamed) -> Result<()>,
) -> Result<Output> {
    let (tx, rx) = mpsc::channel();
    let handle = engine.seam().submit_job(
        job,
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    )?;
    loop {
        // Checked on every turn: while tokens stream, events come faster than the timeout, so a
        // check only on timeouts would never see Ctrl-C.
        if interrupted.load(Ordering::SeqCst) && !handle.is_cancelled() {
            handle.cancel();
        }
        let event = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(e) => e,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("the engine stopped before finishing the answer")
            }
        };
        match event {
            WorkerEvent::Think(t) => on_text(Streamed::Think(&t))?,
            WorkerEvent::Answer(t) => on_text(Streamed::Answer(&t))?,
            WorkerEvent::Started { .. } | WorkerEvent::Stats(_) => {}
            WorkerEvent::Done(out) => return Ok(*out),
            WorkerEvent::Failed(e) => bail!(e.message),
        }
    }
}
