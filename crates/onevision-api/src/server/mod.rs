//! `onevision serve`: the engine behind OpenAI's chat API, for a second computer at home or a
//! small group (DESIGN.md §8). One engine thread answers; requests wait their turn in order.

mod admission;
mod chat;
pub mod convert;
pub mod error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use onevision_engine::worker::Worker;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use self::admission::Admission;
use self::error::ApiError;
use crate::wire::{ModelCard, ModelList};

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The model id clients ask for and `/v1/models` lists.
    pub served_model_name: String,
    /// When set, every `/v1` request must carry `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Keep `<think>` in `content` instead of moving the thinking to `reasoning_content`.
    pub raw_reasoning: bool,
    /// Answers being written plus those waiting; more get 503.
    pub max_queue: usize,
    pub retry_after_s: u64,
    pub max_body_bytes: usize,
    /// A request's body (pictures included) must arrive within this.
    pub body_timeout: Duration,
    /// A request's headers must arrive within this (slow-header clients are dropped).
    pub header_timeout: Duration,
    /// Comment lines keep a quiet stream (a long prefill) from looking dead to proxies.
    pub keep_alive: Duration,
    /// Web origins besides this computer's own pages that may call the server from a browser.
    pub cors_origins: Vec<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            served_model_name: "onevision".into(),
            api_key: None,
            raw_reasoning: false,
            max_queue: 16,
            retry_after_s: 10,
            max_body_bytes: 64 * 1024 * 1024,
            body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(10),
            cors_origins: Vec::new(),
        }
    }
}

pub struct AppState {
    worker: Worker,
    options: ServeOptions,
    admission: Admission,
    started: u64,
}

pub fn router(worker: Worker, options: ServeOptions) -> Router {
    let cors = cors(&options.cors_origins);
    let state = Arc::new(AppState {
        admission: Admission::new(options.max_queue),
        worker,
        options,
        started: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    });
    let v1 = Router::new()
        .route("/models", get(models))
        .route("/chat/completions", post(chat::chat_completions))
        .layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .nest("/v1", v1)
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors)
        .with_state(state)
}

/// Browsers may call from this computer's own pages (and the desktop app's webview) and from the
/// origins given; a web page elsewhere cannot use the model behind the student's back.
fn cors(extra: &[String]) -> CorsLayer {
    let extra: Vec<String> = extra.to_vec();
    CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            extra.iter().any(|o| o == origin) || is_local_origin(origin)
        }))
}

fn is_local_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let host = rest.rsplit_once(':').map_or(rest, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            rest
        }
    });
    matches!(scheme, "http" | "https" | "tauri")
        && matches!(
            host,
            "localhost" | "127.0.0.1" | "[::1]" | "tauri.localhost"
        )
}

async fn require_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(key) = state.options.api_key.as_deref() else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if same_secret(g.as_bytes(), key.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "the API key is wrong").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this server needs an API key: send it as Authorization: Bearer KEY",
        )
        .into_response(),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the key.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.options.served_model_name.clone(),
            object: "model".into(),
            created: state.started,
            owned_by: "onevision".into(),
            input_modalities: Some(vec!["text".into(), "image".into()]),
            max_model_len: Some(state.worker.info().context_tokens),
        }],
    })
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "model": state.options.served_model_name,
        "busy": state.admission.busy(),
    }))
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "{} is not served here; try GET /v1/models, POST /v1/chat/completions or GET /health",
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {}", req.uri().path(), req.method()),
    )
}

/// Serves until the listener fails. Each connection must send its headers within the options'
/// header timeout, so clients that trickle bytes cannot hold connections open for ever.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
) -> std::io::Result<()> {
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}
