//! The engine thread on the real-tokenizer fixture: events in order, answers equal to
//! transformers', follow-ups that reuse the conversation's cache and the picture's vision output
//! without changing the answer, cancellation, and failures that leave the model usable.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use onevision_engine::generate::FinishReason;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::{Job, Worker, WorkerEvent};
use onevision_model::LoadOptions;

mod common;
use common::{case, case_dir, done, ids, run};

fn picture() -> image::RgbImage {
    let c = case();
    onevision_model::image::load_image(&case_dir().join(c["images"][0].as_str().unwrap())).unwrap()
}

fn start() -> Worker {
    Worker::start(&case_dir().join("model"), LoadOptions::default()).unwrap()
}

fn first_turn() -> Vec<Message> {
    let question = case()["messages"][0]["content"][1]["text"]
        .as_str()
        .unwrap()
        .to_string();
    vec![Message {
        role: Role::User,
        parts: vec![Part::Image(0), Part::Text(question)],
    }]
}

fn greedy_job(messages: Vec<Message>, max_new_tokens: usize) -> Job {
    Job {
        messages,
        pictures: vec![picture()],
        sampling: Some(SamplingParams::default()),
        max_new_tokens: Some(max_new_tokens),
        logprobs: 2,
        ..Job::default()
    }
}

#[test]
fn answers_stream_in_order_and_match_transformers() {
    let worker = start();
    let want = ids(&case()["greedy_new_tokens"]);
    let events = run(&worker, greedy_job(first_turn(), want.len()));
    assert!(matches!(
        events[0],
        WorkerEvent::Started {
            reused_tokens: 0,
            cached_pictures: 0,
            ..
        }
    ));
    let out = done(&events);
    assert_eq!(out.generated_token_ids, want);
    assert_eq!(out.finish_reason, FinishReason::Length);
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::Think(t) | WorkerEvent::Answer(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed.len(), out.think.len() + out.answer.len());
    assert!(out.timings.time_to_first_token_ms > 0.0);
}

#[test]
fn a_follow_up_reuses_the_cache_and_gives_the_same_answer() {
    let worker = start();
    let first = run(&worker, greedy_job(first_turn(), 6));
    let answer = done(&first).text.clone();

    let mut messages = first_turn();
    messages.push(Message::text(Role::Assistant, answer));
    messages.push(Message::text(Role::User, "And its perimeter?"));
    let job = greedy_job(messages, 6);

    let events = run(&worker, job.clone());
    let (prompt_tokens, reused) = match events[0] {
        WorkerEvent::Started {
            prompt_tokens,
            reused_tokens,
            cached_pictures,
        } => {
            assert_eq!(cached_pictures, 1, "the picture's vision output was kept");
            (prompt_tokens, reused_tokens)
        }
        ref e => panic!("expected Started, got {e:?}"),
    };
    let first_prompt = done(&first).prompt_token_ids.len();
    assert!(
        reused >= first_prompt && reused < prompt_tokens,
        "reused {reused} of {prompt_tokens} (first prompt {first_prompt})"
    );
    let follow_up = done(&events);
    assert_eq!(follow_up.reused_prompt_tokens, reused);

    // The same conversation read from scratch by a fresh engine.
    let fresh = start();
    let cold = run(&fresh, job);
    let cold = done(&cold);
    assert_eq!(cold.reused_prompt_tokens, 0);
    assert_eq!(cold.prompt_token_ids, follow_up.prompt_token_ids);
    assert_eq!(cold.generated_token_ids, follow_up.generated_token_ids);
    let a = follow_up.logprobs.as_ref().unwrap();
    let b = cold.logprobs.as_ref().unwrap();
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert_eq!(x.0, y.0);
        assert!((x.1 - y.1).abs() < 1e-4, "logprob {} vs {}", x.1, y.1);
    }
}

#[test]
fn regenerating_reads_only_the_last_token_again() {
    let worker = start();
    let a = run(&worker, greedy_job(first_turn(), 4));
    let b = run(&worker, greedy_job(first_turn(), 4));
    let (a, b) = (done(&a), done(&b));
    assert_eq!(b.reused_prompt_tokens, b.prompt_token_ids.len() - 1);
    assert_eq!(a.generated_token_ids, b.generated_token_ids);
}

#[test]
fn another_picture_of_the_same_size_is_read_anew() {
    // The same question about a different picture of the same size: its image tokens have the
    // same ids, but nothing from the first picture may be reused past its start.
    let worker = start();
    let first = run(&worker, greedy_job(first_turn(), 6));
    let mut inverted = picture();
    for p in inverted.pixels_mut() {
        p.0 = [255 - p.0[0], 255 - p.0[1], 255 - p.0[2]];
    }
    let job = Job {
        pictures: vec![inverted],
        ..greedy_job(first_turn(), 6)
    };
    let events = run(&worker, job.clone());
    let second = done(&events);
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir().join("model/config.json")).unwrap(),
    )
    .unwrap();
    let image_token = config["image_token_id"].as_u64().unwrap() as u32;
    let picture_at = second
        .prompt_token_ids
        .iter()
        .position(|&id| id == image_token)
        .unwrap();
    assert!(
        second.reused_prompt_tokens <= picture_at,
        "reused {} tokens, past the picture at {picture_at}",
        second.reused_prompt_tokens
    );
    let fresh = start();
    let cold = run(&fresh, job);
    assert_eq!(done(&cold).generated_token_ids, second.generated_token_ids);
    // Asking about the first picture again reads it anew too, and answers as the first time.
    let again = run(&worker, greedy_job(first_turn(), 6));
    assert!(done(&again).reused_prompt_tokens <= picture_at);
    assert_eq!(
        done(&again).generated_token_ids,
        done(&first).generated_token_ids
    );
}

#[test]
fn cancelling_stops_the_job_and_the_next_one_runs() {
    let worker = start();
    let (tx, rx) = mpsc::channel();
    let handle = worker
        .submit(greedy_job(first_turn(), 200), move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
    handle.cancel();
    assert!(handle.is_cancelled());
    let out = loop {
        match rx.recv_timeout(Duration::from_secs(120)).unwrap() {
            WorkerEvent::Done(out) => break out,
            WorkerEvent::Failed(e) => panic!("{e}"),
            _ => {}
        }
    };
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
    assert!(out.generated_token_ids.len() < 200);
    let next = run(&worker, greedy_job(first_turn(), 2));
    assert_eq!(done(&next).generated_token_ids.len(), 2);
}

#[test]
fn a_failed_job_says_why_and_the_model_stays_usable() {
    let worker = start();
    let too_long = greedy_job(first_turn(), worker.info().context_tokens);
    let events = run(&worker, too_long);
    match events.last() {
        Some(WorkerEvent::Failed(e)) => {
            assert!(e.message.contains("context"), "{e}");
            assert_eq!(e.kind, onevision_engine::FailureKind::Request);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let bad_sampling = Job {
        sampling: Some(SamplingParams {
            top_p: 1.5,
            ..SamplingParams::default()
        }),
        ..greedy_job(first_turn(), 2)
    };
    match run(&worker, bad_sampling).last() {
        Some(WorkerEvent::Failed(e)) => {
            assert!(e.message.contains("top-p"), "{e}");
            assert_eq!(e.kind, onevision_engine::FailureKind::Request);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let ok = run(&worker, greedy_job(first_turn(), 2));
    assert_eq!(done(&ok).generated_token_ids.len(), 2);
}

#[test]
fn a_missing_model_folder_is_named() {
    let err = Worker::start(Path::new("/nonexistent/model"), LoadOptions::default())
        .err()
        .expect("loading fails")
        .to_string();
    assert!(err.contains("/nonexistent/model"), "{err}");
}
