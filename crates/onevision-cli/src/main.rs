//! The `onevision` command (contract: DESIGN.md §4).

mod ask;
mod bench;
mod device;
mod engine_args;
mod eval;
mod history;
mod messages;
mod model_args;
mod models;
mod output;
mod printer;
mod sampling_args;
mod save;
mod serve;
mod stream;
mod transcription;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Ask(ask::AskArgs),
    /// Time loading, the vision tower, prefill and decoding on this machine.
    Bench(bench::BenchArgs),
    /// Saved conversations: list, show, search, export, import.
    History(history::HistoryArgs),
    /// Models: the catalog and what fits this machine, downloads, checking a folder.
    Models(models::ModelsArgs),
    /// Run a benchmark (VLMEvalKit's TSV layout or JSONL) and score it by stage and subject.
    Eval(eval::EvalArgs),
    /// Serve the model behind OpenAI's chat API (/v1/chat/completions, /v1/models).
    Serve(serve::ServeArgs),
}

/// clap's message for a bad command line, as one sentence: its first line, with the list of
/// accepted values when it gives one.
fn usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ")
        .to_string();
    match text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("[possible values: ")
            .and_then(|v| v.strip_suffix(']'))
    }) {
        Some(values) => format!("{first} (expected one of: {values})"),
        None => first,
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ONEVISION_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("onevision: {}", usage_error(&e));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Ask(args) => ask::ask(args),
        Command::Bench(args) => bench::bench(args),
        Command::History(args) => history::history(args),
        Command::Models(args) => models::models(args),
        Command::Eval(args) => eval::eval(args),
        Command::Serve(args) => serve::serve(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
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
