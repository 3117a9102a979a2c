//! `ask --transcribe-first`'s first pass: the model's formal transcription of the pictures
//! (streamed under "transcription:"), or the student's corrected one from a file.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::preset::PromptPreset;
use onevision_engine::transcribe::{self, Transcription};
use onevision_engine::worker::Job;
use onevision_store::MessageId;

use crate::engine_args::Engine;
use crate::output::json_value;
use crate::printer::{show_and_record, TextPrinter};
use crate::save::Recorder;
use crate::stream::stream;

/// Where transcribe-first's transcription comes from.
pub enum TranscriptionFrom {
    Model,
    /// The student's, read from `path` before anything is asked or saved.
    File {
        path: PathBuf,
        transcription: Transcription,
    },
}

impl TranscriptionFrom {
    /// Reads and checks a transcription file.
    pub fn file(path: PathBuf) -> Result<TranscriptionFrom> {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the transcription {}", path.display()))?;
        let transcription = Transcription::read(&text)
            .with_context(|| format!("{} cannot be used", path.display()))?;
        Ok(TranscriptionFrom::File {
            path,
            transcription,
        })
    }
}

/// The transcription the answer starts from, and the first pass that wrote it (none when the
/// student gave it).
pub struct Reading {
    pub transcription: Transcription,
    pub pass: Option<Output>,
    pub file: Option<PathBuf>,
    /// Its message in the history, when saving.
    pub message_id: Option<MessageId>,
}

impl Reading {
    pub fn json(&self, engine: &Engine) -> Result<serde_json::Value> {
        let mut v = serde_json::json!({
            "kind": self.transcription.kind,
            "text": self.transcription.text,
            "file": self.file.as_ref().map(|f| f.display().to_string()),
            "pass": self.pass.as_ref().map(|o| json_value(o, engine)).transpose()?,
        });
        if let Some(id) = self.message_id {
            v["message_id"] = id.0.into();
        }
        Ok(v)
    }
}

/// The first pass (streamed under "transcription:"), or the student's file; recorded as the
/// conversation's transcription when saving.
pub fn read_first(
    engine: &Engine,
    job: &Job,
    preset: PromptPreset,
    from: TranscriptionFrom,
    interrupted: &AtomicBool,
    printer: &mut TextPrinter,
    mut recorder: Option<&mut Recorder>,
) -> Result<Reading> {
    let first = transcribe::first_pass(&job.messages, preset)?;
    let message_id = recorder.as_ref().and_then(|r| r.message_id());
    printer.section("transcription");
    if let TranscriptionFrom::File {
        path,
        transcription,
    } = from
    {
        printer.answer(&transcription.as_reply())?;
        if let Some(r) = recorder {
            r.answer(&transcription.as_reply())?;
            r.close_part(None, None)?;
        }
        return Ok(Reading {
            transcription,
            pass: None,
            file: Some(path),
            message_id,
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
    let streamed = stream(engine, pass_job, interrupted, |event| {
        show_and_record(printer, recorder.as_deref_mut(), event)
    });
    let out = match streamed {
        Ok(out) => out,
        Err(e) => {
            if let Some(r) = recorder {
                r.close_part(None, Some(&e.to_string()))?;
            }
            return Err(e);
        }
    };
    if let Some(r) = recorder {
        r.close_part(Some(&out), None)?;
    }
    let transcription = if out.finish_reason == FinishReason::Cancelled {
        Transcription::from_reply(&out.answer)
    } else {
        Transcription::read(&out.answer).context(
            "the model's transcription cannot be used; write one and give it with --transcription FILE",
        )?
    };
    Ok(Reading {
        transcription,
        pass: Some(out),
        file: None,
        message_id,
    })
}
