//! The real-tokenizer parity fixture, shared by the engine's tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use onevision_engine::generate::Output;
use onevision_engine::worker::{Job, Worker, WorkerEvent};

use serde_json::Value;

pub fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/fixtures/real_tokenizer_chat")
}

pub fn case() -> Value {
    serde_json::from_str(&std::fs::read_to_string(case_dir().join("case.json")).unwrap()).unwrap()
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Runs a job to its end and returns its events.
pub fn run(worker: &Worker, job: Job) -> Vec<WorkerEvent> {
    let (tx, rx) = mpsc::channel();
    worker
        .submit(job, move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
    let mut events = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("an event within five minutes");
        let last = matches!(e, WorkerEvent::Done(_) | WorkerEvent::Failed(_));
        events.push(e);
        if last {
            return events;
        }
    }
}

pub fn done(events: &[WorkerEvent]) -> &Output {
    match events.last() {
        Some(WorkerEvent::Done(out)) => out,
        other => panic!("expected Done, got {other:?}"),
    }
}
