//! `POST /v1/chat/completions`: the body read within its size and time limits, checked, queued on
//! the engine thread, and the answer sent whole or as server-sent events. The thinking goes in
//! `reasoning_content` and the answer in `content`, unless the server keeps the raw text. A client
//! that goes away cancels its answer: the stream (or the waiting handler) is dropped, and with it
//! the job's handle.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::split::Splitting;
use onevision_engine::worker::{JobHandle, WorkerEvent};
use onevision_engine::{Failure, FailureKind};
use tokio::sync::mpsc;

use super::convert::{parse_body, to_job};
use super::error::ApiError;
use super::AppState;
use crate::wire::{
    AnswerMessage, ChatChunk, ChatCompletion, Choice, ChunkChoice, PromptTokensDetails, Usage,
};

/// Cancels the job when the response that waits for it is dropped (the client hung up); after
/// the job has finished, cancelling does nothing.
struct CancelOnDrop(JobHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match start(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = state.options.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {} MiB this server accepts",
                limit / (1024 * 1024)
            ),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = state.options.body_timeout;
    let read = async {
        let mut data = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            })?;
            if data.len() + chunk.len() > limit {
                return Err(too_large());
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        )
    })?
}

async fn start(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(state, headers, body).await?;
    let req = parse_body(&body)?;
    drop(body);
    let served = &state.options.served_model_name;
    if let Some(asked) = req.model.as_deref() {
        if !asked.is_empty() && asked != served {
            return Err(ApiError {
                param: Some("model".into()),
                ..ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "model: \"{asked}\" is not served here; this server serves \"{served}\""
                    ),
                )
            });
        }
    }
    let info = state.worker.info();
    let mut asked = to_job(req, &info.defaults, info.context_tokens)?;
    // As vLLM's reasoning parsers do: the thinking apart, the rest exactly as the model wrote it
    // (answer tags included, so clients find the final answer as in a local reply).
    asked.job.splitting = if state.options.raw_reasoning {
        Splitting::None
    } else {
        Splitting::ThinkOnly
    };
    let slot = state.admission.try_enter().ok_or_else(|| ApiError {
        retry_after: Some(state.options.retry_after_s),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is busy: {} answers are being written or waiting; try again shortly",
                state.admission.busy()
            ),
        )
    })?;
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = state
        .worker
        .submit(asked.job, move |e| {
            // The slot lives as long as this sink, which the engine drops after the job.
            let _ = &slot;
            let _ = tx.send(e);
        })
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let guard = CancelOnDrop(handle);
    let ids = ChunkIds::new(served);
    if asked.stream {
        Ok(stream(state, ids, rx, guard, asked.include_usage))
    } else {
        whole(ids, rx, guard).await
    }
}

/// What every chunk and answer of one request repeats.
#[derive(Clone)]
struct ChunkIds {
    id: String,
    created: u64,
    model: String,
}

impl ChunkIds {
    fn new(model: &str) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        ChunkIds {
            id: format!("chatcmpl-{:x}{:08x}", now.as_secs(), now.subsec_nanos()),
            created: now.as_secs(),
            model: model.to_string(),
        }
    }

    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }

    fn delta(&self, delta: AnswerMessage, finish_reason: Option<String>) -> ChatChunk {
        self.chunk(
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
            None,
        )
    }
}

fn usage(out: &Output) -> Usage {
    let u = out.usage;
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.prompt_tokens + u.completion_tokens,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u.cached_tokens,
        }),
    }
}

fn finish_reason(r: FinishReason) -> String {
    match r {
        FinishReason::Length => "length",
        // A cancelled answer reaches nobody: its client has gone.
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
    .into()
}

fn engine_failure(failure: Failure) -> ApiError {
    let status = match failure.kind {
        // What was asked cannot be done (a prompt beyond the context): the client's to fix.
        FailureKind::Request => StatusCode::BAD_REQUEST,
        FailureKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        FailureKind::Engine => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, failure.message)
}

async fn whole(
    ids: ChunkIds,
    mut rx: mpsc::UnboundedReceiver<WorkerEvent>,
    guard: CancelOnDrop,
) -> Result<Response, ApiError> {
    let out = loop {
        match rx.recv().await {
            Some(WorkerEvent::Done(out)) => break out,
            Some(WorkerEvent::Failed(e)) => return Err(engine_failure(e)),
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the engine stopped before finishing the answer",
                ))
            }
        }
    };
    drop(guard);
    let reasoning = (!out.think.is_empty()).then(|| out.think.clone());
    let answer = ChatCompletion {
        id: ids.id,
        object: "chat.completion".into(),
        created: ids.created,
        model: ids.model,
        choices: vec![Choice {
            index: 0,
            message: AnswerMessage {
                role: Some("assistant".into()),
                content: Some(out.answer.clone()),
                reasoning_content: reasoning,
                reasoning: None,
            },
            finish_reason: Some(finish_reason(out.finish_reason)),
        }],
        usage: Some(usage(&out)),
    };
    Ok(Json(answer).into_response())
}

/// Where a stream is: still answering, or sending its last events.
enum Phase {
    Answering,
    Closing(std::vec::IntoIter<SseEvent>),
}

struct StreamState {
    rx: mpsc::UnboundedReceiver<WorkerEvent>,
    _guard: CancelOnDrop,
    ids: ChunkIds,
    include_usage: bool,
    phase: Phase,
}

fn data<T: serde::Serialize>(value: &T) -> SseEvent {
    SseEvent::default().data(serde_json::to_string(value).unwrap_or_else(|_| "{}".into()))
}

fn stream(
    state: &AppState,
    ids: ChunkIds,
    rx: mpsc::UnboundedReceiver<WorkerEvent>,
    guard: CancelOnDrop,
    include_usage: bool,
) -> Response {
    // OpenAI's streams open with the role.
    let opening = data(&ids.delta(
        AnswerMessage {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..AnswerMessage::default()
        },
        None,
    ));
    let st = StreamState {
        rx,
        _guard: guard,
        ids,
        include_usage,
        phase: Phase::Answering,
    };
    let events = futures_util::stream::once(async move { Ok::<_, Infallible>(opening) }).chain(
        futures_util::stream::unfold(st, |mut st| async move {
            let event = next_event(&mut st).await?;
            Some((Ok::<_, Infallible>(event), st))
        }),
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(state.options.keep_alive))
        .into_response()
}

async fn next_event(st: &mut StreamState) -> Option<SseEvent> {
    loop {
        if let Phase::Closing(rest) = &mut st.phase {
            return rest.next();
        }
        let delta = |content: Option<String>, reasoning: Option<String>| AnswerMessage {
            content,
            reasoning_content: reasoning,
            ..AnswerMessage::default()
        };
        match st.rx.recv().await {
            Some(WorkerEvent::Think(t)) => {
                return Some(data(&st.ids.delta(delta(None, Some(t)), None)))
            }
            Some(WorkerEvent::Answer(t)) => {
                return Some(data(&st.ids.delta(delta(Some(t), None), None)))
            }
            Some(WorkerEvent::Started { .. } | WorkerEvent::Stats(_)) => {}
            Some(WorkerEvent::Done(out)) => {
                let mut last = st.ids.delta(
                    AnswerMessage::default(),
                    Some(finish_reason(out.finish_reason)),
                );
                let mut closing = Vec::new();
                if st.include_usage {
                    closing.push(data(&last));
                    closing.push(data(&st.ids.chunk(Vec::new(), Some(usage(&out)))));
                } else {
                    // Clients that did not ask still find the counts on the last chunk.
                    last.usage = Some(usage(&out));
                    closing.push(data(&last));
                }
                closing.push(SseEvent::default().data("[DONE]"));
                st.phase = Phase::Closing(closing.into_iter());
            }
            Some(WorkerEvent::Failed(e)) => {
                let body = engine_failure(e).body();
                st.phase = Phase::Closing(
                    vec![data(&body), SseEvent::default().data("[DONE]")].into_iter(),
                );
            }
            None => return None,
        }
    }
}
