//! From a conversation to token ids, as transformers' processor does it: the model folder's own
//! chat template rendered with minijinja, each picture placeholder expanded to as many image tokens
//! as the picture takes, the text tokenized with the folder's tokenizer.json.

use std::path::Path;

use minijinja::{context, Environment};
use serde::Serialize;
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One piece of a message: text, or the picture with this index in the conversation's pictures.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![Part::Text(text.into())],
        }
    }
}

pub struct PromptBuilder {
    template: String,
    tokenizer: Tokenizer,
    /// The text of the image placeholder token, read from the tokenizer.
    image_pad: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// The chat template of a model folder: chat_template.json, chat_template.jinja, or the
/// `chat_template` field of tokenizer_config.json.
fn find_template(dir: &Path) -> Result<String> {
    let read_json = |name: &str| -> Result<Option<Value>> {
        let path = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EngineError::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EngineError::File {
                path: path.clone(),
                reason: format!("is not valid JSON: {e}"),
            })
    };
    if let Some(v) = read_json("chat_template.json")? {
        if let Some(t) = v.get("chat_template").and_then(Value::as_str) {
            return Ok(t.to_string());
        }
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return std::fs::read_to_string(&jinja).map_err(|e| EngineError::io(&jinja, e));
    }
    if let Some(v) = read_json("tokenizer_config.json")? {
        match v.get("chat_template") {
            Some(Value::String(t)) => return Ok(t.clone()),
            // A list of named templates: the one called "default".
            Some(Value::Array(list)) => {
                if let Some(t) = list
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str)
                {
                    return Ok(t.to_string());
                }
            }
            _ => {}
        }
    }
    Err(EngineError::File {
        path: dir.to_path_buf(),
        reason: "has no chat template (chat_template.json, chat_template.jinja, or `chat_template` in tokenizer_config.json)".into(),
    })
}

/// A special token's text from tokenizer_config.json (a string or `{"content": …}`).
fn special_token(config: &Value, name: &str) -> Option<String> {
    match config.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl PromptBuilder {
    /// Reads the template and tokenizer of a model folder; `image_token_id` comes from its config.
    pub fn from_dir(dir: &Path, image_token_id: u32) -> Result<Self> {
        let template = find_template(dir)?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(EngineError::File {
                path: tok_path,
                reason: "is missing: the model folder needs its tokenizer".into(),
            });
        }
        let tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| EngineError::File {
            path: tok_path.clone(),
            reason: format!("is not a usable tokenizer: {e}"),
        })?;
        let image_pad = tokenizer
            .id_to_token(image_token_id)
            .ok_or_else(|| EngineError::File {
                path: tok_path.clone(),
                reason: format!(
                    "has no token with the image token id {image_token_id} from config.json"
                ),
            })?;
        let config: Value = std::fs::read_to_string(dir.join("tokenizer_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let builder = PromptBuilder {
            template,
            tokenizer,
            image_pad,
            bos_token: special_token(&config, "bos_token"),
            eos_token: special_token(&config, "eos_token"),
        };
        // Fail on a broken template now, with the folder's name, rather than at the first question.
        builder.environment().map_err(|e| EngineError::File {
            path: dir.to_path_buf(),
            reason: format!("has a chat template that does not parse: {e}"),
        })?;
        Ok(builder)
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn environment(&self) -> std::result::Result<Environment<'_>, minijinja::Error> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", &self.template)?;
        Ok(env)
    }

    /// The template's text for a conversation; with `add_generation_prompt` it ends where the
    /// assistant's reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let content: Vec<Value> = m
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => serde_json::json!({"type": "text", "text": t}),
                        Part::Image(_) => serde_json::json!({"type": "image"}),
                    })
                    .collect();
                serde_json::json!({"role": m.role, "content": content})
            })
            .collect();
        let env = self
            .environment()
            .map_err(|e| EngineError::Template(e.to_string()))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| EngineError::Template(e.to_string()))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| EngineError::Template(e.to_string()))
    }

    /// Token ids of a rendered prompt, the k-th picture placeholder repeated `image_tokens[k]` times.
    pub fn encode(&self, text: &str, image_tokens: &[usize]) -> Result<Vec<u32>> {
        let pieces: Vec<&str> = text.split(self.image_pad.as_str()).collect();
        if pieces.len() - 1 != image_tokens.len() {
            return Err(EngineError::Request(format!(
                "the prompt has {} picture placeholder(s) but {} picture(s) were given",
                pieces.len() - 1,
                image_tokens.len()
            )));
        }
        let mut expanded = String::with_capacity(text.len());
        for (i, piece) in pieces.iter().enumerate() {
            expanded.push_str(piece);
            if let Some(&n) = image_tokens.get(i) {
                for _ in 0..n {
                    expanded.push_str(&self.image_pad);
                }
            }
        }
        let enc = self
            .tokenizer
            .encode(expanded, true)
            .map_err(|e| EngineError::Prompt(format!("the tokenizer failed: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
}
