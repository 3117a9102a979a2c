//! The `onevision` command (contract: DESIGN.md §4).

mod device;
mod messages;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use onevision_engine::generate::{generate, Event, GenerationDefaults, Output, Request};
use onevision_engine::prompt::{Message, Part, PromptBuilder, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_model::{LoadOptions, Model};

use crate::device::{DTypeArg, DeviceArg};

#[derive(Parser)]
#[command(
    name = "onevision",
    version,
    about = "Ask a local visual-reasoning model about pictures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ask a question about pictures and stream the answer.
    Ask(AskArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Quant {
    None,
    #[value(name = "q8_0")]
    Q8_0,
    Q4k,
}

#[derive(clap::Args)]
struct AskArgs {
    /// The model folder (config.json, safetensors, tokenizer.json, chat template).
    #[arg(long)]
    model: PathBuf,
    /// A picture to ask about; repeat for several.
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// A JSON conversation to continue as the assistant.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// A system message to put first.
    #[arg(long)]
    system: Option<String>,
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// 0 decodes greedily.
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
    #[arg(long, allow_negative_numbers = true)]
    top_p: Option<f32>,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    repetition_penalty: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Report the K most likely tokens of each step.
    #[arg(long, default_value_t = 0)]
    logprobs: usize,
    /// Largest picture area in pixels after resizing (default: the model folder's).
    #[arg(long)]
    max_pixels: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    #[arg(long, value_enum, default_value_t = DTypeArg::Auto)]
    dtype: DTypeArg,
    #[arg(long, value_enum, default_value_t = Quant::None)]
    quant: Quant,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The question.
    prompt: Option<String>,
}

/// Used when neither the flag nor generation_config.json sets a budget.
const DEFAULT_MAX_NEW_TOKENS: usize = 4096;

fn conversation(args: &AskArgs) -> Result<(Vec<Message>, Vec<PathBuf>)> {
    let (mut messages, mut pictures) = match &args.messages {
        Some(path) => messages::read_messages(path)?,
        None => (Vec::new(), Vec::new()),
    };
    if args.prompt.is_some() || !args.images.is_empty() {
        let mut parts: Vec<Part> = args
            .images
            .iter()
            .map(|p| {
                pictures.push(p.clone());
                Part::Image(pictures.len() - 1)
            })
            .collect();
        if let Some(q) = &args.prompt {
            parts.push(Part::Text(q.clone()));
        }
        messages.push(Message {
            role: Role::User,
            parts,
        });
    }
    if let Some(system) = &args.system {
        if messages.first().is_some_and(|m| m.role == Role::System) {
            bail!("--system was given but the messages file already starts with a system message");
        }
        messages.insert(0, Message::text(Role::System, system.clone()));
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        bail!("nothing to ask: give a PROMPT, --image, or --messages with a user message");
    }
    Ok((messages, pictures))
}

fn ask(args: AskArgs) -> Result<()> {
    if args.quant != Quant::None {
        let name = args
            .quant
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        bail!("--quant {name} is not available yet in this build; use --quant none");
    }
    let (messages, picture_paths) = conversation(&args)?;
    let pictures = picture_paths
        .iter()
        .map(|p| onevision_model::image::load_image(p))
        .collect::<Result<Vec<_>, _>>()?;
    let defaults = GenerationDefaults::from_dir(&args.model)?;
    let mut sampling = SamplingParams {
        seed: args.seed,
        ..defaults.sampling.clone()
    };
    if let Some(t) = args.temperature {
        sampling.temperature = t;
    }
    if let Some(p) = args.top_p {
        sampling.top_p = p;
    }
    if let Some(k) = args.top_k {
        sampling.top_k = k;
    }
    if let Some(r) = args.repetition_penalty {
        sampling.repetition_penalty = r;
    }
    sampling.validate().map_err(anyhow::Error::msg)?;
    let max_new_tokens = args
        .max_new_tokens
        .or(defaults.max_new_tokens)
        .unwrap_or(DEFAULT_MAX_NEW_TOKENS);
    if max_new_tokens == 0 {
        bail!("--max-new-tokens must be at least 1");
    }

    let device = device::device(args.device)?;
    let load_start = Instant::now();
    let mut model = Model::load(
        &args.model,
        &LoadOptions {
            device: device.clone(),
            dtype: device::dtype(args.dtype),
        },
    )?;
    let prompt = PromptBuilder::from_dir(&args.model, model.config().image_token_id)?;
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;

    let req = Request {
        messages: &messages,
        pictures: &pictures,
        max_pixels: args.max_pixels,
        sampling,
        max_new_tokens,
        eos_token_ids: &defaults.eos_token_ids,
        logprobs: args.logprobs,
    };
    let cancel = AtomicBool::new(false);
    let out = match args.format {
        Format::Json => generate(&mut model, &prompt, &req, &cancel, |_| {})?,
        Format::Text => stream_text(&mut model, &prompt, &req, &cancel)?,
    };
    if args.format == Format::Json {
        print_json(&out, load_ms, &model)?;
    }
    Ok(())
}

fn stream_text(
    model: &mut Model,
    prompt: &PromptBuilder,
    req: &Request,
    cancel: &AtomicBool,
) -> Result<Output> {
    let tty = std::io::stdout().is_terminal();
    let (dim, reset) = if tty {
        ("\x1b[2m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut stdout = std::io::stdout().lock();
    let mut in_think = false;
    let mut write_err = None;
    let out = generate(model, prompt, req, cancel, |e| {
        let r = match e {
            Event::Started { .. } => Ok(()),
            Event::Think(t) => {
                let head = if in_think { "" } else { "thinking:\n" };
                in_think = true;
                write!(stdout, "{dim}{head}{t}{reset}")
            }
            Event::Answer(t) => {
                let head = if in_think { "\n\nanswer:\n" } else { "" };
                in_think = false;
                write!(stdout, "{head}{t}")
            }
        };
        if let Err(e) = r.and_then(|_| stdout.flush()) {
            write_err.get_or_insert(e);
        }
    })?;
    if let Some(e) = write_err {
        return Err(e).context("cannot write to standard output");
    }
    writeln!(stdout)?;
    Ok(out)
}

fn print_json(out: &Output, load_ms: f64, model: &Model) -> Result<()> {
    let mut v = serde_json::to_value(out)?;
    v["timings"]["load_ms"] = load_ms.into();
    v["device"] = device::device_name(model.device()).into();
    v["dtype"] = device::dtype_name(model.dtype()).into();
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ONEVISION_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ask(args) => ask(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Library errors already quote their cause; add only what the chain says anew.
            let mut message = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if !message.contains(&cause) {
                    if !message.is_empty() {
                        message.push_str(": ");
                    }
                    message.push_str(&cause);
                }
            }
            eprintln!("onevision: {message}");
            ExitCode::FAILURE
        }
    }
}
