//! Asking an OpenAI-compatible server (ours, vLLM, SGLang, llama-server, Ollama's /v1) through the
//! engine's seam: the job's conversation goes out as one streamed chat completion request, its
//! pictures inline as PNG data URLs, and the stream comes back as the same events the local engine
//! sends. A job that fails (a refused request, a server that hangs up or goes quiet) ends with
//! `Failed` and one sentence, after the text that did arrive.

mod reader;
mod request;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use onevision_engine::generate::{Output, Progress, Timings};
use onevision_engine::worker::{EventSink, Job, JobHandle, WorkerEvent};
use onevision_engine::{ChatEngine, EngineError, EngineSource, Failure};

pub use reader::{error_message, excerpt, StreamReader};
pub use request::chat_request;

use crate::wire::{ModelCard, ModelList};

/// Failures of talking to a server, each one sentence naming the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0} is not a server address (expected e.g. http://192.168.1.20:8000/v1)")]
    BadUrl(String),
    #[error("{0}: https:// servers are not supported yet (this build speaks plain HTTP); use the server's http:// address on a network you trust")]
    NoTls(String),
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server at {url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the server at {url} sent something that is not {what}: {excerpt}")]
    Garbled {
        url: String,
        what: &'static str,
        excerpt: String,
    },
    #[error("the server at {url} lists no models")]
    NoModels { url: String },
}

/// How long to wait, and for what.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// A stream that sends nothing at all (not even a keep-alive) for this long has failed. Long:
    /// a busy server may take minutes before the first token of a queued request.
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// The part of a server address every request starts with: `http://host:port/v1`. A bare
/// `host:port` gets `http://` and `/v1`.
pub fn base_url(address: &str) -> Result<String, ClientError> {
    let trimmed = address.trim().trim_end_matches('/');
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|_| ClientError::BadUrl(address.into()))?;
    if url.scheme() == "https" {
        return Err(ClientError::NoTls(address.into()));
    }
    if url.scheme() != "http" || url.host_str().is_none_or(str::is_empty) {
        return Err(ClientError::BadUrl(address.into()));
    }
    if url.path().is_empty() || url.path() == "/" {
        Ok(format!("{with_scheme}/v1"))
    } else {
        Ok(with_scheme)
    }
}

fn http_client(opts: &ClientOptions) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| ClientError::Unreachable {
            url: String::new(),
            reason: e.to_string(),
        })
}

/// The reason of a failed request in its own words: the innermost cause ("Connection refused"),
/// not reqwest's wrapping of it.
fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut innermost: &dyn std::error::Error = e;
    while let Some(s) = innermost.source() {
        innermost = s;
    }
    innermost.to_string()
}

/// Statuses after which the same request may well succeed later: a timeout, rate limiting, an
/// overloaded or restarting server.
fn is_transient_status(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error()
}

/// A refused request's status and the server's own sentence from its error body.
async fn refusal(url: &str, response: reqwest::Response) -> ClientError {
    let status = response.status();
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| {
            if body.trim().is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .into()
            } else {
                excerpt(body.trim())
            }
        });
    ClientError::Refused {
        url: url.into(),
        status: status.as_u16(),
        message,
    }
}

fn authorized(req: reqwest::RequestBuilder, api_key: Option<&str>) -> reqwest::RequestBuilder {
    match api_key {
        Some(k) if !k.is_empty() => req.bearer_auth(k),
        _ => req,
    }
}

/// The models a server offers (`GET /v1/models`).
pub async fn list_models(
    base: &str,
    api_key: Option<&str>,
    opts: &ClientOptions,
) -> Result<Vec<ModelCard>, ClientError> {
    let url = format!("{base}/models");
    let client = http_client(opts)?;
    let response = authorized(client.get(&url), api_key)
        .timeout(opts.connect_timeout * 3)
        .send()
        .await
        .map_err(|e| ClientError::Unreachable {
            url: base.into(),
            reason: reason(&e),
        })?;
    if !response.status().is_success() {
        return Err(refusal(base, response).await);
    }
    let body = response
        .text()
        .await
        .map_err(|e| ClientError::Unreachable {
            url: base.into(),
            reason: reason(&e),
        })?;
    serde_json::from_str::<ModelList>(&body)
        .map(|l| l.data)
        .map_err(|_| ClientError::Garbled {
            url: base.into(),
            what: "a model list",
            excerpt: excerpt(&body),
        })
}

/// The engine behind a server, from the `owned_by` of its model list, where it says.
pub fn served_by(owned_by: &str) -> Option<&'static str> {
    match owned_by.to_ascii_lowercase().as_str() {
        "vllm" => Some("vLLM"),
        "sglang" => Some("SGLang"),
        "llamacpp" => Some("llama.cpp"),
        // Ollama lists the models of its library as owned by "library".
        "library" | "ollama" => Some("Ollama"),
        "onevision" => Some("onevision serve"),
        _ => None,
    }
}

/// Whether `model` reads pictures, for servers whose model list does not say: a one-token
/// request with a small blank picture. `Some(true)` when it is answered, `Some(false)` when the
/// server refuses it as a bad request, `None` when it fails otherwise (nothing can be said).
pub async fn probe_pictures(
    base: &str,
    model: &str,
    api_key: Option<&str>,
    opts: &ClientOptions,
) -> Option<bool> {
    let job = Job {
        messages: vec![onevision_engine::prompt::Message {
            role: onevision_engine::prompt::Role::User,
            parts: vec![
                onevision_engine::prompt::Part::Image(0),
                onevision_engine::prompt::Part::Text("?".into()),
            ],
        }],
        pictures: vec![image::RgbImage::from_pixel(
            56,
            56,
            image::Rgb([255, 255, 255]),
        )],
        max_new_tokens: Some(1),
        ..Job::default()
    };
    let mut body = chat_request(&job, model).ok()?;
    body.stream = Some(false);
    body.stream_options = None;
    let body = serde_json::to_vec(&body).ok()?;
    let client = http_client(opts).ok()?;
    let response = authorized(client.post(format!("{base}/chat/completions")), api_key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(60))
        .body(body)
        .send()
        .await
        .ok()?;
    let status = response.status();
    if status.is_success() {
        Some(true)
    } else if status == reqwest::StatusCode::BAD_REQUEST
        || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY
    {
        Some(false)
    } else {
        None
    }
}

/// A server's chat model behind the engine seam.
pub struct ServerEngine {
    base: String,
    model: String,
    api_key: Option<String>,
    options: ClientOptions,
}

impl ServerEngine {
    /// `model: None` takes the first model the server lists. Blocking: asks the server for its
    /// models (which also proves it is there and the key is right).
    pub fn connect(
        address: &str,
        model: Option<&str>,
        api_key: Option<&str>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let base = base_url(address)?;
        let rt = runtime().map_err(|e| ClientError::Unreachable {
            url: base.clone(),
            reason: e.to_string(),
        })?;
        let models = rt.block_on(list_models(&base, api_key, &options))?;
        let model = match model {
            Some(m) => m.to_string(),
            None => models
                .first()
                .map(|m| m.id.clone())
                .ok_or(ClientError::NoModels { url: base.clone() })?,
        };
        Ok(ServerEngine::new(base, model, api_key, options))
    }

    /// A server's model already found in its list (`base` as [`base_url`] gives it): nothing is
    /// asked of the server until a job is submitted.
    pub fn new(base: String, model: String, api_key: Option<&str>, options: ClientOptions) -> Self {
        ServerEngine {
            base,
            model,
            api_key: api_key.map(str::to_string),
            options,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn model(&self) -> &str {
        &self.model
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl ChatEngine for ServerEngine {
    fn source(&self) -> EngineSource {
        EngineSource::Server {
            base_url: self.base.clone(),
            model: self.model.clone(),
        }
    }

    /// Each job runs on a thread of its own with its own small runtime, so any number may run at
    /// once (eval's `--concurrency`) and none depends on the caller's runtime.
    fn submit_job(&self, job: Job, mut on_event: EventSink) -> onevision_engine::Result<JobHandle> {
        let handle = JobHandle::new();
        let watched = handle.clone();
        let base = self.base.clone();
        let model = self.model.clone();
        let api_key = self.api_key.clone();
        let options = self.options.clone();
        std::thread::Builder::new()
            .name("onevision-server-job".into())
            .spawn(move || {
                let last = match runtime() {
                    Ok(rt) => rt.block_on(ask(
                        &base,
                        &model,
                        api_key.as_deref(),
                        &options,
                        job,
                        &watched,
                        &mut on_event,
                    )),
                    Err(e) => Err(Failure::engine(format!("cannot start the client: {e}"))),
                };
                on_event(match last {
                    Ok(out) => WorkerEvent::Done(Box::new(out)),
                    Err(e) => WorkerEvent::Failed(e),
                });
            })
            .map_err(|e| EngineError::Prompt(format!("cannot start a client thread: {e}")))?;
        Ok(handle)
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// One streamed request; text events go to `on_event` as they come, the end is returned.
async fn ask(
    base: &str,
    model: &str,
    api_key: Option<&str>,
    options: &ClientOptions,
    job: Job,
    cancel: &JobHandle,
    on_event: &mut EventSink,
) -> Result<Output, Failure> {
    let start = Instant::now();
    let body = chat_request(&job, model).map_err(|e| Failure::request(e.to_string()))?;
    let client = http_client(options).map_err(|e| Failure::engine(e.to_string()))?;
    let url = format!("{base}/chat/completions");
    let body = serde_json::to_vec(&body)
        .map_err(|e| Failure::engine(format!("cannot write the request: {e}")))?;
    let send = authorized(client.post(&url), api_key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send();
    let response = tokio::select! {
        r = send => r.map_err(|e| {
            Failure::unavailable(ClientError::Unreachable { url: base.into(), reason: reason(&e) }.to_string())
        })?,
        _ = cancelled(cancel) => {
            return Ok(StreamReader::new().output(true, Timings::default()));
        }
    };
    if !response.status().is_success() {
        let transient = is_transient_status(response.status());
        let message = refusal(base, response).await.to_string();
        return Err(if transient {
            Failure::unavailable(message)
        } else {
            Failure::request(message)
        });
    }
    on_event(WorkerEvent::Started {
        prompt_tokens: 0,
        reused_tokens: 0,
        cached_pictures: 0,
    });

    // Every byte counts as a sign of life, keep-alive comments included, which the event
    // parser swallows.
    let last_byte = Arc::new(Mutex::new(Instant::now()));
    let seen = last_byte.clone();
    let bytes = response.bytes_stream().inspect(move |_| {
        if let Ok(mut t) = seen.lock() {
            *t = Instant::now();
        }
    });
    let mut events = bytes.eventsource();
    let mut reader = StreamReader::new();
    let mut first_text: Option<f64> = None;
    let mut answer_began: Option<f64> = None;
    let mut last_progress = Instant::now();
    let failure = loop {
        let next = tokio::select! {
            e = events.next() => e,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if cancel.is_cancelled() {
                    break None;
                }
                let quiet = last_byte.lock().map(|t| t.elapsed()).unwrap_or_default();
                if quiet >= options.idle_timeout {
                    break Some(Failure::unavailable(format!(
                        "the server at {base} sent nothing for {} s; the answer so far is kept",
                        options.idle_timeout.as_secs()
                    )));
                }
                continue;
            }
        };
        match next {
            None => {
                if reader.finished() {
                    break None;
                }
                break Some(Failure::unavailable(format!(
                    "the server at {base} closed the connection before the answer was finished"
                )));
            }
            Some(Err(e)) => {
                break Some(Failure::unavailable(format!(
                    "the connection to {base} broke before the answer was finished: {e}"
                )))
            }
            Some(Ok(event)) => match reader.read(&event.data) {
                Ok(texts) => {
                    if first_text.is_none() && reader.has_text() {
                        first_text = Some(ms(start));
                    }
                    if answer_began.is_none() && reader.thought_for().is_some() {
                        answer_began = Some(ms(start));
                    }
                    for e in texts {
                        on_event(e);
                    }
                    if reader.is_done() {
                        break None;
                    }
                    if last_progress.elapsed() >= Duration::from_millis(250) {
                        last_progress = Instant::now();
                        let elapsed = ms(start);
                        let decoding = elapsed - first_text.unwrap_or(elapsed);
                        on_event(WorkerEvent::Stats(Progress {
                            generated_tokens: reader.text_chunks(),
                            elapsed_ms: elapsed,
                            decode_tokens_per_s: per_second(reader.text_chunks(), decoding),
                        }));
                    }
                }
                Err(e) => break Some(Failure::engine(e)),
            },
        }
    };
    for e in reader.flush() {
        on_event(e);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let total = ms(start);
    let ttft = first_text.unwrap_or(total);
    let out = reader.output(cancel.is_cancelled(), Timings::default());
    let mut timings = Timings {
        time_to_first_token_ms: ttft,
        decode_ms: total - ttft,
        // As for a local answer: until the answer began, or the whole time if it never did.
        think_ms: if out.think.is_empty() {
            0.0
        } else {
            answer_began.unwrap_or(total)
        },
        ..Timings::default()
    };
    timings.decode_tokens_per_s = per_second(
        out.usage.completion_tokens.saturating_sub(1),
        timings.decode_ms,
    );
    Ok(Output { timings, ..out })
}

fn per_second(count: usize, ms: f64) -> f64 {
    if count == 0 || ms <= 0.0 {
        0.0
    } else {
        count as f64 / (ms / 1e3)
    }
}

async fn cancelled(handle: &JobHandle) {
    while !handle.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
