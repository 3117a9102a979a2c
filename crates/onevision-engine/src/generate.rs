//! The generation loop: pictures through the vision tower, the prompt through prefill, then one
//! token at a time until an end-of-sequence id, the token budget, or a cancel request; every token
//! goes through the detokenizer and the think/answer splitter and comes out as an event.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use onevision_model::image::preprocess;
use onevision_model::{ImageEmbedding, Logits, Model};
use serde::Serialize;
use serde_json::Value;

use crate::error::{EngineError, Result};
use crate::prompt::{Message, PromptBuilder};
use crate::sampler::{top_logprobs, Sampler, SamplingParams};
use crate::session::{Session, VisionCache};
use crate::split::{final_answer, Segment, Split, Splitting, ThinkSplitter};
use crate::stop::StopStrings;
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
    /// From the request to the first generated token: pictures, prompt and the first step.
    pub time_to_first_token_ms: f64,
    pub vision_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// From the request to the first answer text, when the model thought first; else 0.
    pub think_ms: f64,
}

/// How far an answer has come, sent now and then while it streams.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    pub generated_tokens: usize,
    pub elapsed_ms: f64,
    pub decode_tokens_per_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The prompt is ready: `reused_tokens` of its `prompt_tokens` were already in the cache and
    /// `cached_pictures` of its pictures already encoded.
    Started {
        prompt_tokens: usize,
        reused_tokens: usize,
        cached_pictures: usize,
    },
    Think(String),
    Answer(String),
    Progress(Progress),
}

/// How often `Event::Progress` comes while decoding.
const PROGRESS_EVERY_MS: f64 = 250.0;

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
    /// The answer ends before the first of these it writes.
    pub stop: &'a [String],
    /// How the text is divided into thinking and answer events.
    pub splitting: Splitting,
}

/// Token counts of one answer, as OpenAI's API reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Leading prompt tokens that were already in the cache.
    pub cached_tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub prompt_token_ids: Vec<u32>,
    /// Leading prompt tokens read from the cache of an earlier answer instead of prefilled.
    pub reused_prompt_tokens: usize,
    pub generated_token_ids: Vec<u32>,
    pub text: String,
    /// Tokens generated before the answer began (all of them if it never did); 0 without thinking.
    pub think_tokens: usize,
    pub think: String,
    pub answer: String,
    pub final_answer: Option<String>,
    pub finish_reason: FinishReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Vec<(u32, f32)>>>,
    pub timings: Timings,
    pub usage: Usage,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
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

/// The pictures' vision outputs, from the session's cache where it has them; returns them with
/// how many came from the cache and each picture's identity (its pixels and processor settings).
fn encode_pictures(
    model: &Model,
    session: &mut Session,
    pictures: &[image::RgbImage],
    max_pixels: Option<usize>,
) -> Result<(Vec<ImageEmbedding>, usize, Vec<u64>)> {
    let mut cfg = model.image_config().clone();
    if let Some(m) = max_pixels {
        cfg.max_pixels = m.max(cfg.min_pixels);
    }
    let keys: Vec<u64> = pictures.iter().map(|p| VisionCache::key(p, &cfg)).collect();
    let mut found: HashMap<u64, ImageEmbedding> = HashMap::new();
    let mut missing = Vec::new();
    for (p, &k) in pictures.iter().zip(&keys) {
        if found.contains_key(&k) || missing.iter().any(|&(mk, _)| mk == k) {
            continue;
        }
        match session.vision().get(k) {
            Some(e) => {
                found.insert(k, e.clone());
            }
            None => missing.push((k, p)),
        }
    }
    let cached = pictures.len() - missing.len();
    let patches = missing
        .iter()
        .map(|(_, p)| preprocess(p, &cfg))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let encoded = model.encode_images(&patches.iter().collect::<Vec<_>>())?;
    for ((k, _), e) in missing.iter().zip(encoded) {
        session.vision().insert(*k, e.clone());
        found.insert(*k, e);
    }
    let embeds =
        keys.iter()
            .map(|k| {
                found.get(k).cloned().ok_or_else(|| {
                    EngineError::Prompt("a picture's vision output went missing".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
    Ok((embeds, cached, keys))
}

/// Runs one answer to the conversation in `req`. Whatever of the prompt `session` already holds
/// in the model's cache (the earlier turns of the same conversation) is not read again, and
/// pictures it has encoded are not encoded again; pass a fresh [`Session`] to start clean.
pub fn generate(
    model: &mut Model,
    prompt: &PromptBuilder,
    req: &Request,
    session: &mut Session,
    cancel: &AtomicBool,
    mut on_event: impl FnMut(Event),
) -> Result<Output> {
    let result = run(model, prompt, req, session, cancel, &mut on_event);
    if result.is_err() {
        // A failure may leave the cache part-written; start the next answer clean.
        session.forget(model);
    }
    result
}

fn run(
    model: &mut Model,
    prompt: &PromptBuilder,
    req: &Request,
    session: &mut Session,
    cancel: &AtomicBool,
    on_event: &mut impl FnMut(Event),
) -> Result<Output> {
    let start = Instant::now();
    req.sampling.validate().map_err(EngineError::Request)?;
    if cancel.load(Ordering::Relaxed) {
        // Stopped while queued: nothing read, nothing generated.
        return Ok(Output {
            prompt_token_ids: Vec::new(),
            reused_prompt_tokens: 0,
            generated_token_ids: Vec::new(),
            text: String::new(),
            think_tokens: 0,
            think: String::new(),
            answer: String::new(),
            final_answer: None,
            finish_reason: FinishReason::Cancelled,
            logprobs: None,
            timings: Timings::default(),
            usage: Usage::default(),
        });
    }
    let (embeds, cached_pictures, picture_keys) =
        encode_pictures(model, session, req.pictures, req.max_pixels)?;
    let vision_ms = ms(start);
    let merge = model.config().vision.merge_unit();
    let grids: Vec<[usize; 3]> = embeds.iter().map(|e| e.grid_thw).collect();
    let image_tokens: Vec<usize> = grids.iter().map(|g| g[0] * g[1] * g[2] / merge).collect();

    let text = prompt.render(req.messages, true)?;
    // Off unless asked for (it holds the student's words): how a test sees the exact prompt.
    tracing::debug!(target: "onevision_engine::prompt", prompt = ?text, "rendered prompt");
    let prompt_ids = prompt.encode(&text, &image_tokens)?;
    let context = model.config().text.max_position_embeddings;
    if prompt_ids.len() + req.max_new_tokens > context {
        return Err(EngineError::Request(format!(
            "the prompt takes {} tokens and --max-new-tokens asks for {} more, beyond the model's context of {context}",
            prompt_ids.len(),
            req.max_new_tokens
        )));
    }
    let reused = session.reuse(model, &prompt_ids, &grids, &picture_keys)?;
    // Pictures whose tokens are all in the reused part are already in the cache.
    let image_token = model.config().image_token_id;
    let mut skip_tokens = prompt_ids[..reused]
        .iter()
        .filter(|&&id| id == image_token)
        .count();
    let mut first_new_picture = 0;
    while first_new_picture < image_tokens.len() && skip_tokens >= image_tokens[first_new_picture] {
        skip_tokens -= image_tokens[first_new_picture];
        first_new_picture += 1;
    }
    on_event(Event::Started {
        prompt_tokens: prompt_ids.len(),
        reused_tokens: reused,
        cached_pictures,
    });

    let prefill_start = Instant::now();
    let new_ids = &prompt_ids[reused..];
    let mut logits = model
        .prefill(new_ids, &embeds[first_new_picture..], Logits::Last)?
        .squeeze(0)
        .map_err(onevision_model::Error::from)?;
    new_ids.iter().for_each(|&id| session.push(id));
    session.set_pictures(picture_keys);
    let prefill_ms = ms(prefill_start);

    let tok = prompt.tokenizer();
    let mut sampler = Sampler::new(req.sampling.clone());
    let mut history = prompt_ids.clone();
    let mut generated = Vec::new();
    let mut logprobs = (req.logprobs > 0).then(Vec::new);
    let mut detok = Detokenizer::new();
    let mut splitter = ThinkSplitter::with(req.splitting);
    let mut stops = StopStrings::new(req.stop);
    let mut stopped_by_string = false;
    let mut split = Split::default();
    let mut full_text = String::new();
    let mut time_to_first_token_ms = 0.0;
    let mut last_progress = 0.0;
    // (tokens, ms since start) when the answer began after some thinking.
    let mut think_end: Option<(usize, f64)> = None;

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
        if generated.is_empty() {
            time_to_first_token_ms = ms(start);
        }
        generated.push(next);
        history.push(next);
        if req.eos_token_ids.contains(&next) {
            break FinishReason::Stop;
        }
        if let Some(delta) = detok.push(tok, next)? {
            let (delta, stopped) = stops.push(&delta);
            full_text.push_str(&delta);
            forward(splitter.push(&delta), &mut split, on_event);
            if think_end.is_none() && !split.answer.is_empty() {
                think_end = Some((generated.len(), ms(start)));
                // How long the thinking was is known now: a listener keeping it (the app's
                // history, in case the answer never finishes) should not wait for the next tick.
                on_event(Event::Progress(Progress {
                    generated_tokens: generated.len(),
                    elapsed_ms: ms(start),
                    decode_tokens_per_s: per_second(
                        generated.len().saturating_sub(1),
                        ms(decode_start),
                    ),
                }));
            }
            if stopped {
                stopped_by_string = true;
                break FinishReason::Stop;
            }
        }
        if generated.len() >= req.max_new_tokens {
            break FinishReason::Length;
        }
        let elapsed = ms(decode_start);
        if elapsed - last_progress >= PROGRESS_EVERY_MS {
            last_progress = elapsed;
            on_event(Event::Progress(Progress {
                generated_tokens: generated.len(),
                elapsed_ms: ms(start),
                decode_tokens_per_s: per_second(generated.len() - 1, elapsed),
            }));
        }
        logits = model.decode_step(next)?;
        session.push(next);
    };
    if !stopped_by_string {
        let tail = detok.finish(tok)?.unwrap_or_default();
        let (mut rest, stopped) = stops.push(&tail);
        if !stopped {
            rest.push_str(&stops.finish());
        }
        full_text.push_str(&rest);
        forward(splitter.push(&rest), &mut split, on_event);
    }
    forward(splitter.finish(), &mut split, on_event);
    let decode_ms = ms(decode_start);
    let (think_tokens, think_ms) = if split.think.is_empty() {
        (0, 0.0)
    } else {
        think_end.unwrap_or((generated.len(), ms(start)))
    };
    // The first token comes from the prefill; the rest each cost one decode step.
    let steps = generated.len().saturating_sub(1);
    let timings = Timings {
        time_to_first_token_ms,
        vision_ms,
        prefill_ms,
        decode_ms,
        prefill_tokens_per_s: per_second(new_ids.len(), prefill_ms),
        decode_tokens_per_s: per_second(steps, decode_ms),
        think_ms,
    };
    let usage = Usage {
        prompt_tokens: prompt_ids.len(),
        completion_tokens: generated.len(),
        cached_tokens: reused,
    };
    Ok(Output {
        // The raw text: the splitter drops the `<answer>` tags that mark the block.
        final_answer: final_answer(&full_text, &split.think),
        prompt_token_ids: prompt_ids,
        reused_prompt_tokens: reused,
        generated_token_ids: generated,
        text: full_text,
        think_tokens,
        think: split.think,
        answer: split.answer,
        finish_reason,
        logprobs,
        timings,
        usage,
    })
}

fn per_second(count: usize, ms: f64) -> f64 {
    if count == 0 {
        0.0
    } else {
        count as f64 / (ms / 1e3).max(1e-9)
    }
}
