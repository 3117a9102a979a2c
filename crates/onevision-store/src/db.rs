//! Opening a history database: refuse anything that is not ours without touching it, migrate
//! what is ours, and recover replies that a dead process left half-written.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, Sqlite, SqliteConnection, Transaction};

use crate::clock::now_ms;
use crate::error::{Result, StoreError};
use crate::owner::{self, Liveness, OwnerLock};

/// The schema, embedded at build time. Migrations are only ever appended.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// File name of the database inside a data folder (see [`Store::open_in`]).
pub const DB_FILE_NAME: &str = "history.sqlite3";

/// How long a statement waits for another connection's write lock before giving up. Writes are
/// short (a flush is one small UPDATE), so this is only reached when something is wrong.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Tables a OneVision database may contain: ours, FTS5's shadow tables, and SQLite's own.
const KNOWN_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "conversations",
    "messages",
    "pictures",
    "message_pictures",
    "eval_runs",
    "messages_fts",
    "messages_fts_data",
    "messages_fts_idx",
    "messages_fts_docsize",
    "messages_fts_config",
    "sqlite_sequence",
    "sqlite_stat1",
    "sqlite_stat4",
];

/// The conversation history: a database file plus a folder of pictures. Cheap to clone; all
/// clones share one connection pool. Every method is async and needs a tokio runtime, but not a
/// global one: a command-line program can build a runtime just for its calls.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: SqlitePool,
    pub(crate) db_path: PathBuf,
    pub(crate) images_dir: PathBuf,
    pub(crate) locks_dir: PathBuf,
    pub(crate) owner: OwnerLock,
    /// Serialises "write picture files, then commit their rows" against "commit the removal of
    /// rows, then delete their files", so a picture being added is never collected half-way.
    pub(crate) picture_files: tokio::sync::Mutex<()>,
}

impl Store {
    /// Opens (or creates) `<data_dir>/history.sqlite3`, with pictures in `<data_dir>/images`.
    pub async fn open_in(data_dir: &Path) -> Result<Store> {
        Store::open(&data_dir.join(DB_FILE_NAME)).await
    }

    /// Opens (or creates) the database at `db_path`; pictures go in `images/` beside it.
    ///
    /// An existing file is first inspected read-only. A file that is not SQLite, is damaged, was
    /// made by another program, or by a newer OneVision gets an error naming it and is left
    /// byte-for-byte as it was. Rows a dead process left `streaming` become `interrupted`.
    pub async fn open(db_path: &Path) -> Result<Store> {
        let dir = db_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let images_dir = dir.join("images");
        let locks_dir = dir.join("locks");

        if inspect_existing(db_path).await? == Existing::Missing {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }

        let options = SqliteConnectOptions::new()
            .filename(db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode never corrupts and loses nothing on a process crash; only a
            // power cut can lose the last transactions, which is fine for a chat history.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| classify(db_path, e))?;

        MIGRATOR.run(&pool).await?;

        let owner = OwnerLock::acquire(&locks_dir)?;
        let store = Store {
            inner: Arc::new(Inner {
                pool,
                db_path: db_path.to_owned(),
                images_dir,
                locks_dir,
                owner,
                picture_files: tokio::sync::Mutex::new(()),
            }),
        };
        store.recover_interrupted().await?;
        store.recover_eval_runs().await?;
        Ok(store)
    }

    /// The database file this store was opened on.
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    /// The folder holding the picture files.
    pub fn images_dir(&self) -> &Path {
        &self.inner.images_dir
    }

    /// Copies everything written into the main database file (a WAL checkpoint), so the file
    /// is complete on its own (for a backup or a copy), then closes every connection. Dropping
    /// the store without it is safe: the next open replays the WAL.
    pub async fn close(self) {
        // The pool's connections close concurrently, and each skips the checkpoint-on-close
        // while it sees another still open; so checkpoint explicitly first.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.pool())
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint at close failed");
        }
        self.inner.pool.close().await;
    }

    /// Runs SQLite's full consistency check over every page and the search index's own check.
    /// Too slow for every start on a large history (about half a second for 10,000
    /// conversations), so it is offered for a "check the database" action or a CLI command.
    pub async fn check_integrity(&self) -> Result<()> {
        let path = &self.inner.db_path;
        let check: Vec<String> = sqlx::query_scalar("PRAGMA quick_check(10)")
            .fetch_all(self.pool())
            .await
            .map_err(|e| classify(path, e))?;
        if check != ["ok"] {
            return Err(StoreError::Corrupt {
                path: path.clone(),
                detail: check.join("; "),
            });
        }
        sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: format!("search index: {e}"),
            })?;
        Ok(())
    }

    /// A write transaction that takes the write lock at once. A deferred `BEGIN` that reads
    /// first and writes later fails with `SQLITE_BUSY` (without waiting) when another
    /// connection wrote in between; `BEGIN IMMEDIATE` waits for the lock instead.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.inner.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    pub(crate) fn owner_id(&self) -> &str {
        self.inner.owner.id()
    }

    /// Marks `streaming` rows whose writer is gone as `interrupted`, keeping their text. Runs at
    /// every open; rows owned by another live store (the app while the CLI opens) are left alone.
    async fn recover_interrupted(&self) -> Result<u64> {
        let owners: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT DISTINCT stream_owner FROM messages WHERE status = 'streaming'",
        )
        .fetch_all(self.pool())
        .await?;
        if owners.is_empty() {
            return Ok(0);
        }
        let dead: Vec<Option<String>> = owners
            .into_iter()
            .filter(|o| match o {
                None => true,
                Some(o) => owner::liveness(&self.inner.locks_dir, o) == Liveness::Dead,
            })
            .collect();
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut recovered = 0;
        for owner in &dead {
            recovered += sqlx::query(
                "UPDATE messages SET status = 'interrupted', stream_owner = NULL, updated_at = ?1
                 WHERE status = 'streaming' AND stream_owner IS ?2",
            )
            .bind(now)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                db = %self.inner.db_path.display(),
                "marked replies left streaming by a dead process as interrupted"
            );
        }
        Ok(recovered)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Existing {
    Missing,
    /// Present and acceptable (empty, or ours at a version we know).
    Ours,
}

/// Decides, without writing, whether an existing file may be opened read-write.
async fn inspect_existing(path: &Path) -> Result<Existing> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Missing),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    if !meta.is_file() {
        return Err(StoreError::io(
            path,
            std::io::Error::other("not a regular file"),
        ));
    }
    // SQLite itself treats an empty file as an empty database; so do we.
    if meta.len() == 0 {
        return Ok(Existing::Ours);
    }
    let mut header = [0u8; 16];
    let mut file = fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let read = read_up_to(&mut file, &mut header).map_err(|e| StoreError::io(path, e))?;
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(StoreError::NotSqlite {
            path: path.to_owned(),
        });
    }
    check_size(path, &mut file, meta.len())?;
    drop(file);

    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await
        .map_err(|e| classify(path, e))?;
    let verdict = check_schema(path, &mut conn).await;
    // Closing cleanly matters little for a read-only connection; report the real verdict.
    let _ = conn.close().await;
    verdict.map(|()| Existing::Ours)
}

/// A file shorter than its header says was cut short (a failed copy or download); SQLite would
/// only notice on reading the missing pages. Offsets from the file-format spec: page size at
/// 16 (big-endian u16, 1 meaning 65536), page count at 28, valid when the change counter at 24
/// equals the version-valid-for number at 92.
fn check_size(path: &Path, file: &mut fs::File, len: u64) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut header = [0u8; 100];
    file.seek(SeekFrom::Start(0))
        .map_err(|e| StoreError::io(path, e))?;
    if read_up_to(file, &mut header).map_err(|e| StoreError::io(path, e))? < header.len() {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: "the file ends inside its header".into(),
        });
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    if be32(24) == be32(92) && pages > 0 && len < pages * page_size {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!(
                "the file is {len} bytes but its header says {pages} pages of {page_size} bytes"
            ),
        });
    }
    Ok(())
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The verdict on a database opened read-only.
async fn check_schema(path: &Path, conn: &mut SqliteConnection) -> Result<()> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let foreign = |reason: String| StoreError::Foreign {
        path: path.to_owned(),
        reason,
    };

    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| classify(path, e))?;
    // A full check reads every page (half a second for a large history), too slow for every
    // start; check the small tables that say what this file is, and leave the rest to
    // `Store::check_integrity` and to SQLite, which reports damage wherever it reads it.
    for table in ["_sqlx_migrations", "conversations"] {
        if tables.iter().any(|t| t == table) {
            let check: Vec<String> = sqlx::query_scalar(&format!("PRAGMA quick_check({table})"))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| classify(path, e))?;
            if check != ["ok"] {
                return Err(corrupt(check.join("; ")));
            }
        }
    }
    if tables.is_empty() {
        return Ok(());
    }
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        return Err(foreign(format!(
            "it has tables ({}) but no OneVision schema history",
            preview(&tables)
        )));
    }

    let applied = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| foreign(format!("unreadable schema history: {e}")))?;
    let ours: HashMap<i64, &[u8]> = MIGRATOR
        .iter()
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    for row in &applied {
        let version: i64 = row.try_get("version").map_err(|e| foreign(e.to_string()))?;
        let checksum: Vec<u8> = row
            .try_get("checksum")
            .map_err(|e| foreign(e.to_string()))?;
        let success: bool = row.try_get("success").map_err(|e| foreign(e.to_string()))?;
        match ours.get(&version) {
            Some(expected) if *expected == checksum.as_slice() => {
                if !success {
                    return Err(corrupt(format!(
                        "schema migration {version} did not finish"
                    )));
                }
            }
            Some(_) => {
                return Err(foreign(format!(
                    "its schema step {version} is not OneVision's"
                )))
            }
            None if version > known => {
                return Err(StoreError::NewerVersion {
                    path: path.to_owned(),
                    version,
                    known,
                })
            }
            None => return Err(foreign(format!("unknown schema step {version}"))),
        }
    }
    let unknown: Vec<String> = tables
        .into_iter()
        .filter(|t| !KNOWN_TABLES.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(foreign(format!(
            "it has tables OneVision does not create: {}",
            preview(&unknown)
        )));
    }
    Ok(())
}

fn preview(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(5)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 5 {
        s.push_str(", …");
    }
    s
}

/// Turns SQLite's "not a database" and "malformed" codes into errors that name the file.
pub(crate) fn classify(path: &Path, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // Primary result code in the low byte: 11 SQLITE_CORRUPT, 26 SQLITE_NOTADB.
        let primary = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        match primary {
            Some(26) => {
                return StoreError::NotSqlite {
                    path: path.to_owned(),
                }
            }
            Some(11) => {
                return StoreError::Corrupt {
                    path: path.to_owned(),
                    detail: db.message().to_owned(),
                }
            }
            _ => {}
        }
    }
    StoreError::Database(e)
}
