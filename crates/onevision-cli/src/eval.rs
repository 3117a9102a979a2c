//! `onevision eval`: a benchmark in VLMEvalKit's layout asked through a model here or a server,
//! scored by rules (and a judge model for what they cannot read), summarised by stage and
//! subject (DESIGN.md §9). Ctrl-C stops it keeping every finished item; a rerun goes on.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use onevision_api::client::{ClientOptions, ServerEngine};
use onevision_engine::generate::GenerationDefaults;
use onevision_engine::preset::PromptPreset;
use onevision_engine::sampler::SamplingParams;
use onevision_engine::EngineSource;
use onevision_eval::run::{run, Progress, Settings};
use onevision_eval::summary::{summarise, RunInfo, TableColumns};
use onevision_eval::Dataset;

use crate::engine_args::{EndpointArgs, Engine, NO_ENGINE};
use crate::model_args::ModelArgs;
use crate::output::{Format, INTERRUPTED};
use crate::sampling_args::SamplingArgs;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The benchmark: a .tsv in VLMEvalKit's layout or a .jsonl with the same keys.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Where predictions.jsonl, summary.json, summary.md and chart.svg go (default:
    /// eval/DATA-NAME/MODEL-NAME). A folder with predictions is resumed.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only the first N rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Items asked at once (for servers; a model here answers one at a time).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Further attempts when a server is down, busy or drops a stream.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Seconds to wait before the first retry; doubled after each.
    #[arg(long, default_value_t = 2.0)]
    pub retry_wait: f64,
    /// How questions are worded (default: guessed from the model's name).
    #[arg(long)]
    pub preset: Option<PromptPreset>,
    /// A server whose model scores what the rules cannot read.
    #[arg(long, requires = "judge_model")]
    pub judge_endpoint: Option<String>,
    #[arg(long, requires = "judge_endpoint")]
    pub judge_model: Option<String>,
    /// The judge server's API key (default: the --api-key / $OPENAI_API_KEY in use).
    #[arg(long, requires = "judge_endpoint")]
    pub judge_api_key: Option<String>,
    /// The column holding the education stage, for the stage-by-subject table (default: level,
    /// stage, education_stage, education_level or grade, whichever the file has).
    #[arg(long)]
    pub stage_column: Option<String>,
    /// The column holding the subject (default: subject, category, discipline or field).
    #[arg(long)]
    pub subject_column: Option<String>,
    /// Largest answer in tokens (default: the model folder's, else 4096; a server's own).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Sampling: greedy unless --temperature says otherwise, so runs repeat.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Largest picture area in pixels after resizing (default: the model folder's).
    #[arg(long)]
    pub max_pixels: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into())
}

/// A name safe as one folder.
fn folder_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn progress_bar(total: usize) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} items · {per_sec} · {eta} left · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub fn eval(args: EvalArgs) -> Result<u8> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if !(args.retry_wait.is_finite() && args.retry_wait >= 0.0) {
        bail!("--retry-wait must be a number of seconds, 0 or more");
    }
    if args.max_new_tokens == Some(0) {
        bail!("--max-new-tokens must be at least 1");
    }
    let dataset = Dataset::open(&args.data)?;
    let local_defaults = match (&args.endpoint.endpoint, &args.model.model) {
        (Some(_), _) => None,
        (None, Some(dir)) => Some(GenerationDefaults::from_dir(dir)?),
        (None, None) => bail!("{NO_ENGINE}"),
    };
    // Greedy unless asked otherwise: a benchmark run should repeat.
    let base = match &local_defaults {
        Some(d) => SamplingParams {
            temperature: 0.0,
            ..d.sampling.clone()
        },
        None => SamplingParams::default(),
    };
    let sampling = args.sampling.over(base)?;
    let max_new_tokens = args
        .max_new_tokens
        .or(local_defaults.as_ref().and_then(|d| d.max_new_tokens));

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(INTERRUPTED));
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }

    let engine = Engine::open(&args.model, &args.endpoint)?;
    let source = engine.seam().source();
    let model_name = source.model_name();
    let preset = args
        .preset
        .unwrap_or_else(|| PromptPreset::suggest(&model_name));
    let judge = match (&args.judge_endpoint, &args.judge_model) {
        (Some(url), Some(model)) => {
            let key = args
                .judge_api_key
                .clone()
                .or_else(|| args.endpoint.api_key.clone())
                .or_else(|| std::env::var("OPENAI_API_KEY").ok())
                .filter(|k| !k.is_empty());
            Some(
                ServerEngine::connect(url, Some(model), key.as_deref(), ClientOptions::default())
                    .context("the judge")?,
            )
        }
        _ => None,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("eval")
            .join(folder_name(&file_stem(&args.data)))
            .join(folder_name(&model_name))
    });
    let settings = Settings {
        preset,
        max_pixels: args.max_pixels,
        sampling: Some(sampling),
        max_new_tokens,
        concurrency: args.concurrency,
        retries: args.retries,
        backoff: Duration::from_secs_f64(args.retry_wait),
        limit: args.limit,
    };

    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let tally = Mutex::new((0usize, 0usize));
    let on_progress = |p: &Progress| {
        let mut guard = bar.lock().unwrap_or_else(|e| e.into_inner());
        match p {
            Progress::Started {
                total,
                answered_before,
            } => {
                let b = progress_bar(*total);
                if *answered_before > 0 {
                    b.suspend(|| {
                        eprintln!(
                            "{answered_before} of {total} items were answered by an earlier run in {}; asking the rest",
                            out.display()
                        )
                    });
                }
                *guard = Some(b);
            }
            Progress::Finished { prediction, .. } => {
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.0 += usize::from(prediction.correct);
                t.1 += 1;
                if let Some(b) = guard.as_ref() {
                    if let Some(e) = &prediction.error {
                        b.suspend(|| eprintln!("onevision: {e}"));
                    }
                    b.set_message(format!("{} of {} correct", t.0, t.1));
                    b.inc(1);
                }
            }
            Progress::RowUnreadable(row) => {
                if let Some(b) = guard.as_ref() {
                    b.suspend(|| eprintln!("onevision: {}: {row}", args.data.display()));
                    b.inc(1);
                }
            }
            Progress::Retrying {
                index,
                attempt,
                wait,
                reason,
            } => {
                if let Some(b) = guard.as_ref() {
                    b.suspend(|| {
                        eprintln!(
                            "onevision: item {index}: {reason}; asking again in {:.0} s (retry {attempt})",
                            wait.as_secs_f64()
                        )
                    });
                }
            }
        }
    };
    let outcome = run(
        &dataset,
        engine.seam(),
        judge
            .as_ref()
            .map(|j| j as &dyn onevision_engine::ChatEngine),
        &out,
        &settings,
        &stop,
        &on_progress,
    )?;
    if let Some(b) = bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
        b.finish_and_clear();
    }
    let summary = summarise(
        &outcome.predictions,
        &outcome.unreadable,
        RunInfo {
            data: args.data.display().to_string(),
            model: model_name,
            endpoint: match &source {
                EngineSource::Server { base_url, .. } => Some(base_url.clone()),
                EngineSource::Local { .. } => None,
            },
            judge: judge
                .as_ref()
                .map(|j| format!("{} at {}", j.model(), j.base_url())),
            preset: preset.to_string(),
            asked: outcome.asked,
            seconds: outcome.seconds,
        },
        &TableColumns {
            stage: args.stage_column.clone(),
            subject: args.subject_column.clone(),
        },
    );
    summary.write(&out)?;
    onevision_eval::chart::write(&summary, &out.join("chart.svg"))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&summary)?),
        Format::Text => {
            print!("{}", summary.markdown());
            println!("\nWritten to {}", out.display());
        }
    }
    Ok(if outcome.stopped {
        INTERRUPTED
    } else if summary.failed.is_empty() {
        0
    } else {
        1
    })
}
