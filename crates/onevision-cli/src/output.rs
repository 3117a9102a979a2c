//! What every subcommand shares about its output: the `--format` choice and the exit code of a
//! command stopped by Ctrl-C.

use anyhow::Result;
use clap::ValueEnum;
use onevision_engine::generate::Output;

use crate::device;
use crate::engine_args::Engine;

/// The exit code of a command stopped by Ctrl-C, as shells report SIGINT.
pub const INTERRUPTED: u8 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// A reply as `--format json` gives it: the engine's output, with what ran it.
pub fn json_value(out: &Output, engine: &Engine) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(out)?;
    match engine {
        Engine::Local(worker) => {
            let info = worker.info();
            v["timings"]["load_ms"] = info.load_ms.into();
            v["device"] = device::device_name(&info.device).into();
            v["dtype"] = device::dtype_name(info.dtype).into();
            v["quant"] = info.quant.name().into();
            v["packed_weights"] = info.packed_weights.name().into();
        }
        Engine::Server { engine, connect_ms } => {
            // A server gives no token ids: absent rather than empty.
            if let Some(o) = v.as_object_mut() {
                o.remove("prompt_token_ids");
                o.remove("generated_token_ids");
            }
            v["timings"]["load_ms"] = (*connect_ms).into();
            v["device"] = "server".into();
            v["endpoint"] = engine.base_url().into();
            v["model"] = engine.model().into();
        }
    }
    Ok(v)
}
