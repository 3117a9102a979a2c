//! `onevision bench`: how fast a model folder runs here. Loads once, then answers the same
//! question about the same picture `--runs` times from a clean cache (the vision tower and the
//! whole prompt are computed every run), always decoding exactly `--max-new-tokens` tokens.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Result};
use onevision_engine::generate::{generate, Request, Timings};
use onevision_engine::prompt::{Message, Part, PromptBuilder, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::session::Session;
use onevision_model::Model;
use serde::Serialize;

use crate::device;
use crate::model_args::ModelArgs;
use crate::output::Format;
use crate::sampling_args::SamplingArgs;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The picture to ask about (none: a text-only prompt).
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[arg(
        long,
        default_value = "Describe the figure and solve the problem it shows."
    )]
    pub prompt: String,
    /// Timed runs.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Untimed runs first (page faults, allocator and kernel caches warm up).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Tokens decoded per run (end-of-sequence tokens do not stop a run).
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// Tokens of earlier worked steps put before the question (about as many; the report gives
    /// the prompt's real length), to time decoding that deep into a context: where a long
    /// reasoning, or a long conversation, has the model.
    #[arg(long, default_value_t = 0)]
    pub context_tokens: usize,
    /// Largest picture area in pixels after resizing (default: the model folder's).
    #[arg(long)]
    pub max_pixels: Option<usize>,
    /// Sampling as `ask` takes it; none given decodes greedily (the model's speed alone).
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The smallest and the median of one measure over the timed runs.
#[derive(Debug, Clone, Copy, Serialize)]
struct Spread {
    min: f64,
    median: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread { min: v[0], median }
    }
}

#[derive(Serialize)]
struct Report {
    model: PathBuf,
    device: &'static str,
    dtype: &'static str,
    quant: &'static str,
    threads: usize,
    /// Whether this load packed the weights and kept them, or read kept ones back.
    packed_weights: &'static str,
    /// "greedy", or the sampling values used.
    sampling: String,
    runs: usize,
    prompt_tokens: usize,
    image_tokens: usize,
    generated_tokens: usize,
    load_ms: f64,
    vision_ms: Spread,
    prefill_ms: Spread,
    prefill_tokens_per_s: Spread,
    decode_tokens_per_s: Spread,
    time_to_first_token_ms: Spread,
    /// Highest resident memory of this process, in MiB (Linux only).
    peak_rss_mib: Option<f64>,
    runs_raw: Vec<Timings>,
}

/// The process's high-water mark of resident memory, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn bench(args: BenchArgs) -> Result<u8> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.max_new_tokens < 2 {
        bail!("--max-new-tokens must be at least 2 to time decoding");
    }
    let sampling = args.sampling.over(SamplingParams::default())?;
    let pictures = match &args.image {
        Some(p) => vec![onevision_model::image::load_image(p)?],
        None => Vec::new(),
    };
    let load_start = Instant::now();
    let dir = args.model.dir()?;
    let mut model = Model::load(dir, &args.model.load_options()?)?;
    let prompt = PromptBuilder::from_dir(dir, model.config().image_token_id)?;
    let load_ms = load_start.elapsed().as_secs_f64() * 1e3;

    let mut parts: Vec<Part> = Vec::new();
    if args.context_tokens > 0 {
        parts.push(Part::Text(earlier_steps(&prompt, args.context_tokens)?));
    }
    parts.extend((0..pictures.len()).map(Part::Image));
    parts.push(Part::Text(args.prompt.clone()));
    let messages = [Message {
        role: Role::User,
        parts,
    }];
    let req = Request {
        messages: &messages,
        pictures: &pictures,
        max_pixels: args.max_pixels,
        sampling: sampling.clone(),
        max_new_tokens: args.max_new_tokens,
        eos_token_ids: &[],
        logprobs: 0,
        stop: &[],
        splitting: Default::default(),
    };
    let never = AtomicBool::new(false);
    let image_token = model.config().image_token_id;
    let mut timed = Vec::with_capacity(args.runs);
    let (mut prompt_tokens, mut image_tokens, mut generated) = (0, 0, 0);
    for i in 0..args.warmup + args.runs {
        let out = generate(
            &mut model,
            &prompt,
            &req,
            &mut Session::new(),
            &never,
            |_| {},
        )?;
        prompt_tokens = out.prompt_token_ids.len();
        image_tokens = out
            .prompt_token_ids
            .iter()
            .filter(|&&t| t == image_token)
            .count();
        generated = out.generated_token_ids.len();
        if i >= args.warmup {
            timed.push(out.timings.clone());
        }
        if args.format == Format::Text {
            eprintln!(
                "{} {}: vision {:.0} ms, prefill {:.1} tok/s, decode {:.2} tok/s",
                if i < args.warmup { "warm-up" } else { "run" },
                i + 1,
                out.timings.vision_ms,
                out.timings.prefill_tokens_per_s,
                out.timings.decode_tokens_per_s
            );
        }
    }
    let spread = |f: fn(&Timings) -> f64| Spread::of(timed.iter().map(f).collect());
    let report = Report {
        model: dir.to_path_buf(),
        device: device::device_name(model.device()),
        dtype: device::dtype_name(model.dtype()),
        quant: model.quantization().name(),
        threads: onevision_model::compute_threads(),
        packed_weights: model.packed_weights().name(),
        sampling: if sampling.is_greedy() {
            "greedy".to_owned()
        } else {
            format!(
                "temperature {}, top-p {}, top-k {}, repetition penalty {}",
                sampling.temperature, sampling.top_p, sampling.top_k, sampling.repetition_penalty
            )
        },
        runs: args.runs,
        prompt_tokens,
        image_tokens,
        generated_tokens: generated,
        load_ms,
        vision_ms: spread(|t| t.vision_ms),
        prefill_ms: spread(|t| t.prefill_ms),
        prefill_tokens_per_s: spread(|t| t.prefill_tokens_per_s),
        decode_tokens_per_s: spread(|t| t.decode_tokens_per_s),
        time_to_first_token_ms: spread(|t| t.time_to_first_token_ms),
        peak_rss_mib: peak_rss_mib(),
        runs_raw: timed,
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Text => print_table(&report),
    }
    Ok(0)
}

/// Worked steps of about `tokens` tokens: text of the kind a long answer holds, for
/// `--context-tokens`. Lines are counted one at a time, so the total is close, not exact.
fn earlier_steps(prompt: &PromptBuilder, tokens: usize) -> Result<String> {
    let mut text = String::from("My working so far:\n");
    let mut count = prompt.encode(&text, &[])?.len();
    let mut step = 1u64;
    while count < tokens {
        let line = format!(
            "Step {step}: a triangle with base {b} cm and height {h} cm has area {b} x {h} / 2 = {a} cm^2.\n",
            b = step % 17 + 2,
            h = step % 11 + 3,
            a = (step % 17 + 2) * (step % 11 + 3) / 2,
        );
        count += prompt.encode(&line, &[])?.len();
        text.push_str(&line);
        step += 1;
    }
    Ok(text)
}

fn print_table(r: &Report) {
    println!(
        "{} on {} ({}, quant {}, {} threads, {}): {} prompt tokens ({} image), {} generated, {} runs",
        r.model.display(),
        r.device,
        r.dtype,
        r.quant,
        r.threads,
        r.sampling,
        r.prompt_tokens,
        r.image_tokens,
        r.generated_tokens,
        r.runs
    );
    println!("{:<24} {:>12} {:>12}", "measure", "min", "median");
    println!("{:<24} {:>12.0} {:>12}", "load ms", r.load_ms, "");
    if r.quant != "none" {
        println!("{:<24} {:>25}", "packed weights", r.packed_weights);
    }
    let rows = [
        ("vision ms", r.vision_ms),
        ("prefill ms", r.prefill_ms),
        ("prefill tokens/s", r.prefill_tokens_per_s),
        ("decode tokens/s", r.decode_tokens_per_s),
        ("time to first token ms", r.time_to_first_token_ms),
    ];
    for (name, s) in rows {
        println!("{name:<24} {:>12.2} {:>12.2}", s.min, s.median);
    }
    if let Some(m) = r.peak_rss_mib {
        println!("{:<24} {:>12.0}", "peak memory MiB", m);
    }
}
