//! From a request body to the engine's job: every field checked, and a bad one refused with a
//! sentence that names it. Unset sampling values come from the model folder's
//! generation_config.json, as transformers and vLLM take them.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use onevision_engine::generate::GenerationDefaults;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::{Job, DEFAULT_MAX_NEW_TOKENS};

use super::error::ApiError;
use crate::wire::{ChatRequest, Content, ContentPart};

/// What the handler needs besides the job.
#[derive(Debug, Clone)]
pub struct Asked {
    pub job: Job,
    pub stream: bool,
    pub include_usage: bool,
}

/// Parses the body, naming the field at fault when it cannot.
pub fn parse_body(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<ChatRequest, _> = serde_path_to_error::deserialize(&mut de);
    match parsed {
        Ok(r) => {
            de.end().map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("the request body has text after its JSON object: {e}"),
                )
            })?;
            Ok(r)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let text = inner.to_string();
            if let Some(name) = text
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                let at = if path == "." {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                return Err(ApiError::field(at, "is missing"));
            }
            if inner.is_syntax() || inner.is_eof() || path == "." {
                Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("the request body is not a valid chat request: {inner}"),
                ))
            } else {
                Err(ApiError::field(path, inner))
            }
        }
    }
}

pub fn to_job(
    req: ChatRequest,
    defaults: &GenerationDefaults,
    context_tokens: usize,
) -> Result<Asked, ApiError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::field(
            "n",
            "only one choice per request is supported",
        ));
    }
    if req.logprobs == Some(true) || req.top_logprobs.is_some_and(|k| k > 0) {
        return Err(ApiError::field(
            "logprobs",
            "log probabilities are not served; ask without them",
        ));
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::field("tools", "this server calls no tools"));
    }
    if let Some(f) = &req.response_format {
        if f.kind != "text" {
            return Err(ApiError::field(
                "response_format.type",
                format!("only \"text\" is supported, not \"{}\"", f.kind),
            ));
        }
    }
    let sampling = sampling(&req, &defaults.sampling)?;
    let max_new_tokens = match (req.max_completion_tokens, req.max_tokens) {
        (Some(n), _) => Some(("max_completion_tokens", n)),
        (None, Some(n)) => Some(("max_tokens", n)),
        (None, None) => None,
    };
    let max_new_tokens = match max_new_tokens {
        Some((name, n)) if n < 1 => {
            return Err(ApiError::field(
                name,
                format!("must be at least 1, not {n}"),
            ));
        }
        Some((name, n)) if n as u64 > context_tokens as u64 => {
            return Err(ApiError::field(
                name,
                format!("{n} is beyond the model's context of {context_tokens} tokens"),
            ));
        }
        Some((_, n)) => n as usize,
        None => defaults
            .max_new_tokens
            .unwrap_or(DEFAULT_MAX_NEW_TOKENS)
            .min(context_tokens / 2),
    };
    let stop = req.stop.map(|s| s.into_vec()).unwrap_or_default();
    let (messages, pictures) = conversation(req.messages)?;
    if stop.len() > 4 {
        return Err(ApiError::field(
            "stop",
            format!("at most 4 stop strings, not {}", stop.len()),
        ));
    }
    Ok(Asked {
        job: Job {
            messages,
            pictures,
            max_pixels: None,
            sampling: Some(sampling),
            max_new_tokens: Some(max_new_tokens),
            logprobs: 0,
            stop,
            ..Job::default()
        },
        stream: req.stream.unwrap_or(false),
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    })
}

fn role(name: &str, at: usize) -> Result<Role, ApiError> {
    match name {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        other => Err(ApiError::field(
            format!("messages[{at}].role"),
            format!("must be system, developer, user or assistant, not \"{other}\""),
        )),
    }
}

fn conversation(
    wire: Vec<crate::wire::ChatMessage>,
) -> Result<(Vec<Message>, Vec<image::RgbImage>), ApiError> {
    if wire.is_empty() {
        return Err(ApiError::field(
            "messages",
            "must hold at least one message",
        ));
    }
    let mut messages = Vec::with_capacity(wire.len());
    let mut pictures = Vec::new();
    for (i, m) in wire.into_iter().enumerate() {
        let role = role(&m.role, i)?;
        let parts = match m.content {
            None if role == Role::Assistant => Vec::new(),
            None => {
                return Err(ApiError::field(
                    format!("messages[{i}].content"),
                    "is missing",
                ))
            }
            Some(Content::Text(t)) => vec![Part::Text(t)],
            Some(Content::Parts(parts)) => {
                let mut out = Vec::with_capacity(parts.len());
                for (j, p) in parts.into_iter().enumerate() {
                    match p {
                        ContentPart::Text { text } => out.push(Part::Text(text)),
                        ContentPart::ImageUrl { image_url } => {
                            if role != Role::User {
                                return Err(ApiError::field(
                                    format!("messages[{i}].content[{j}]"),
                                    "pictures are read only in user messages",
                                ));
                            }
                            let field = format!("messages[{i}].content[{j}].image_url.url");
                            pictures.push(picture(&image_url.url, &field)?);
                            out.push(Part::Image(pictures.len() - 1));
                        }
                    }
                }
                out
            }
        };
        messages.push(Message { role, parts });
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(ApiError::field("messages", "must hold a user message"));
    }
    Ok((messages, pictures))
}

/// A picture sent inline as `data:image/…;base64,…`. Remote and file URLs are refused: a server
/// that fetched them could be pointed at anything its host can reach.
fn picture(url: &str, field: &str) -> Result<image::RgbImage, ApiError> {
    let Some(rest) = url.strip_prefix("data:") else {
        let scheme = url.split(':').next().unwrap_or_default();
        let shown = if url.contains(':') && scheme.len() < 12 {
            format!("{scheme}: URLs")
        } else {
            "anything but data: URLs".to_string()
        };
        return Err(ApiError::field(
            field,
            format!("this server does not fetch {shown}; send the picture inline as data:image/png;base64,…"),
        ));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(ApiError::field(
            field,
            "is a data: URL without a comma before its data",
        ));
    };
    if !meta.ends_with(";base64") {
        return Err(ApiError::field(
            field,
            "must be base64-encoded (data:image/png;base64,…)",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::field(field, format!("is not valid base64: {e}")))?;
    let picture = image::load_from_memory(&bytes).map_err(|e| {
        ApiError::field(field, format!("is not a picture this server can read: {e}"))
    })?;
    Ok(picture.to_rgb8())
}

fn sampling(req: &ChatRequest, d: &SamplingParams) -> Result<SamplingParams, ApiError> {
    let finite = |name: &str, v: f64| -> Result<f32, ApiError> {
        if v.is_finite() {
            Ok(v as f32)
        } else {
            Err(ApiError::field(
                name,
                format!("must be a finite number, not {v}"),
            ))
        }
    };
    let mut s = d.clone();
    if let Some(t) = req.temperature {
        let t = finite("temperature", t)?;
        if t < 0.0 {
            return Err(ApiError::field(
                "temperature",
                format!("must be 0 (greedy) or more, not {t}"),
            ));
        }
        s.temperature = t;
    }
    if let Some(p) = req.top_p {
        let p = finite("top_p", p)?;
        if !(p > 0.0 && p <= 1.0) {
            return Err(ApiError::field(
                "top_p",
                format!("must be in (0, 1], not {p}"),
            ));
        }
        s.top_p = p;
    }
    if let Some(k) = req.top_k {
        if k < -1 {
            return Err(ApiError::field(
                "top_k",
                format!("must be a positive count, or 0 or -1 for none, not {k}"),
            ));
        }
        s.top_k = k.max(0) as usize;
    }
    if let Some(r) = req.repetition_penalty {
        let r = finite("repetition_penalty", r)?;
        if r <= 0.0 {
            return Err(ApiError::field(
                "repetition_penalty",
                format!("must be positive, not {r}"),
            ));
        }
        s.repetition_penalty = r;
    }
    s.seed = match req.seed {
        Some(seed) => seed as u64,
        // Without a seed each request draws anew, as OpenAI's and vLLM's do.
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    };
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> GenerationDefaults {
        GenerationDefaults {
            eos_token_ids: vec![2],
            sampling: SamplingParams {
                temperature: 0.7,
                top_p: 0.8,
                top_k: 20,
                repetition_penalty: 1.05,
                seed: 0,
            },
            max_new_tokens: Some(100),
        }
    }

    fn ask(body: serde_json::Value) -> Result<Asked, ApiError> {
        let req = parse_body(body.to_string().as_bytes())?;
        to_job(req, &defaults(), 1000)
    }

    fn refused(body: serde_json::Value) -> ApiError {
        match ask(body) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    fn png_data_url() -> String {
        let mut bytes = Vec::new();
        image::RgbImage::from_pixel(3, 2, image::Rgb([9, 8, 7]))
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    #[test]
    fn unset_values_come_from_generation_config() {
        let a = ask(serde_json::json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
        let s = a.job.sampling.unwrap();
        assert_eq!((s.temperature, s.top_p, s.top_k), (0.7, 0.8, 20));
        assert_eq!(s.repetition_penalty, 1.05);
        assert_eq!(a.job.max_new_tokens, Some(100));
        assert!(!a.stream && !a.include_usage);
    }

    #[test]
    fn request_values_override_and_max_completion_tokens_wins() {
        let a = ask(serde_json::json!({
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0, "top_p": 0.5, "top_k": -1, "seed": 7, "repetition_penalty": 1.0,
            "max_tokens": 9, "max_completion_tokens": 5, "stop": "END",
            "stream": true, "stream_options": {"include_usage": true},
        }))
        .unwrap();
        let s = a.job.sampling.unwrap();
        assert_eq!((s.temperature, s.top_p, s.top_k, s.seed), (0.0, 0.5, 0, 7));
        assert_eq!(a.job.max_new_tokens, Some(5));
        assert_eq!(a.job.stop, vec!["END".to_string()]);
        assert!(a.stream && a.include_usage);
    }

    #[test]
    fn pictures_become_parts_in_order() {
        let a = ask(
            serde_json::json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": png_data_url()}},
                {"type": "text", "text": "what is this?"},
            ]}]}),
        )
        .unwrap();
        assert_eq!(a.job.pictures.len(), 1);
        assert_eq!(a.job.pictures[0].dimensions(), (3, 2));
        assert_eq!(
            a.job.messages[0].parts,
            vec![Part::Image(0), Part::Text("what is this?".into())]
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let user = |content: serde_json::Value| serde_json::json!({"messages": [{"role": "user", "content": content}]});
        let cases = [
            (serde_json::json!({}), "messages"),
            (serde_json::json!({"messages": []}), "messages"),
            (serde_json::json!({"messages": "hi"}), "messages"),
            (
                serde_json::json!({"messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                serde_json::json!({"messages": [{"role": "user"}]}),
                "messages[0].content",
            ),
            (user(serde_json::json!(5)), "messages[0].content"),
            (
                user(serde_json::json!([{"type": "audio", "x": 1}])),
                "messages[0].content",
            ),
            (
                user(
                    serde_json::json!([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]),
                ),
                "messages[0].content[0].image_url.url",
            ),
            (
                user(
                    serde_json::json!([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]),
                ),
                "messages[0].content[0].image_url.url",
            ),
            (
                user(
                    serde_json::json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]),
                ),
                "messages[0].content[0].image_url.url",
            ),
            (
                user(
                    serde_json::json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]),
                ),
                "messages[0].content[0].image_url.url",
            ),
        ];
        for (body, field) in cases {
            let e = refused(body.clone());
            assert_eq!(e.status, 400, "{body}");
            assert!(e.message.starts_with(field), "{body}: {}", e.message);
        }
        for (field, value) in [
            ("temperature", serde_json::json!(-1)),
            ("temperature", serde_json::json!("hot")),
            ("top_p", serde_json::json!(0)),
            ("top_p", serde_json::json!(1.5)),
            ("top_k", serde_json::json!(-5)),
            ("seed", serde_json::json!(1.5)),
            ("max_tokens", serde_json::json!(0)),
            ("max_tokens", serde_json::json!(100000)),
            ("max_completion_tokens", serde_json::json!(-3)),
            ("repetition_penalty", serde_json::json!(0)),
            ("stop", serde_json::json!(["a", "b", "c", "d", "e"])),
            ("stop", serde_json::json!(7)),
            ("n", serde_json::json!(2)),
            ("stream", serde_json::json!("yes")),
            ("logprobs", serde_json::json!(true)),
        ] {
            let mut body = user(serde_json::json!("hi"));
            body[field] = value.clone();
            let e = refused(body);
            assert_eq!(e.status, 400);
            assert!(
                e.message.starts_with(field),
                "{field}={value}: {}",
                e.message
            );
        }
    }

    #[test]
    fn broken_json_is_refused_as_a_whole() {
        let e = parse_body(b"{\"messages\": [").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("not a valid chat request"),
            "{}",
            e.message
        );
        let e = parse_body(b"{\"messages\": []} x").unwrap_err();
        assert!(e.message.contains("after its JSON"), "{}", e.message);
    }
}
