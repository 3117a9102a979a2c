//! `ask --transcribe-first`'s first pass: the model's formal transcription of the pictures
//! (streamed under "transcription:"), or the student's corrected one from a file.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::preset::PromptPreset;
use onevision_engine::transcribe::{self, Transcription};
use onevision_engine::worker::Job;

use crate::engine_args::Engine;
use crate::output::json_value;
use crate::printer::TextPrinter;
use crate::stream::{stream, Streamed};

/// Where transcribe-first's transcription comes from.
pub enum TranscriptionFrom {
    Model,
    File(PathBuf),
}

/// The transcription the answer starts from, and the first pass that wrote it (none when the
/// student gave it).
pub struct Reading {
    pub transcription: Transcription,
    pub pass: Option<Output>,
    pub file: Option<PathBuf>,
}

impl Reading {
    pub fn json(&self, engine: &Engine) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "kind": self.transcription.kind,
            "text": self.transcription.text,
            "file": self.file.as_ref().map(|f| f.display().to_string()),
            "pass": self.pass.as_ref().map(|o| json_value(o, engine)).transpose()?,
        }))
    }
}

/// The first pass (streamed under "transcription:"), or the student's file.
pub fn read_first(
    engine: &Engine,
    job: &Job,
    preset: PromptPreset,
    from: TranscriptionFrom,
    interrupted: &AtomicBool,
    printer: &mut TextPrinter,
) -> Result<Reading> {
    let first = transcribe::first_pass(&job.messages, preset)?;
    if let TranscriptionFrom::File(path) = from {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the transcription {}", path.display()))?;
        let t = Transcription::from_reply(&text);
        let transcription = Transcription::checked(t.kind, &t.text)
            .with_context(|| format!("{} cannot be used", path.display()))?;
        printer.section("transcription");
        printer.answer(&transcription.as_reply())?;
        return Ok(Reading {
            transcription,
            pass: None,
            file: Some(path),
        });
    }
    let pass_job = Job {
        messages: first,
        pictures: job.pictures.clone(),
        max_pixels: job.max_pixels,
        sampling: job.sampling.clone(),
        max_new_tokens: job.max_new_tokens,
        ..Job::default()
    };
    printer.section("transcription");
    let out = stream(engine, pass_job, interrupted, |event| match event {
        Streamed::Think(t) => printer.think(t),
        Streamed::Answer(t) => printer.answer(t),
    })?;
    let read = Transcription::from_reply(&out.answer);
    let transcription = if out.finish_reason == FinishReason::Cancelled {
        read
    } else {
        Transcription::checked(read.kind, &read.text).context(
            "the model's transcription cannot be used; write one and give it with --transcription FILE",
        )?
    };
    Ok(Reading {
        transcription,
        pass: Some(out),
        file: None,
    })
}
