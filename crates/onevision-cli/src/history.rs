//! `onevision history`: the conversations the app and `ask --save` keep, read from a terminal
//! (DESIGN.md §4). The database is the app's own unless `--db` names another.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use onevision_store::{
    ConversationId, MessageKind, SearchQuery, Store, HIGHLIGHT_END, HIGHLIGHT_START,
};

use crate::output::Format;

/// Where the app keeps its data: the OS's per-user data folder (on Linux
/// `~/.local/share/onevision-desk`). The desktop app uses the same folder.
pub const APP_DIR_NAME: &str = "onevision-desk";

#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    command: HistoryCommand,
    /// The history database (default: the app's).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    #[arg(long, value_enum, global = true, default_value_t = Format::Text)]
    format: Format,
}

#[derive(clap::Subcommand)]
enum HistoryCommand {
    /// Conversations, pinned first, then the most recent.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One conversation with its messages.
    Show { id: i64 },
    /// Full-text search over questions, thinking and answers.
    Search {
        query: String,
        /// Only conversations with this model.
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Write a conversation to Markdown (pictures beside it) or JSON, by the file's extension.
    Export {
        id: i64,
        #[arg(long)]
        to: PathBuf,
    },
    /// Read a conversation exported as JSON back in.
    Import { file: PathBuf },
}

/// The single-threaded runtime the store's async calls run on in this command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime for the history database")
}

/// Opens `db`, or the app's database when `None`.
pub async fn open_store(db: Option<&Path>) -> Result<Store> {
    Ok(match db {
        Some(path) => Store::open(path).await?,
        None => {
            let base = dirs::data_dir()
                .context("this system has no per-user data folder; give --db PATH")?;
            Store::open_in(&base.join(APP_DIR_NAME)).await?
        }
    })
}

/// A snippet with its highlights as `[` `]` for a terminal.
fn plain_snippet(s: &str) -> String {
    s.replace(HIGHLIGHT_START, "[").replace(HIGHLIGHT_END, "]")
}

pub fn history(args: HistoryArgs) -> Result<u8> {
    let rt = runtime()?;
    rt.block_on(async {
        let store = open_store(args.db.as_deref()).await?;
        let result = run(&store, args.command, args.format).await;
        store.close().await;
        result
    })?;
    Ok(0)
}

async fn run(store: &Store, command: HistoryCommand, format: Format) -> Result<()> {
    let json = format == Format::Json;
    match command {
        HistoryCommand::List { limit } => {
            let rows = store.list_conversations(limit, 0).await?;
            if json {
                println!("{}", serde_json::to_string(&rows)?);
            }
            for r in rows.iter().filter(|_| !json) {
                let pin = if r.pinned { "*" } else { " " };
                println!(
                    "{pin}{:>6}  {}  ({}, {} messages)",
                    r.id, r.title, r.model_id, r.message_count
                );
            }
        }
        HistoryCommand::Show { id } => {
            let c = store.get_conversation(ConversationId(id)).await?;
            if json {
                println!("{}", serde_json::to_string(&c)?);
                return Ok(());
            }
            println!("# {} ({})", c.summary.title, c.summary.model_id);
            for m in &c.messages {
                let who = match m.kind {
                    MessageKind::Transcription => "transcription",
                    MessageKind::Reply => m.role.as_str(),
                };
                println!("\n## {who} [{}]", m.status.as_str());
                for p in &m.pictures {
                    println!("picture: {}", p.path.display());
                }
                if !m.think.is_empty() {
                    println!("thinking:\n{}\n", m.think);
                }
                let body = if m.answer.is_empty() {
                    &m.text
                } else {
                    &m.answer
                };
                println!("{body}");
            }
        }
        HistoryCommand::Search {
            query,
            model,
            limit,
        } => {
            let hits = store
                .search(&SearchQuery {
                    model_id: model,
                    limit,
                    ..SearchQuery::new(query)
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string(&hits)?);
            }
            for h in hits.iter().filter(|_| !json) {
                println!(
                    "{:>6}  {}: {}",
                    h.conversation_id,
                    h.title,
                    plain_snippet(&h.snippet)
                );
            }
        }
        HistoryCommand::Export { id, to } => {
            let id = ConversationId(id);
            match to.extension().and_then(|e| e.to_str()) {
                Some("md") => store.export_markdown(id, &to).await?,
                Some("json") => store.export_json_file(id, &to).await?,
                _ => bail!("--to {} must end in .md or .json", to.display()),
            }
        }
        HistoryCommand::Import { file } => {
            let id = store.import_json_file(&file).await?;
            if json {
                println!("{}", serde_json::json!({ "conversation_id": id }));
            } else {
                println!("imported as conversation {id}");
            }
        }
    }
    Ok(())
}
