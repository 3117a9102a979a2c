//! Reads a streamed chat completion from any OpenAI-compatible server into the engine's events,
//! whatever dialect it speaks: thinking in `reasoning_content` (vLLM, SGLang), in `reasoning`
//! (Ollama, newer vLLM) or as `<think>` text inside `content` (vLLM without a reasoning parser);
//! a first chunk with only the role; a last chunk with `choices: []` and the usage; `[DONE]` or
//! not; an error object in the middle of the stream.

use onevision_engine::generate::{FinishReason, Output, Timings, Usage as EngineUsage};
use onevision_engine::split::{final_answer, Segment, Split, ThinkSplitter};
use onevision_engine::worker::WorkerEvent;

use crate::wire::{ChatChunk, Usage};

#[derive(Debug, Default)]
pub struct StreamReader {
    splitter: ThinkSplitter,
    split: Split,
    /// The text as the model wrote it, thinking in tags.
    raw_content: String,
    reasoning_field: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// Chunks that carried text: about one token each on vLLM, SGLang and llama-server.
    text_chunks: usize,
    /// Text chunks read before the answer began, when the model thought first.
    think_chunks: Option<usize>,
    done: bool,
}

impl StreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Text chunks so far, a stand-in for the token count until the server sends its usage.
    pub fn text_chunks(&self) -> usize {
        self.text_chunks
    }

    pub fn has_text(&self) -> bool {
        self.text_chunks > 0
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads one event's data. An error object from the server, or data that is not a chunk,
    /// is an `Err` with one sentence; what was read before stays.
    pub fn read(&mut self, data: &str) -> Result<Vec<WorkerEvent>, String> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let value: serde_json::Value = serde_json::from_str(data).map_err(|_| {
            format!(
                "the server sent something that is not a chat completion chunk: {}",
                excerpt(data)
            )
        })?;
        if let Some(message) = error_message(&value) {
            return Err(format!("the server stopped with an error: {message}"));
        }
        let chunk: ChatChunk = serde_json::from_value(value).map_err(|e| {
            format!(
                "the server sent a chunk this client cannot read ({e}): {}",
                excerpt(data)
            )
        })?;
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        let mut events = Vec::new();
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            let reasoning = d.reasoning_content.or(d.reasoning).unwrap_or_default();
            let content = d.content.unwrap_or_default();
            if !reasoning.is_empty() || !content.is_empty() {
                self.text_chunks += 1;
            }
            if !reasoning.is_empty() {
                self.reasoning_field.push_str(&reasoning);
                self.emit(vec![Segment::Think(reasoning)], &mut events);
            }
            if !content.is_empty() {
                self.raw_content.push_str(&content);
                let segments = self.splitter.push(&content);
                self.emit(segments, &mut events);
            }
            if let Some(r) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(r);
            }
        }
        Ok(events)
    }

    /// Whether the answer has begun after some thinking; the count of text chunks then.
    pub fn thought_for(&self) -> Option<usize> {
        self.think_chunks
    }

    fn emit(&mut self, segments: Vec<Segment>, events: &mut Vec<WorkerEvent>) {
        self.split.add(&segments);
        if self.think_chunks.is_none()
            && !self.split.think.is_empty()
            && !self.split.answer.is_empty()
        {
            self.think_chunks = Some(self.text_chunks.saturating_sub(1));
        }
        events.extend(segments.into_iter().map(|s| match s {
            Segment::Think(t) => WorkerEvent::Think(t),
            Segment::Answer(t) => WorkerEvent::Answer(t),
        }));
    }

    /// Whether the stream said how it ended (a finish reason or `[DONE]`): a stream that just
    /// stops without either was cut off.
    pub fn finished(&self) -> bool {
        self.done || self.finish_reason.is_some()
    }

    /// The last held-back text, once the stream has ended.
    pub fn flush(&mut self) -> Vec<WorkerEvent> {
        let segments = self.splitter.finish();
        let mut events = Vec::new();
        self.emit(segments, &mut events);
        events
    }

    /// The whole answer. `cancelled` when the student stopped it.
    pub fn output(&self, cancelled: bool, timings: Timings) -> Output {
        let finish_reason = if cancelled {
            FinishReason::Cancelled
        } else if self.finish_reason.as_deref() == Some("length") {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        // The text as the model wrote it, so the final answer is found as for a local one.
        let text = if self.reasoning_field.is_empty() {
            self.raw_content.clone()
        } else {
            format!(
                "<think>{}</think>{}",
                self.reasoning_field, self.raw_content
            )
        };
        let usage = self.usage.unwrap_or_default();
        Output {
            final_answer: final_answer(&text, &self.split.think),
            prompt_token_ids: Vec::new(),
            reused_prompt_tokens: usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            generated_token_ids: Vec::new(),
            think_tokens: if self.split.think.is_empty() {
                0
            } else {
                self.think_chunks.unwrap_or(self.text_chunks)
            },
            think: self.split.think.clone(),
            answer: self.split.answer.clone(),
            text,
            finish_reason,
            logprobs: None,
            timings,
            usage: EngineUsage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: if self.usage.is_some() {
                    usage.completion_tokens
                } else {
                    self.text_chunks
                },
                cached_tokens: usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            },
        }
    }
}

/// The message of an error object, in the shapes servers use: OpenAI's and llama-server's
/// `{"error": {"message"}}`, Ollama's `{"error": "…"}`, older vLLM's `{"object": "error",
/// "message"}`.
pub fn error_message(v: &serde_json::Value) -> Option<String> {
    match v.get("error") {
        Some(serde_json::Value::String(s)) => return Some(s.clone()),
        Some(e @ serde_json::Value::Object(_)) => {
            return Some(
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
            )
        }
        _ => {}
    }
    if v.get("object").and_then(|o| o.as_str()) == Some("error") {
        return v
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string);
    }
    None
}

/// At most 120 characters of what a server sent, on one line.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}
