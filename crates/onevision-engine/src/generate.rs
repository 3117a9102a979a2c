//! The generation loop: pictures through the vision tower, the prompt through prefill, then one
//! token at a time until an end-of-sequence id, the token budget, or a cancel request; every token
//! goes through the detokenizer and the think/answer splitter and comes out as an event.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use onevision_model::image::{preprocess, ImageProcessorConfig};
use onevision_model::{Logits, Model, PixelPatches};
use serde::Serialize;
use serde_json::Value;

use crate::error::{EngineError, Result};
use crate::prompt::{Message, PromptBuilder};
use crate::sampler::{top_logprobs, Sampler, SamplingParams};
use crate::split::{final_answer, Segment, Split, ThinkSplitter};
use crate::stream::Detokenizer;

/// What a model folder's generation_config.json says, as transformers reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationDefaults {
    pub eos_token_ids: Vec<u32>,
    pub sampling: SamplingParams,
    pub max_new_tokens: Option<usize>,
}

impl GenerationDefaults {
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        let mut d = GenerationDefaults {
            eos_token_ids: Vec::new(),
            sampling: SamplingParams::default(),
            max_new_tokens: None,
        };
        if !path.is_file() {
            return Ok(d);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| EngineError::File {
            path: path.clone(),
            reason: format!("is not valid JSON: {e}"),
        })?;
        d.eos_token_ids = match v.get("eos_token_id") {
            Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|n| n as u32)
                .collect(),
            _ => Vec::new(),
        };
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        let do_sample = v.get("do_sample").and_then(Value::as_bool).unwrap_or(false);
        // transformers samples only when do_sample is set; otherwise it decodes greedily.
        d.sampling.temperature = if do_sample {
            num("temperature").unwrap_or(1.0) as f32
        } else {
            0.0
        };
        d.sampling.top_p = num("top_p").unwrap_or(1.0) as f32;
        d.sampling.top_k = num("top_k").map_or(0, |k| k as usize);
        d.sampling.repetition_penalty = num("repetition_penalty").unwrap_or(1.0) as f32;
        d.max_new_tokens = v
            .get("max_new_tokens")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        Ok(d)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    Stop,
    Length,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    pub vision_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started { prompt_tokens: usize },
    Think(String),
    Answer(String),
}

pub struct Request<'a> {
    pub messages: &'a [Message],
    /// Pictures in the order the messages refer to them.
    pub pictures: &'a [image::RgbImage],
    pub max_pixels: Option<usize>,
    pub sampling: SamplingParams,
    pub max_new_tokens: usize,
    pub eos_token_ids: &'a [u32],
    /// How many of the model's most likely tokens to report per step (0: none).
    pub logprobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub prompt_token_ids: Vec<u32>,
    pub generated_token_ids: Vec<u32>,
    pub text: String,
    pub think: String,
    pub answer: String,
    pub final_answer: Option<String>,
    pub finish_reason: FinishReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Vec<(u32, f32)>>>,
    pub timings: Timings,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Preprocesses pictures with the model's processor settings, `max_pixels` lowered if asked.
pub fn pixel_patches(
    cfg: &ImageProcessorConfig,
    pictures: &[image::RgbImage],
    max_pixels: Option<usize>,
) -> Result<Vec<PixelPatches>> {
    let mut cfg = cfg.clone();
    if let Some(m) = max_pixels {
        cfg.max_pixels = m.max(cfg.min_pixels);
    }
    Ok(pictures
        .iter()
        .map(|p| preprocess(p, &cfg))
        .collect::<std::result::Result<_, _>>()?)
}

fn forward(segments: Vec<Segment>, split: &mut Split, on_event: &mut impl FnMut(Event)) {
    split.add(&segments);
    for s in segments {
        on_event(match s {
            Segment::Think(t) => Event::Think(t),
            Segment::Answer(t) => Event::Answer(t),
        });
    }
}

/// Runs one answer from a fresh conversation state.
pub fn generate(
    model: &mut Model,
    prompt: &PromptBuilder,
    req: &Request,
    cancel: &AtomicBool,
    mut on_event: impl FnMut(Event),
) -> Result<Output> {
    req.sampling.validate().map_err(EngineError::Prompt)?;
    let vision_start = Instant::now();
    let patches = pixel_patches(model.image_config(), req.pictures, req.max_pixels)?;
    let merge = model.config().vision.merge_unit();
    let image_tokens: Vec<usize> = patches.iter().map(|p| p.num_patches() / merge).collect();
    let embeds = model.encode_images(&patches.iter().collect::<Vec<_>>())?;
    let vision_ms = ms(vision_start);

    let text = prompt.render(req.messages, true)?;
    let prompt_ids = prompt.encode(&text, &image_tokens)?;
    let context = model.config().text.max_position_embeddings;
    if prompt_ids.len() + req.max_new_tokens > context {
        return Err(EngineError::Prompt(format!(
            "the prompt takes {} tokens and --max-new-tokens asks for {} more, beyond the model's context of {context}",
            prompt_ids.len(),
            req.max_new_tokens
        )));
    }
    on_event(Event::Started {
        prompt_tokens: prompt_ids.len(),
    });

    model.reset();
    let prefill_start = Instant::now();
    let mut logits = model
        .prefill(&prompt_ids, &embeds, Logits::Last)?
        .squeeze(0)
        .map_err(onevision_model::Error::from)?;
    let prefill_ms = ms(prefill_start);

    let tok = prompt.tokenizer();
    let mut sampler = Sampler::new(req.sampling.clone());
    let mut history = prompt_ids.clone();
    let mut generated = Vec::new();
    let mut logprobs = (req.logprobs > 0).then(Vec::new);
    let mut detok = Detokenizer::new();
    let mut splitter = ThinkSplitter::new();
    let mut split = Split::default();
    let mut full_text = String::new();

    let decode_start = Instant::now();
    let finish_reason = loop {
        if cancel.load(Ordering::Relaxed) {
            break FinishReason::Cancelled;
        }
        let scores = logits
            .to_vec1::<f32>()
            .map_err(onevision_model::Error::from)?;
        if let Some(lp) = logprobs.as_mut() {
            lp.push(top_logprobs(&scores, req.logprobs));
        }
        let next = sampler.sample(&scores, &history);
        generated.push(next);
        history.push(next);
        if req.eos_token_ids.contains(&next) {
            break FinishReason::Stop;
        }
        if let Some(delta) = detok.push(tok, next)? {
            full_text.push_str(&delta);
            forward(splitter.push(&delta), &mut split, &mut on_event);
        }
        if generated.len() >= req.max_new_tokens {
            break FinishReason::Length;
        }
        logits = model.decode_step(next)?;
    };
    if let Some(rest) = detok.finish(tok)? {
        full_text.push_str(&rest);
        forward(splitter.push(&rest), &mut split, &mut on_event);
    }
    forward(splitter.finish(), &mut split, &mut on_event);
    let decode_ms = ms(decode_start);
    // The first token comes from the prefill; the rest each cost one decode step.
    let steps = generated.len().saturating_sub(1);
    let timings = Timings {
        vision_ms,
        prefill_ms,
        decode_ms,
        prefill_tokens_per_s: prompt_ids.len() as f64 / (prefill_ms / 1e3).max(1e-9),
        decode_tokens_per_s: if steps > 0 {
            steps as f64 / (decode_ms / 1e3).max(1e-9)
        } else {
            0.0
        },
    };
    Ok(Output {
        final_answer: final_answer(&split.answer, &split.think),
        prompt_token_ids: prompt_ids,
        generated_token_ids: generated,
        text: full_text,
        think: split.think,
        answer: split.answer,
        finish_reason,
        logprobs,
        timings,
    })
}
