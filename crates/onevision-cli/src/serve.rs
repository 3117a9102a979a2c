//! `onevision serve`: the model loaded here behind OpenAI's chat API (DESIGN.md §8), for a second
//! computer at home or a small group. Binds to this computer only unless `--host` says otherwise.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use onevision_api::server::{router, serve as serve_http, ServeOptions};
use onevision_engine::catalog::cache::model_folder_name;
use onevision_engine::worker::Worker;

use crate::device;
use crate::model_args::ModelArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasoningFormat {
    /// Thinking in `reasoning_content`, the answer in `content` (as vLLM's reasoning parsers).
    Split,
    /// Everything the model writes in `content`, `<think>` tags included.
    Raw,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The address to listen on; 0.0.0.0 opens the server to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Refuse requests without `Authorization: Bearer KEY` (default: $ONEVISION_API_KEY, if set).
    #[arg(long)]
    pub api_key: Option<String>,
    /// The model id clients ask for (default: the model folder's name).
    #[arg(long)]
    pub served_model_name: Option<String>,
    #[arg(long, value_enum, default_value_t = ReasoningFormat::Split)]
    pub reasoning_format: ReasoningFormat,
    /// Answers being written plus those waiting; more are turned away with 503.
    #[arg(long, default_value_t = 16)]
    pub max_queue: usize,
    /// The largest request body in MiB (pictures are sent inside it).
    #[arg(long, default_value_t = 64)]
    pub max_body_mb: usize,
    /// Seconds a request's body may take to arrive.
    #[arg(long, default_value_t = 60)]
    pub body_timeout: u64,
    /// A web origin allowed to call the server from a browser, besides this computer's own
    /// pages; repeat for several.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
}

pub fn serve(args: ServeArgs) -> Result<u8> {
    let dir = args.model.dir()?;
    if args.max_body_mb == 0 {
        anyhow::bail!("--max-body-mb must be at least 1");
    }
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .or_else(|_| format!("[{}]:{}", args.host, args.port).parse())
        .with_context(|| format!("--host {} is not an IP address", args.host))?;
    let api_key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("ONEVISION_API_KEY").ok())
        .filter(|k| !k.is_empty());
    let name = args
        .served_model_name
        .clone()
        .unwrap_or_else(|| model_folder_name(dir));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    // Bind before loading, so a port in use is said at once, not after a minute of loading.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    eprintln!("loading {} …", dir.display());
    let worker = Worker::start(dir, args.model.load_options()?)?;
    let info = worker.info();
    let options = ServeOptions {
        served_model_name: name.clone(),
        api_key: api_key.clone(),
        raw_reasoning: args.reasoning_format == ReasoningFormat::Raw,
        max_queue: args.max_queue,
        max_body_bytes: args.max_body_mb * 1024 * 1024,
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        cors_origins: args.cors_origins.clone(),
        ..ServeOptions::default()
    };
    let header_timeout = options.header_timeout;
    eprintln!(
        "serving {name} ({}, {}, {}) at http://{local}/v1{}",
        device::device_name(&info.device),
        device::dtype_name(info.dtype),
        info.quant.name(),
        if api_key.is_some() {
            " (API key required)"
        } else {
            ""
        }
    );
    // Tests and scripts wait for this line on standard output.
    println!("listening on http://{local}");
    let app = router(worker, options);
    runtime.block_on(async {
        tokio::select! {
            r = serve_http(listener, app, header_timeout) => r.context("the server stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(0)
}
