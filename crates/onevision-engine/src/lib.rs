//! Everything between a conversation and tokens: prompts, sampling, splitting streamed text into
//! thinking and answer.

pub mod catalog;
pub mod chat_engine;
pub mod device;
pub mod error;
pub mod failure;
pub mod generate;
pub mod hardware;
pub mod preset;
pub mod prompt;
pub mod sampler;
pub mod session;
pub mod split;
pub mod stop;
pub mod stream;
pub mod transcribe;
pub mod worker;

pub use chat_engine::{ChatEngine, EngineSource};
pub use error::{EngineError, Result};
pub use failure::{Failure, FailureKind};
