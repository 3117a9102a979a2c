//! The whole loop (pictures, chat template, prefill, greedy decoding, streaming) reproduces
//! transformers' greedy continuation on the real-tokenizer parity fixture.

use std::sync::atomic::AtomicBool;

use onevision_engine::generate::{generate, Event, FinishReason, GenerationDefaults, Request};
use onevision_engine::prompt::{Message, Part, PromptBuilder, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::session::Session;
use onevision_model::{LoadOptions, Model};
use serde_json::Value;

mod common;
use common::{case_dir, ids};

#[test]
fn greedy_generation_matches_transformers_and_streams_the_same_text() {
    let dir = case_dir();
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let model_dir = dir.join("model");
    let mut model = Model::load(&model_dir, &LoadOptions::default()).unwrap();
    let prompt = PromptBuilder::from_dir(&model_dir, model.config().image_token_id).unwrap();
    let defaults = GenerationDefaults::from_dir(&model_dir).unwrap();
    assert_eq!(defaults.eos_token_ids, vec![151645, 151643]);
    assert!(defaults.sampling.is_greedy());

    let picture =
        onevision_model::image::load_image(&dir.join(case["images"][0].as_str().unwrap())).unwrap();
    let question = case["messages"][0]["content"][1]["text"].as_str().unwrap();
    let messages = [Message {
        role: Role::User,
        parts: vec![Part::Image(0), Part::Text(question.into())],
    }];
    let want = ids(&case["greedy_new_tokens"]);
    let req = Request {
        messages: &messages,
        pictures: std::slice::from_ref(&picture),
        max_pixels: None,
        sampling: SamplingParams::default(),
        max_new_tokens: want.len(),
        eos_token_ids: &defaults.eos_token_ids,
        logprobs: 3,
        stop: &[],
        splitting: Default::default(),
    };
    let mut events = Vec::new();
    let mut session = Session::new();
    let cancel = AtomicBool::new(false);
    let out = generate(&mut model, &prompt, &req, &mut session, &cancel, |e| {
        events.push(e)
    })
    .unwrap();
    assert_eq!(out.prompt_token_ids, ids(&case["input_ids"]));
    assert_eq!(out.generated_token_ids, want);
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.text, prompt.tokenizer().decode(&want, true).unwrap());
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Think(t) | Event::Answer(t) => Some(t.as_str()),
            Event::Started { .. } | Event::Progress(_) => None,
        })
        .collect();
    assert_eq!(streamed.len(), out.think.len() + out.answer.len());
    let logprobs = out.logprobs.unwrap();
    assert_eq!(logprobs.len(), want.len());
    for (step, top) in logprobs.iter().enumerate() {
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].0, want[step], "greedy picks the most likely token");
        assert!(top[0].1 <= 0.0 && top[0].1 >= top[1].1);
    }

    // A cancel request before the first token stops at once.
    let out = generate(
        &mut model,
        &prompt,
        &req,
        &mut Session::new(),
        &AtomicBool::new(true),
        |_| {},
    )
    .unwrap();
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
    assert!(out.generated_token_ids.is_empty());
}
