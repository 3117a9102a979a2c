//! OpenAI's chat API both ways (DESIGN.md §8): [`server`] puts the engine behind it, [`client`]
//! asks any compatible server (ours, vLLM, SGLang, llama-server, Ollama) through the engine's
//! [`ChatEngine`](onevision_engine::ChatEngine) seam, and [`wire`] is the language both speak.

pub mod client;
pub mod server;
pub mod wire;
