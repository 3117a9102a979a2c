//! `onevision ask`: one answer to a question about pictures, streamed as text or given as one
//! JSON object (DESIGN.md §4). The model runs on the engine's own thread; Ctrl-C stops the answer
//! between two tokens and keeps what was said so far (a second Ctrl-C quits at once).
//! `--transcribe-first` asks for a formal transcription of the pictures first and reasons over the
//! pictures plus that transcription (or the corrected one given with `--transcription FILE`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use onevision_engine::catalog::cache::model_folder_name;
use onevision_engine::generate::{FinishReason, GenerationDefaults};
use onevision_engine::preset::PromptPreset;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::transcribe;
use onevision_engine::worker::{Job, DEFAULT_MAX_NEW_TOKENS};
use onevision_engine::EngineSource;
use onevision_store::MessageKind;

use crate::device;
use crate::engine_args::{EndpointArgs, Engine};
use crate::messages;
use crate::model_args::ModelArgs;
use crate::output::{json_value, Format, INTERRUPTED};
use crate::printer::{show_and_record, TextPrinter};
use crate::sampling_args::SamplingArgs;
use crate::save::Recorder;
use crate::stream::stream;
use crate::transcription::{read_first, TranscriptionFrom};

#[derive(clap::Args)]
pub struct AskArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// A picture to ask about; repeat for several.
    #[arg(long = "image")]
    pub images: Vec<PathBuf>,
    /// A JSON conversation to continue as the assistant.
    #[arg(long)]
    pub messages: Option<PathBuf>,
    /// A system message to put first.
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Report the K most likely tokens of each step.
    #[arg(long, default_value_t = 0)]
    pub logprobs: usize,
    /// Largest picture area in pixels after resizing (default: the model folder's).
    #[arg(long)]
    pub max_pixels: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Record the question and the streamed answer in the history database.
    #[arg(long)]
    pub save: bool,
    /// The history database for --save and --conversation (default: the app's).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Continue this saved conversation (its pictures included) and save the exchange.
    #[arg(long)]
    pub conversation: Option<i64>,
    /// First ask for a formal transcription of the question's pictures (LaTeX, a table, a
    /// circuit's parts, a figure's points and angles), print it, then answer from the pictures
    /// and the transcription.
    #[arg(long)]
    pub transcribe_first: bool,
    /// A transcription to answer from instead of the model's (for example the printed one,
    /// corrected); its first line may be `Kind: …`. Implies --transcribe-first.
    #[arg(long, value_name = "FILE")]
    pub transcription: Option<PathBuf>,
    /// How the transcription request is worded (default: guessed from the model folder's or
    /// --api-model's name).
    #[arg(long)]
    pub preset: Option<PromptPreset>,
    /// The question.
    pub prompt: Option<String>,
}

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

/// The flags laid over generation_config.json's values. For a server (`defaults: None`) nothing
/// is sent when no flag is given, so the server's own defaults hold; flags given are sent with
/// OpenAI's defaults for the rest.
fn sampling(
    args: &AskArgs,
    defaults: Option<&GenerationDefaults>,
) -> Result<Option<SamplingParams>> {
    let base = match defaults {
        Some(d) => d.sampling.clone(),
        None if !args.sampling.any() => return Ok(None),
        None => SamplingParams {
            temperature: 1.0,
            ..SamplingParams::default()
        },
    };
    args.sampling.over(base).map(Some)
}

/// Runs the command; returns the process exit code.
pub fn ask(args: AskArgs) -> Result<u8> {
    if args.system.is_some() && args.conversation.is_some() {
        bail!("--system cannot be used with --conversation: the saved conversation already has its start");
    }
    let (new_messages, new_pictures) = conversation(&args)?;
    let saving = args.save || args.conversation.is_some();
    let transcribing = match (&args.transcription, args.transcribe_first) {
        (Some(file), _) => Some(TranscriptionFrom::file(file.clone())?),
        (None, true) => Some(TranscriptionFrom::Model),
        (None, false) => None,
    };
    let preset = args.preset.unwrap_or_else(|| {
        let name = match (&args.model.model, &args.endpoint.api_model) {
            (Some(dir), _) => model_folder_name(dir),
            (None, Some(model)) => model.clone(),
            (None, None) => String::new(),
        };
        PromptPreset::suggest(&name)
    });
    let history = if saving {
        Some(Recorder::open(args.db.as_deref())?)
    } else {
        None
    };
    let (mut messages, mut picture_paths) = match (&history, args.conversation) {
        (Some((rt, store)), Some(id)) => {
            let r = Recorder::restore(rt, store, id, preset)?;
            (r.messages, r.pictures)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let shift = picture_paths.len();
    messages.extend(new_messages.iter().map(|m| {
        Message {
            role: m.role,
            parts: m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Image(i) => Part::Image(i + shift),
                    Part::Text(t) => Part::Text(t.clone()),
                })
                .collect(),
        }
    }));
    picture_paths.extend(new_pictures.iter().cloned());
    let pictures = picture_paths
        .iter()
        .map(|p| onevision_model::image::load_image(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.logprobs > 0 && args.endpoint.endpoint.is_some() {
        bail!("--logprobs needs a model loaded here (--model): servers' log probabilities are not read");
    }
    // A local model's generation_config.json fills unset flags; a server fills them itself.
    let local_defaults = match (&args.endpoint.endpoint, &args.model.model) {
        (Some(_), _) => None,
        (None, Some(dir)) => Some(GenerationDefaults::from_dir(dir)?),
        (None, None) => bail!("{}", crate::engine_args::NO_ENGINE),
    };
    let sampling = sampling(&args, local_defaults.as_ref())?;
    let max_new_tokens = args
        .max_new_tokens
        .or(local_defaults.as_ref().and_then(|d| d.max_new_tokens))
        .or(local_defaults.as_ref().map(|_| DEFAULT_MAX_NEW_TOKENS));
    if max_new_tokens == Some(0) {
        bail!("--max-new-tokens must be at least 1");
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        ctrlc::set_handler(move || {
            if interrupted.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(INTERRUPTED));
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }

    let engine = Engine::open(&args.model, &args.endpoint)?;
    let mut recorder = match history {
        Some((rt, store)) => {
            let source = engine.seam().source();
            let mut settings = serde_json::json!({
                "temperature": sampling.as_ref().map(|s| s.temperature),
                "top_p": sampling.as_ref().map(|s| s.top_p),
                "top_k": sampling.as_ref().map(|s| s.top_k),
                "repetition_penalty": sampling.as_ref().map(|s| s.repetition_penalty),
                "seed": sampling.as_ref().map(|s| s.seed),
                "max_new_tokens": max_new_tokens,
                "max_pixels": args.max_pixels,
            });
            match (&source, engine.local()) {
                (_, Some(info)) => {
                    settings["dtype"] = device::dtype_name(info.dtype).into();
                    settings["quant"] = info.quant.name().into();
                }
                (EngineSource::Server { base_url, .. }, None) => {
                    settings["endpoint"] = base_url.clone().into();
                }
                _ => {}
            }
            let model_id = match &source {
                EngineSource::Local { dir } => model_folder_name(dir),
                EngineSource::Server { .. } => source.model_name(),
            };
            Some(Recorder::start(
                rt,
                store,
                args.conversation,
                &model_id,
                &new_messages,
                &new_pictures,
                settings,
                if transcribing.is_some() {
                    MessageKind::Transcription
                } else {
                    MessageKind::Reply
                },
            )?)
        }
        None => None,
    };
    let job = Job {
        messages,
        pictures,
        max_pixels: args.max_pixels,
        sampling,
        max_new_tokens,
        logprobs: args.logprobs,
        ..Job::default()
    };
    let mut printer = TextPrinter::new(args.format == Format::Text);
    let reading = match transcribing {
        Some(from) => {
            let reading = read_first(
                &engine,
                &job,
                preset,
                from,
                &interrupted,
                &mut printer,
                recorder.as_mut(),
            )?;
            if let Some(out) = reading
                .pass
                .as_ref()
                .filter(|o| o.finish_reason == FinishReason::Cancelled)
            {
                printer.finish()?;
                if let Some(r) = recorder.take() {
                    r.finish(None, None)?;
                }
                if args.format == Format::Json {
                    let v = serde_json::json!({"transcription": reading.json(&engine)?, "finish_reason": out.finish_reason});
                    println!("{}", serde_json::to_string(&v)?);
                }
                return Ok(INTERRUPTED);
            }
            if let Some(r) = recorder.as_mut() {
                r.begin_answer()?;
            }
            printer.section("answer");
            Some(reading)
        }
        None => None,
    };
    let saved_ids = recorder.as_ref().map(|r| (r.conversation, r.message_id()));
    let job = match &reading {
        Some(r) => Job {
            messages: transcribe::second_pass(&job.messages, preset, &r.transcription)?,
            ..job
        },
        None => job,
    };

    let outcome = stream(&engine, job, &interrupted, |event| {
        show_and_record(&mut printer, recorder.as_mut(), event)
    });
    let out = match outcome {
        Ok(out) => out,
        Err(e) => {
            if let Some(r) = recorder.take() {
                r.finish(None, Some(&e.to_string()))?;
            }
            return Err(e);
        }
    };
    printer.finish()?;
    if let Some(r) = recorder.take() {
        r.finish(Some(&out), None)?;
    }
    if args.format == Format::Json {
        let mut v = json_value(&out, &engine)?;
        if let Some((conversation, message)) = saved_ids {
            v["conversation_id"] = conversation.0.into();
            v["message_id"] = message.map(|m| m.0).into();
        }
        if let Some(r) = &reading {
            v["transcription"] = r.json(&engine)?;
        }
        println!("{}", serde_json::to_string(&v)?);
    }
    Ok(if out.finish_reason == FinishReason::Cancelled {
        INTERRUPTED
    } else {
        0
    })
}
