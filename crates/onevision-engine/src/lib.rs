//! Everything between a conversation and tokens: prompts, sampling, splitting streamed text into
//! thinking and answer.

pub mod catalog;
pub mod device;
pub mod error;
pub mod generate;
pub mod hardware;
pub mod preset;
pub mod prompt;
pub mod sampler;
pub mod session;
pub mod split;
pub mod stream;
pub mod worker;

pub use error::{EngineError, Result};
