//! Which engine answers: the model folder loaded here (`--model`), or an OpenAI-compatible server
//! (`--endpoint`). Both come back behind the engine's seam, so the commands do not care which.

use std::time::Instant;

use anyhow::{bail, Result};
use onevision_api::client::{ClientOptions, ServerEngine};
use onevision_engine::worker::{ModelInfo, Worker};
use onevision_engine::ChatEngine;

use crate::model_args::ModelArgs;

pub const NO_ENGINE: &str =
    "give --model DIR (a model folder) or --endpoint URL (a server) to answer";

#[derive(clap::Args, Debug, Clone)]
pub struct EndpointArgs {
    /// Ask an OpenAI-compatible server instead of loading a model here
    /// (ours, vLLM, SGLang, llama-server, Ollama: e.g. http://192.168.1.20:8000/v1).
    #[arg(long, conflicts_with = "model")]
    pub endpoint: Option<String>,
    /// The server's model to ask (default: the first one it lists).
    #[arg(long, requires = "endpoint")]
    pub api_model: Option<String>,
    /// The server's API key (default: $OPENAI_API_KEY).
    #[arg(long, requires = "endpoint")]
    pub api_key: Option<String>,
}

impl EndpointArgs {
    fn key(&self) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .filter(|k| !k.is_empty())
    }
}

/// The engine the flags name, ready to take jobs.
pub enum Engine {
    Local(Worker),
    Server {
        engine: ServerEngine,
        /// How long finding the server and its model took.
        connect_ms: f64,
    },
}

impl Engine {
    pub fn open(model: &ModelArgs, endpoint: &EndpointArgs) -> Result<Engine> {
        match &endpoint.endpoint {
            Some(url) => {
                let start = Instant::now();
                let engine = ServerEngine::connect(
                    url,
                    endpoint.api_model.as_deref(),
                    endpoint.key().as_deref(),
                    ClientOptions::default(),
                )?;
                Ok(Engine::Server {
                    engine,
                    connect_ms: start.elapsed().as_secs_f64() * 1e3,
                })
            }
            None => {
                let Some(dir) = model.model.as_deref() else {
                    bail!(
                        "give --model DIR (a model folder) or --endpoint URL (a server) to answer"
                    );
                };
                Ok(Engine::Local(Worker::start(dir, model.load_options()?)?))
            }
        }
    }

    pub fn seam(&self) -> &dyn ChatEngine {
        match self {
            Engine::Local(w) => w,
            Engine::Server { engine, .. } => engine,
        }
    }

    /// The loaded model, when it is loaded here.
    pub fn local(&self) -> Option<&ModelInfo> {
        match self {
            Engine::Local(w) => Some(w.info()),
            Engine::Server { .. } => None,
        }
    }
}
