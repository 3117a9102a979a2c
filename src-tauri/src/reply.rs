//! One answer on its way: the engine's events (from the model here or a server) go to the window's channel at once and to
//! the history store in batches (at most about half a second of text at risk), and the reply's
//! row is closed as complete, stopped or failed before the window hears `done`.

use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::worker::{Job, WorkerEvent};
use onevision_engine::ChatEngine;
use onevision_store::{Finish, GenerationStats, Outcome, StreamWriter};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use tokio::sync::mpsc;

use crate::dto::StreamEvent;
use crate::error::AppResult;
use crate::state::AppState;

/// What the store records of a finished generation.
pub fn stats_of(o: &Output) -> GenerationStats {
    let t = &o.timings;
    let thought = o.think_tokens > 0;
    GenerationStats {
        // The usage counts, which a server reports without token ids.
        prompt_tokens: Some(o.usage.prompt_tokens as u32),
        generated_tokens: Some(o.usage.completion_tokens as u32),
        ttft_ms: Some(t.time_to_first_token_ms),
        vision_ms: Some(t.vision_ms),
        prefill_ms: Some(t.prefill_ms),
        decode_ms: Some(t.decode_ms),
        tokens_per_s: Some(t.decode_tokens_per_s),
        think_ms: thought.then_some(t.think_ms),
        think_tokens: thought.then_some(o.think_tokens as u32),
    }
}

/// The event the window sees for a live engine event; `None` for those the store task closes.
fn live_event(e: &WorkerEvent) -> Option<StreamEvent> {
    Some(match e {
        WorkerEvent::Started {
            prompt_tokens,
            reused_tokens,
            cached_pictures,
        } => StreamEvent::Started {
            prompt_tokens: *prompt_tokens,
            reused_tokens: *reused_tokens,
            cached_pictures: *cached_pictures,
        },
        WorkerEvent::Think(d) => StreamEvent::Think { delta: d.clone() },
        WorkerEvent::Answer(d) => StreamEvent::Answer { delta: d.clone() },
        WorkerEvent::Stats(p) => StreamEvent::Stats {
            generated_tokens: p.generated_tokens,
            elapsed_ms: p.elapsed_ms,
            tokens_per_s: p.decode_tokens_per_s,
        },
        WorkerEvent::Done(_) | WorkerEvent::Failed(_) => return None,
    })
}

/// Sends `job` to the engine and starts the task that records its reply in `writer`.
pub fn start(
    app: &AppHandle,
    job_id: u64,
    engine: &dyn ChatEngine,
    job: Job,
    writer: StreamWriter,
    channel: Channel<StreamEvent>,
) -> AppResult<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let live = channel.clone();
    let handle = engine.submit_job(
        job,
        Box::new(move |event| {
            if let Some(e) = live_event(&event) {
                // A closed window must not stop the answer being saved.
                let _ = live.send(e);
            }
            let _ = tx.send(event);
        }),
    )?;
    app.state::<AppState>().set_job_handle(job_id, handle);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let last = record(writer, rx).await;
        app.state::<AppState>().end_job(job_id);
        let _ = channel.send(last);
    });
    Ok(())
}

/// Writes the stream into the store and closes the row; returns the window's last event.
async fn record(
    mut writer: StreamWriter,
    mut rx: mpsc::UnboundedReceiver<WorkerEvent>,
) -> StreamEvent {
    let mut save_error = None;
    let mut note = |r: onevision_store::Result<bool>| {
        if let Err(e) = r {
            tracing::error!("cannot save the answer: {e}");
            save_error.get_or_insert_with(|| e.to_string());
        }
    };
    // What is known before the end is kept as it comes, so a crash loses no counts: the tokens
    // so far, and when thinking gave way to the answer.
    let started = std::time::Instant::now();
    let mut tokens_so_far: Option<u32> = None;
    let mut thought = false;
    let mut answering = false;
    let mut think_tokens_kept = false;
    let end = loop {
        match rx.recv().await {
            Some(WorkerEvent::Stats(p)) => {
                tokens_so_far = u32::try_from(p.generated_tokens).ok();
                // The engine reports progress as the answer begins: the thinking's length.
                let think_tokens = (thought && answering && !think_tokens_kept)
                    .then_some(tokens_so_far)
                    .flatten();
                think_tokens_kept |= think_tokens.is_some();
                writer.note_progress(GenerationStats {
                    generated_tokens: tokens_so_far,
                    tokens_per_s: (p.decode_tokens_per_s > 0.0).then_some(p.decode_tokens_per_s),
                    think_tokens,
                    ..GenerationStats::default()
                });
            }
            Some(WorkerEvent::Think(d)) => {
                thought = true;
                let r = match writer.push_think(&d).await {
                    Ok(()) => writer.flush_if_due().await,
                    Err(e) => Err(e),
                };
                note(r);
            }
            Some(WorkerEvent::Answer(d)) => {
                if thought && !answering {
                    // The count so far stands in until the engine's report of the exact one.
                    writer.note_progress(GenerationStats {
                        think_ms: Some(started.elapsed().as_secs_f64() * 1e3),
                        think_tokens: tokens_so_far,
                        ..GenerationStats::default()
                    });
                }
                answering = true;
                let r = match writer.push_answer(&d).await {
                    Ok(()) => writer.flush_if_due().await,
                    Err(e) => Err(e),
                };
                note(r);
            }
            Some(WorkerEvent::Done(out)) => break Ok(out),
            Some(WorkerEvent::Failed(e)) => break Err(e.message),
            Some(_) => {}
            None => break Err("the engine stopped before finishing the answer".to_owned()),
        }
    };
    let finish = match &end {
        Ok(out) => {
            if let Err(e) = writer.push_text(&out.text).await {
                note(Err(e));
            }
            Finish {
                outcome: if out.finish_reason == FinishReason::Cancelled {
                    Outcome::Stopped
                } else {
                    Outcome::Complete
                },
                final_answer: out.final_answer.clone(),
                stats: stats_of(out),
            }
        }
        Err(e) => Finish {
            outcome: Outcome::Failed(e.clone()),
            final_answer: None,
            stats: GenerationStats::default(),
        },
    };
    let saved = writer.finish(finish).await;
    match (end, saved, save_error) {
        (Err(error), _, _) => StreamEvent::Failed { error },
        (Ok(_), Err(e), _) => StreamEvent::Failed {
            error: format!("the answer was written but could not be saved: {e}"),
        },
        (Ok(out), Ok(message), None) => StreamEvent::Done {
            finish_reason: out.finish_reason,
            status: message.status,
            final_answer: message.final_answer,
            stats: message.stats,
        },
        (Ok(_), Ok(_), Some(e)) => StreamEvent::Failed {
            error: format!("part of the answer could not be saved: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onevision_engine::generate::Progress;
    use onevision_store::{MessageStatus, NewMessage, Store};

    #[tokio::test]
    async fn the_thinking_length_is_kept_when_the_answer_never_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let id = store
            .create_conversation("m", vec![NewMessage::user("Count the sides")])
            .await
            .unwrap()
            .conversation;
        let writer = store.begin_reply(id, None).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        // The answer begins before any periodic progress: the engine's report that follows it
        // carries the thinking's length. Then the engine goes away mid-answer.
        for event in [
            WorkerEvent::Think("Count them.".into()),
            WorkerEvent::Answer("One".into()),
            WorkerEvent::Stats(Progress {
                generated_tokens: 7,
                elapsed_ms: 40.0,
                decode_tokens_per_s: 180.0,
            }),
            WorkerEvent::Answer(", two".into()),
            WorkerEvent::Stats(Progress {
                generated_tokens: 9,
                elapsed_ms: 50.0,
                decode_tokens_per_s: 180.0,
            }),
        ] {
            tx.send(event).unwrap();
        }
        drop(tx);
        let last = record(writer, rx).await;
        assert!(matches!(last, StreamEvent::Failed { .. }));
        let reply = &store.get_conversation(id).await.unwrap().messages[1];
        assert_eq!(reply.status, MessageStatus::Failed);
        assert_eq!(reply.answer, "One, two");
        assert_eq!(reply.stats.think_tokens, Some(7));
        assert_eq!(reply.stats.generated_tokens, Some(9));
        assert!(reply.stats.think_ms.is_some());
    }
}
