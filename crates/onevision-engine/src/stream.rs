//! Turning generated token ids into text as they come, never emitting half a UTF-8 character
//! (byte-level tokens can split one across several ids) and never changing text already emitted.

use tokenizers::Tokenizer;

use crate::error::{EngineError, Result};

/// Decodes a growing list of ids into text deltas. It re-decodes a short window (from the token
/// before the last emitted one) so that tokenizer decoders that look at neighbours (spaces,
/// byte fallback) give the same text as decoding everything at once.
#[derive(Debug, Default, Clone)]
pub struct Detokenizer {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

impl Detokenizer {
    pub fn new() -> Self {
        Self::default()
    }

    fn decode(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
        tok.decode(ids, true).map_err(|e| {
            EngineError::Prompt(format!("the tokenizer cannot decode the output: {e}"))
        })
    }

    /// Adds one id; returns the text it completes, if any.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let before = Self::decode(tok, &self.ids[self.prefix_offset..self.read_offset])?;
        let now = Self::decode(tok, &self.ids[self.prefix_offset..])?;
        if now.len() <= before.len() || now.ends_with('\u{FFFD}') {
            return Ok(None);
        }
        let delta = match now.strip_prefix(before.as_str()) {
            Some(d) => d.to_string(),
            // The decoder rewrote the window: emit only what lies past the common part.
            None => {
                let common = now
                    .char_indices()
                    .zip(before.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                now[common..].to_string()
            }
        };
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        Ok(Some(delta))
    }

    /// The stream ended: whatever is held back (an incomplete character) comes out as it decodes.
    pub fn finish(&mut self, tok: &Tokenizer) -> Result<Option<String>> {
        if self.read_offset == self.ids.len() {
            return Ok(None);
        }
        let before = Self::decode(tok, &self.ids[self.prefix_offset..self.read_offset])?;
        let now = Self::decode(tok, &self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.ids.len();
        self.read_offset = self.ids.len();
        Ok(now
            .strip_prefix(before.as_str())
            .map(str::to_string)
            .filter(|d| !d.is_empty()))
    }
}
