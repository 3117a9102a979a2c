//! Opening databases: fresh, older, damaged, foreign and newer ones.

mod common;

use std::path::Path;

use onevision_store::{NewMessage, SearchQuery, Store, StoreError, MIGRATOR};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

async fn raw_connection(path: &Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn a_new_path_is_created_with_the_whole_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/deeper/history.sqlite3");
    let store = Store::open(&db).await.unwrap();
    assert!(db.exists());
    store.close().await;

    let mut conn = raw_connection(&db).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let ours: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(versions, ours);
    assert!(versions.len() >= 2);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '%fts_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "_sqlx_migrations",
            "conversations",
            "eval_runs",
            "message_pictures",
            "messages",
            "messages_fts",
            "pictures"
        ]
    );
    conn.close().await.unwrap();

    // Reopening an up-to-date database is a no-op that keeps the data.
    let store = Store::open(&db).await.unwrap();
    assert!(store.list_conversations(10, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_empty_file_is_taken_as_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");
    std::fs::write(&db, b"").unwrap();
    let store = Store::open(&db).await.unwrap();
    store
        .create_conversation("m", vec![NewMessage::user("hello")])
        .await
        .unwrap();
    assert_eq!(store.list_conversations(10, 0).await.unwrap().len(), 1);
}

/// A database written by the first release (schema step 1 only, before search existed) is
/// upgraded on open, and its old messages become searchable through the backfill.
#[tokio::test]
async fn a_database_at_migration_1_is_upgraded_and_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");

    // Apply only the first migration, from the same file the build embeds.
    let old_migrations = dir.path().join("old-migrations");
    std::fs::create_dir(&old_migrations).unwrap();
    let first = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("0001_")
        })
        .expect("migration 1");
    std::fs::copy(&first, old_migrations.join(first.file_name().unwrap())).unwrap();
    let old = Migrator::new(old_migrations.as_path()).await.unwrap();
    assert_eq!(old.iter().count(), 1);

    let mut conn = raw_connection(&db).await;
    old.run_direct(&mut conn).await.unwrap();
    sqlx::query(
        "INSERT INTO conversations (id, title, model_id, pinned, created_at, updated_at)
         VALUES (1, 'Old one', 'r1-onevision-7b', 1, 1000, 2000);
         INSERT INTO messages (conversation_id, position, role, text, status, created_at, updated_at)
         VALUES (1, 0, 'user', 'Why is the parallelogram rotated?', 'complete', 1000, 1000);
         INSERT INTO messages (conversation_id, position, role, think, answer, status, created_at, updated_at)
         VALUES (1, 1, 'assistant', 'Consider the rhombus first', 'Because of symmetry', 'complete', 1500, 2000);
         INSERT INTO messages (conversation_id, position, role, answer, status, created_at, updated_at)
         VALUES (1, 2, 'assistant', 'An unfinished trapezoid', 'streaming', 1600, 1600);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let has_fts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'messages_fts'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(has_fts, 0, "step 1 has no search index");
    conn.close().await.unwrap();

    let store = Store::open(&db).await.unwrap();
    let c = store
        .get_conversation(onevision_store::ConversationId(1))
        .await
        .unwrap();
    assert_eq!(c.summary.title, "Old one");
    assert!(c.summary.pinned);
    assert_eq!(c.messages.len(), 3);
    assert_eq!(
        c.messages[2].status,
        onevision_store::MessageStatus::Interrupted
    );
    assert_eq!(c.messages[2].answer, "An unfinished trapezoid");

    for word in ["parallelogram", "rhombus", "symmetry", "trapezoid"] {
        let hits = store.search(&SearchQuery::new(word)).await.unwrap();
        assert_eq!(hits.len(), 1, "{word} should be found after the upgrade");
    }
    store.close().await;

    let mut conn = raw_connection(&db).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versions,
        MIGRATOR.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        .execute(&mut conn)
        .await
        .expect("search index consistent with the messages");
}

/// Opens `path`, expects a refusal, and checks the file did not change by a single byte.
async fn assert_refused_untouched(path: &Path) -> StoreError {
    let before = common::sha256_file(path);
    let len_before = std::fs::metadata(path).unwrap().len();
    let err = Store::open(path).await.expect_err("must refuse");
    assert_eq!(
        common::sha256_file(path),
        before,
        "{} was modified",
        path.display()
    );
    assert_eq!(std::fs::metadata(path).unwrap().len(), len_before);
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "error should name the file: {message}"
    );
    err
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.sqlite3");
    std::fs::write(&text, "these are my notes, not a database\n".repeat(200)).unwrap();
    let err = assert_refused_untouched(&text).await;
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");

    let picture = dir.path().join("picture.db");
    std::fs::write(&picture, common::png(40, 30, 1)).unwrap();
    let err = assert_refused_untouched(&picture).await;
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");

    let tiny = dir.path().join("tiny.db");
    std::fs::write(&tiny, b"SQLite").unwrap();
    let err = assert_refused_untouched(&tiny).await;
    assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");

    let folder = dir.path().join("folder.db");
    std::fs::create_dir(&folder).unwrap();
    let err = Store::open(&folder).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();

    // Another program's database, in the default rollback-journal mode.
    let other = dir.path().join("contacts.db");
    let mut conn = raw_connection(&other).await;
    sqlx::query("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('Ada')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = assert_refused_untouched(&other).await;
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("people"));

    // Another sqlx application: a migrations table, but not our migrations.
    let sqlx_app = dir.path().join("other-app.db");
    let mut conn = raw_connection(&sqlx_app).await;
    sqlx::query(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations VALUES (1, 'init', CURRENT_TIMESTAMP, 1, x'00112233', 5);
         CREATE TABLE invoices (id INTEGER PRIMARY KEY);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = assert_refused_untouched(&sqlx_app).await;
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

    // Ours, but with a table someone added by hand.
    let ours_plus = dir.path().join("ours-plus.db");
    Store::open(&ours_plus).await.unwrap().close().await;
    let mut conn = raw_connection(&ours_plus).await;
    sqlx::query("CREATE TABLE extra (x)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = assert_refused_untouched(&ours_plus).await;
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("extra"));
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");
    Store::open(&db).await.unwrap().close().await;
    let mut conn = raw_connection(&db).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', 1, x'abcd', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = assert_refused_untouched(&db).await;
    match err {
        StoreError::NewerVersion { version, .. } => assert_eq!(version, 99990101000000),
        other => panic!("expected NewerVersion, got {other}"),
    }
}

async fn filled_database(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let db = dir.join("history.sqlite3");
    let store = Store::open(&db).await.unwrap();
    for i in 0..40 {
        store
            .create_conversation(
                "m",
                vec![NewMessage::user(format!(
                    "question {i} {}",
                    "words ".repeat(200)
                ))],
            )
            .await
            .unwrap();
    }
    store.close().await;
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        bytes.len() > 8 * PAGE,
        "need several pages, have {}",
        bytes.len()
    );
    (db, bytes)
}

const PAGE: usize = 4096;

#[tokio::test]
async fn a_damaged_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = filled_database(dir.path()).await;

    // Garbage over every page after the first (the header stays valid).
    let scribbled = dir.path().join("scribbled.sqlite3");
    let mut bytes = good.clone();
    for (i, b) in bytes[PAGE..].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&scribbled, &bytes).unwrap();
    let err = assert_refused_untouched(&scribbled).await;
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");

    // Cut short, as by a failed copy.
    let truncated = dir.path().join("truncated.sqlite3");
    std::fs::write(&truncated, &good[..PAGE * 3 / 2]).unwrap();
    let err = assert_refused_untouched(&truncated).await;
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("header says"), "{err}");
}

/// Damage deep inside the messages table is not looked for at every start (it would mean
/// reading the whole file); the explicit check finds it.
#[tokio::test]
async fn check_integrity_finds_damage_that_opening_does_not_look_for() {
    let dir = tempfile::tempdir().unwrap();
    let (db, good) = filled_database(dir.path()).await;
    let store = Store::open(&db).await.unwrap();
    store.check_integrity().await.unwrap();

    let mut conn = raw_connection(&db).await;
    let leaf: i64 = sqlx::query_scalar(
        "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    store.close().await;

    let mut bytes = good;
    let start = (leaf as usize - 1) * PAGE;
    for b in &mut bytes[start + 8..start + PAGE] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let store = Store::open(&db).await.unwrap();
    let err = store.check_integrity().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
}
