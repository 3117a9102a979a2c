//! What answers the student: the model loaded on this computer, or a server that speaks OpenAI's
//! chat API (a classroom's vLLM or SGLang, `onevision serve` on a home desktop). Both sit behind
//! the engine's seam, so asking, streaming, stopping and recording do not care which.

use onevision_api::client::ServerEngine;
use onevision_engine::device::{device_name, dtype_name};
use onevision_engine::generate::GenerationDefaults;
use onevision_engine::preset::PromptPreset;
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::{Worker, DEFAULT_MAX_NEW_TOKENS};
use onevision_engine::ChatEngine;
use onevision_model::image::ImageProcessorConfig;

use crate::dto::{model_name, GenerationDefaultsDto, ModelInfoDto};

pub enum AppEngine {
    Local(Worker),
    Server {
        engine: ServerEngine,
        connect_ms: f64,
        /// From the server's model list, when it says.
        context_tokens: Option<usize>,
        takes_pictures: Option<bool>,
    },
}

impl AppEngine {
    pub fn seam(&self) -> &dyn ChatEngine {
        match self {
            AppEngine::Local(w) => w,
            AppEngine::Server { engine, .. } => engine,
        }
    }

    /// How pictures are resized for the model, and whether that is exactly what it sees: a
    /// server's own processor resizes what the app sends once more.
    pub fn image_config(&self) -> (ImageProcessorConfig, bool) {
        match self {
            AppEngine::Local(w) => (w.info().image.clone(), true),
            AppEngine::Server { .. } => (ImageProcessorConfig::default(), false),
        }
    }

    /// The values that fill unset settings. A server keeps its own defaults (the job leaves
    /// them unset), so these are only what the settings panel shows.
    pub fn defaults(&self) -> GenerationDefaults {
        match self {
            AppEngine::Local(w) => w.info().defaults.clone(),
            AppEngine::Server { .. } => GenerationDefaults {
                eos_token_ids: Vec::new(),
                sampling: SamplingParams {
                    temperature: 1.0,
                    ..SamplingParams::default()
                },
                max_new_tokens: None,
            },
        }
    }

    /// The name a conversation records: the folder's, or the server's model with its address.
    pub fn record_name(&self) -> String {
        match self {
            AppEngine::Local(w) => model_name(w.info()),
            AppEngine::Server { engine, .. } => {
                format!("{} @ {}", engine.model(), engine.base_url())
            }
        }
    }

    /// The device, dtype and quantisation of a local model, as the panel names them; a
    /// server's are its own business.
    pub fn precision(&self) -> Option<[(&'static str, &'static str); 3]> {
        match self {
            AppEngine::Local(w) => {
                let info = w.info();
                Some([
                    ("device", device_name(&info.device)),
                    ("dtype", dtype_name(info.dtype)),
                    ("quant", info.quant.name()),
                ])
            }
            AppEngine::Server { .. } => None,
        }
    }

    pub fn endpoint(&self) -> Option<&str> {
        match self {
            AppEngine::Local(_) => None,
            AppEngine::Server { engine, .. } => Some(engine.base_url()),
        }
    }
}

impl From<&AppEngine> for ModelInfoDto {
    fn from(engine: &AppEngine) -> Self {
        match engine {
            AppEngine::Local(w) => ModelInfoDto::from(w.info()),
            AppEngine::Server {
                engine: server,
                connect_ms,
                context_tokens,
                takes_pictures,
            } => {
                let d = engine.defaults();
                let name = server.model().to_owned();
                ModelInfoDto {
                    dir: String::new(),
                    suggested_preset: PromptPreset::suggest(&name),
                    name,
                    device: "server".into(),
                    dtype: String::new(),
                    quant: String::new(),
                    load_ms: *connect_ms,
                    context_tokens: context_tokens.unwrap_or(0),
                    defaults: GenerationDefaultsDto {
                        temperature: d.sampling.temperature,
                        top_p: d.sampling.top_p,
                        top_k: d.sampling.top_k,
                        repetition_penalty: d.sampling.repetition_penalty,
                        max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
                    },
                    engine: "server",
                    endpoint: Some(server.base_url().to_owned()),
                    takes_pictures: *takes_pictures,
                }
            }
        }
    }
}
