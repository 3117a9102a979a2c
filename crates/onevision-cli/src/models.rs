//! `onevision models`: the catalog and what fits this machine, downloads into the Hugging Face
//! cache, checking a model folder and removing one (DESIGN.md §4).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use onevision_engine::catalog::cache::{hub_cache_dir, packed_dir};
use onevision_engine::catalog::discover::{discover, FoundModel};
use onevision_engine::catalog::download::{download, DownloadOptions, DownloadProgress};
use onevision_engine::catalog::remove::remove_model;
use onevision_engine::catalog::verify::verify;
use onevision_engine::catalog::{self, CatalogEntry, CatalogError, CATALOG};
use onevision_engine::device::{DTypeChoice, DeviceChoice};
use onevision_engine::hardware::fit::gb;
use onevision_engine::hardware::{self, choose, Fit, Hardware, ModelSize, Wish};
use serde_json::json;

use crate::device::{DTypeArg, DeviceArg};
use crate::model_args::QuantArg;
use crate::output::{Format, INTERRUPTED};

#[derive(clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
    #[arg(long, value_enum, global = true, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Subcommand)]
enum ModelsCommand {
    /// The catalog, the models already on disk, and the precision each runs in here.
    List {
        /// A model folder, or a folder of model folders, to look in besides the Hugging Face
        /// cache (repeatable).
        #[arg(long = "folder")]
        folders: Vec<PathBuf>,
        /// Judge the fit for this device instead of the best one.
        #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
        device: DeviceArg,
        #[arg(long, value_enum, default_value_t = DTypeArg::Auto)]
        dtype: DTypeArg,
        #[arg(long, value_enum)]
        quant: Option<QuantArg>,
    },
    /// Download a catalog model (or any Org/Name repository) into the Hugging Face cache;
    /// Ctrl-C stops it and the next run resumes.
    Download {
        /// A catalog id (`onevision models list`) or a repository such as Org/Name.
        id: String,
        /// A Hugging Face access token (default: HF_TOKEN, else `huggingface-cli login`'s).
        #[arg(long)]
        token: Option<String>,
        /// A branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// The hub or a mirror (default: HF_ENDPOINT, else https://huggingface.co).
        #[arg(long)]
        endpoint: Option<String>,
        /// The hub cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Delete a model on disk (a Hugging Face cache snapshot, or the checkpoint files of a
    /// folder) and the packed weights kept for it.
    Remove {
        /// The model's folder, as `onevision models list` shows it.
        dir: PathBuf,
    },
    /// Check that a folder is a complete, loadable checkpoint.
    Verify {
        dir: PathBuf,
        /// Skip reading whole files to compare them with their hub hashes.
        #[arg(long)]
        no_hash: bool,
    },
}

pub fn models(args: ModelsArgs) -> Result<u8> {
    match args.command {
        ModelsCommand::List {
            folders,
            device,
            dtype,
            quant,
        } => {
            let wish = Wish {
                device: match device {
                    DeviceArg::Auto => DeviceChoice::Auto,
                    DeviceArg::Cpu => DeviceChoice::Cpu,
                    DeviceArg::Cuda => DeviceChoice::Cuda,
                    DeviceArg::Metal => DeviceChoice::Metal,
                },
                dtype: match dtype {
                    DTypeArg::Auto => DTypeChoice::Auto,
                    DTypeArg::F32 => DTypeChoice::F32,
                    DTypeArg::Bf16 => DTypeChoice::Bf16,
                    DTypeArg::F16 => DTypeChoice::F16,
                },
                quant: quant.map(Into::into),
            };
            list(&folders, wish, args.format)
        }
        ModelsCommand::Download {
            id,
            token,
            revision,
            endpoint,
            cache_dir,
        } => {
            let mut opts = DownloadOptions::from_env()?;
            opts.revision = revision;
            if let Some(t) = token {
                opts.token = Some(t);
            }
            if let Some(e) = endpoint {
                opts.endpoint = e.trim_end_matches('/').to_string();
            }
            if let Some(c) = cache_dir {
                opts.cache_dir = c;
            }
            get(&id, opts, args.format)
        }
        ModelsCommand::Remove { dir } => remove(&dir, args.format),
        ModelsCommand::Verify { dir, no_hash } => check(&dir, !no_hash, args.format),
    }
}

fn list(folders: &[PathBuf], wish: Wish, format: Format) -> Result<u8> {
    let hw = hardware::detect();
    let cache = hub_cache_dir();
    let found = discover(cache.as_deref(), folders);
    let catalog: Vec<_> = CATALOG
        .iter()
        .map(|e| {
            let copies: Vec<&FoundModel> = found
                .iter()
                .filter(|f| f.catalog_id == Some(e.id))
                .collect();
            (e, copies, choose(e.name, &e.size, &hw, wish))
        })
        .collect();
    let others: Vec<(&FoundModel, Option<Fit>)> = found
        .iter()
        .filter(|f| f.catalog_id.is_none())
        .map(|f| {
            let name = f
                .repo
                .clone()
                .unwrap_or_else(|| f.path.display().to_string());
            let fit = onevision_model::ModelConfig::from_file(&f.path.join("config.json"))
                .ok()
                .map(|c| choose(&name, &ModelSize::from_config(&c), &hw, wish));
            (f, fit)
        })
        .collect();
    match format {
        Format::Json => {
            let value = json!({
                "hardware": hw,
                "hub_cache": cache,
                "catalog": catalog.iter().map(|(e, copies, fit)| json!({
                    "id": e.id,
                    "name": e.name,
                    "repo": e.repo,
                    "download_bytes": e.download_bytes,
                    "licence": e.licence,
                    "preset": e.preset,
                    "max_pixels": e.max_pixels,
                    "gated": e.gated,
                    "tied_embeddings": e.tied_embeddings,
                    "parameters": e.size.total_params(),
                    "note": e.note,
                    "found": copies,
                    "fit": fit,
                })).collect::<Vec<_>>(),
                "other": others.iter().map(|(f, fit)| json!({"found": f, "fit": fit})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Text => {
            println!("{}", describe_machine(&hw));
            match &cache {
                Some(c) => println!("Hugging Face cache: {}", c.display()),
                None => println!("Hugging Face cache: cannot be located (set HF_HOME)"),
            }
            println!();
            for (e, copies, fit) in &catalog {
                print_entry(e, copies, fit);
            }
            if !others.is_empty() {
                println!("Other Qwen2.5-VL models found:");
                for (f, fit) in &others {
                    println!("  {}", f.path.display());
                    println!("      {}", state(f));
                    if let Some(fit) = fit {
                        println!("      {}", fit.advice);
                    }
                }
            }
        }
    }
    Ok(0)
}

fn describe_machine(hw: &Hardware) -> String {
    let gpus = if hw.gpus.is_empty() {
        format!(
            "no usable GPU ({})",
            hw.gpu_note.as_deref().unwrap_or("none found")
        )
    } else {
        hw.gpus
            .iter()
            .map(|g| {
                format!(
                    "{} ({} free of {})",
                    g.name,
                    gb(g.free_bytes),
                    gb(g.total_bytes)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ram = match (hw.ram_total_bytes, hw.ram_available_bytes) {
        (Some(t), Some(a)) => format!("{} RAM, {} available", gb(t), gb(a)),
        _ => "RAM unknown".into(),
    };
    format!("This machine: {gpus}; {ram}.")
}

fn state(f: &FoundModel) -> String {
    let mut s = if f.complete {
        format!("complete, {}", gb(f.bytes))
    } else {
        format!("incomplete: missing {}", f.missing.join(", "))
    };
    if f.partial_download {
        s.push_str("; an interrupted download can be resumed");
    }
    s
}

fn print_entry(e: &CatalogEntry, copies: &[&FoundModel], fit: &Fit) {
    let gated = if e.gated {
        ", gated: needs a token"
    } else {
        ""
    };
    println!(
        "{:<20} {} ({}), {} download{gated}",
        e.id,
        e.name,
        e.repo,
        gb(e.download_bytes)
    );
    if copies.is_empty() {
        println!("{:<20} not on disk: onevision models download {}", "", e.id);
    }
    for f in copies {
        println!("{:<20} on disk: {} ({})", "", f.path.display(), state(f));
    }
    println!("{:<20} {}", "", fit.advice);
    println!(
        "{:<20} prompt preset {}, picture detail {} px, licence: {}",
        "", e.preset, e.max_pixels, e.licence
    );
    println!();
}

fn get(id: &str, opts: DownloadOptions, format: Format) -> Result<u8> {
    let (repo, name) = match catalog::find(id) {
        Some(e) => (e.repo.to_string(), e.name.to_string()),
        None if id.contains('/') => (id.to_string(), id.to_string()),
        None => return Err(CatalogError::UnknownModel(id.to_string()).into()),
    };
    let cancel: Arc<AtomicBool> = opts.cancel.clone();
    ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(INTERRUPTED));
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    eprintln!(
        "Downloading {name} ({repo}) into {}",
        opts.cache_dir.display()
    );
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{wide_bar} {bytes}/{total_bytes} {msg}") {
        bar.set_style(style);
    }
    let result = download(&repo, &opts, &mut |p: &DownloadProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        let eta = p
            .eta_s
            .map(|s| {
                format!(
                    ", {} left",
                    indicatif::HumanDuration(std::time::Duration::from_secs_f64(s))
                )
            })
            .unwrap_or_default();
        bar.set_message(format!(
            "{}/s{eta} · {} ({}/{})",
            indicatif::HumanBytes(p.bytes_per_s as u64),
            p.file,
            p.file_index,
            p.file_count
        ));
    });
    bar.finish_and_clear();
    let done = match result {
        Ok(d) => d,
        Err(CatalogError::Cancelled) => {
            eprintln!("onevision: {}", CatalogError::Cancelled);
            return Ok(INTERRUPTED);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot download {repo}")),
    };
    let speed = done.fetched_bytes as f64 / done.seconds.max(1e-9);
    eprintln!(
        "Fetched {} in {:.1} s ({}/s); {} files, {} in all.",
        gb(done.fetched_bytes),
        done.seconds,
        indicatif::HumanBytes(speed as u64),
        done.files,
        gb(done.total_bytes)
    );
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&done)?),
        Format::Text => println!("{}", done.snapshot.display()),
    }
    Ok(0)
}

/// "8.29B", "1.4M".
fn count(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2}B", n as f64 / 1e9)
    } else {
        format!("{:.1}M", n as f64 / 1e6)
    }
}

fn remove(dir: &Path, format: Format) -> Result<u8> {
    let removed = remove_model(dir, packed_dir().as_deref())?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "path": dir,
                "freed_bytes": removed.freed_bytes,
                "packed_files": removed.packed_files,
            })
        ),
        Format::Text => println!(
            "Removed {}: {} freed ({} packed-weight file(s)).",
            dir.display(),
            gb(removed.freed_bytes),
            removed.packed_files
        ),
    }
    Ok(0)
}

fn check(dir: &Path, hashes: bool, format: Format) -> Result<u8> {
    let report = verify(dir, hashes)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            let hashed = if report.hashed_files > 0 {
                format!("; {} files match their hub hashes", report.hashed_files)
            } else if hashes {
                "; no hub hashes to check (not a Hugging Face cache snapshot)".into()
            } else {
                String::new()
            };
            println!(
                "{} is a complete checkpoint: {} weight file(s), {}, {} parameters ({} text layers, {} vision blocks){hashed}.",
                report.path.display(),
                report.weight_files,
                gb(report.weight_bytes),
                count(report.parameters),
                report.text_layers,
                report.vision_blocks
            );
        }
    }
    Ok(0)
}
