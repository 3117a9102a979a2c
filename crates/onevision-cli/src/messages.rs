//! The `--messages` file: `[{"role": …, "content": "text" | [{"type": "image", "image": path},
//! {"type": "text", "text": …}]}]`, picture paths relative to the file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use onevision_engine::prompt::{Message, Part, Role};
use serde_json::Value;

/// The conversation and the pictures it refers to, in order.
pub fn read_messages(path: &Path) -> Result<(Vec<Message>, Vec<PathBuf>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let shape = || {
        format!(
            "{} must be a list of {{\"role\": \"system\"|\"user\"|\"assistant\", \"content\": text or a list of parts}}",
            path.display()
        )
    };
    let list = v.as_array().with_context(shape)?;
    let mut messages = Vec::new();
    let mut pictures = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("system") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => bail!(
                "{}: message {i} has role {}, expected \"system\", \"user\" or \"assistant\"",
                path.display(),
                other.map_or("missing".to_string(), |r| format!("{r:?}"))
            ),
        };
        let parts = match m.get("content") {
            Some(Value::String(s)) => vec![Part::Text(s.clone())],
            Some(Value::Array(items)) => {
                let mut parts = Vec::new();
                for (j, item) in items.iter().enumerate() {
                    match item.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t =
                                item.get("text").and_then(Value::as_str).with_context(|| {
                                    format!(
                                        "{}: message {i} part {j} has no \"text\" string",
                                        path.display()
                                    )
                                })?;
                            parts.push(Part::Text(t.to_string()));
                        }
                        Some("image") => {
                            let p =
                                item.get("image").and_then(Value::as_str).with_context(|| {
                                    format!(
                                        "{}: message {i} part {j} has no \"image\" path",
                                        path.display()
                                    )
                                })?;
                            parts.push(Part::Image(pictures.len()));
                            pictures.push(base.join(p));
                        }
                        _ => bail!(
                            "{}: message {i} part {j} must have \"type\": \"text\" or \"image\"",
                            path.display()
                        ),
                    }
                }
                parts
            }
            _ => bail!("{}", shape()),
        };
        messages.push(Message { role, parts });
    }
    Ok((messages, pictures))
}
