//! Writing replies while they stream: batches, finishing, concurrent readers, and recovery
//! after the writer is killed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onevision_store::{
    Finish, GenerationStats, MessageKind, MessageStatus, NewMessage, Outcome, Role, SearchQuery,
    Store, StoreError,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[tokio::test]
async fn a_reply_streams_in_batches_and_finishes_with_its_stats() {
    let (_dir, store) = common::fresh_store().await;
    let created = store
        .create_conversation("r1-onevision-7b", vec![NewMessage::user("What is 2+2?")])
        .await
        .unwrap();
    let settings = serde_json::json!({"temperature": 0.0, "max_new_tokens": 512});
    let mut w = store
        .begin_reply(created.conversation, Some(settings.clone()))
        .await
        .unwrap()
        .with_flush_interval(Duration::from_secs(3600));

    // Exists from the start, empty and streaming.
    let m = store.get_message(w.message_id()).await.unwrap();
    assert_eq!(
        (m.role, m.status, m.position),
        (Role::Assistant, MessageStatus::Streaming, 1)
    );
    assert_eq!(m.settings, Some(settings.clone()));

    // Within the interval nothing is written...
    w.push_think("Adding two ").await.unwrap();
    w.push_think("and two.").await.unwrap();
    assert_eq!(store.get_message(w.message_id()).await.unwrap().think, "");
    // ...until asked.
    w.flush().await.unwrap();
    assert_eq!(
        store.get_message(w.message_id()).await.unwrap().think,
        "Adding two and two."
    );

    let mut w = w.with_flush_interval(Duration::ZERO);
    w.push_answer("The answer is ").await.unwrap();
    assert_eq!(
        store.get_message(w.message_id()).await.unwrap().answer,
        "The answer is "
    );
    w.push_answer("4.").await.unwrap();
    w.push_text("<think>Adding two and two.</think>The answer is 4.")
        .await
        .unwrap();

    let stats = GenerationStats {
        prompt_tokens: Some(42),
        generated_tokens: Some(17),
        ttft_ms: Some(88.5),
        vision_ms: Some(30.25),
        prefill_ms: Some(55.0),
        decode_ms: Some(400.0),
        tokens_per_s: Some(42.5),
        think_ms: Some(310.5),
        think_tokens: Some(6),
    };
    let done = w
        .finish(Finish {
            outcome: Outcome::Complete,
            final_answer: Some("4".into()),
            stats: stats.clone(),
        })
        .await
        .unwrap();
    assert_eq!(done.status, MessageStatus::Complete);
    assert_eq!(done.think, "Adding two and two.");
    assert_eq!(done.answer, "The answer is 4.");
    assert_eq!(done.final_answer.as_deref(), Some("4"));
    assert_eq!(done.stats, stats);
    assert_eq!(done.settings, Some(settings));

    // Finished replies are searchable.
    let hits = store.search(&SearchQuery::new("answer")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, done.id);
}

#[tokio::test]
async fn stopped_and_failed_replies_keep_their_text() {
    let (_dir, store) = common::fresh_store().await;
    let c = common::conversation_with(&store, "q").await;

    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_answer("partial").await.unwrap();
    let stopped = w
        .finish(Finish {
            outcome: Outcome::Stopped,
            final_answer: None,
            stats: GenerationStats::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        (stopped.status, stopped.answer.as_str()),
        (MessageStatus::Stopped, "partial")
    );

    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_think("hmm").await.unwrap();
    // Counts noted on the way survive an end that knows none.
    w.note_progress(GenerationStats {
        generated_tokens: Some(40),
        tokens_per_s: Some(12.5),
        ..GenerationStats::default()
    });
    let failed = w
        .finish(Finish {
            outcome: Outcome::Failed("out of memory".into()),
            final_answer: None,
            stats: GenerationStats::default(),
        })
        .await
        .unwrap();
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("out of memory"));
    assert_eq!(failed.think, "hmm");
    assert_eq!(failed.position, 2);
    assert_eq!(failed.stats.generated_tokens, Some(40));
    assert_eq!(failed.stats.tokens_per_s, Some(12.5));
}

#[tokio::test]
async fn replying_to_a_missing_conversation_is_an_error() {
    let (_dir, store) = common::fresh_store().await;
    let err = store
        .begin_reply(onevision_store::ConversationId(77), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConversationNotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_writer_marks_its_reply_interrupted() {
    let (_dir, store) = common::fresh_store().await;
    let c = common::conversation_with(&store, "q").await;
    let mut w = store
        .begin_reply(c, None)
        .await
        .unwrap()
        .with_flush_interval(Duration::from_secs(3600));
    let id = w.message_id();
    w.push_answer("kept even though never flushed")
        .await
        .unwrap();
    drop(w);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = store.get_message(id).await.unwrap();
        if m.status != MessageStatus::Streaming {
            assert_eq!(m.status, MessageStatus::Interrupted);
            assert_eq!(m.answer, "kept even though never flushed");
            break;
        }
        assert!(Instant::now() < deadline, "drop never marked the reply");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The app and the CLI can have the same database open: opening it a second time must not
/// declare the first one's live reply interrupted.
#[tokio::test]
async fn opening_again_leaves_a_live_writers_reply_alone() {
    let (dir, store) = common::fresh_store().await;
    let c = common::conversation_with(&store, "q").await;
    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_answer("still going").await.unwrap();
    w.flush().await.unwrap();

    let second = Store::open_in(dir.path()).await.unwrap();
    let m = second.get_message(w.message_id()).await.unwrap();
    assert_eq!(m.status, MessageStatus::Streaming);
    w.push_answer(", and done").await.unwrap();
    let done = w
        .finish(Finish::complete(GenerationStats::default()))
        .await
        .unwrap();
    assert_eq!(done.answer, "still going, and done");
    assert_eq!(
        second.get_message(done.id).await.unwrap().status,
        MessageStatus::Complete
    );
}

/// A second store (its own connection pool, as another process would have) polls the reply
/// while it is written: it always sees whole batches, in order, and never a torn row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_whole_batches_while_a_reply_streams() {
    let (dir, store) = common::fresh_store().await;
    let c = common::conversation_with(&store, "count").await;
    let mut w = store
        .begin_reply(c, None)
        .await
        .unwrap()
        .with_flush_interval(Duration::ZERO);
    let id = w.message_id();
    const BATCHES: usize = 200;
    let delta = |i: usize| format!("t{i:04};");
    let expected: String = (0..BATCHES).map(delta).collect();

    let writer = tokio::spawn(async move {
        for i in 0..BATCHES {
            w.push_think(&delta(i)).await.unwrap();
            w.push_answer(&delta(i)).await.unwrap();
        }
        w.finish(Finish::complete(GenerationStats::default()))
            .await
            .unwrap()
    });

    let reader = Store::open_in(dir.path()).await.unwrap();
    let mut seen_partial = 0;
    let mut last_len = 0;
    loop {
        let conversation = reader.get_conversation(c).await.unwrap();
        let m = &conversation.messages[1];
        assert!(expected.starts_with(&m.think), "torn think: {:?}", m.think);
        assert!(
            expected.starts_with(&m.answer),
            "torn answer: {:?}",
            m.answer
        );
        assert_eq!(m.think.len() % 6, 0, "half a delta: {:?}", m.think);
        assert!(m.think.len() >= last_len, "went backwards");
        // Each flush writes think and answer together, but the answer delta comes one push
        // later: the answer is never ahead of the thinking and at most one delta behind.
        assert!(m.answer.len() <= m.think.len() && m.think.len() - m.answer.len() <= 6);
        last_len = m.think.len();
        if m.status == MessageStatus::Complete {
            assert_eq!(m.think, expected);
            assert_eq!(m.answer, expected);
            break;
        }
        assert_eq!(m.status, MessageStatus::Streaming);
        if !m.think.is_empty() {
            seen_partial += 1;
        }
        tokio::task::yield_now().await;
    }
    let done = writer.await.unwrap();
    assert_eq!(done.id, id);
    assert_eq!(done.answer, expected);
    assert!(
        seen_partial > 0,
        "the reader never caught the reply mid-stream"
    );
}

const CHILD_DB: &str = "ONEVISION_STORE_TEST_CHILD_DB";

/// The child half of `a_killed_writer_leaves_a_consistent_database`: streams forever, printing
/// how much it has committed, until the parent kills it.
fn child_writer(db: &str) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(std::path::Path::new(db)).await.unwrap();
        let c = common::conversation_with(&store, "Explain the figure").await;
        let mut w = store
            .begin_reply(c, None)
            .await
            .unwrap()
            .with_flush_interval(Duration::ZERO);
        println!("MESSAGE {}", w.message_id());
        let mut i = 0u64;
        loop {
            // Big enough batches that the kill is likely to land inside a write.
            let chunk = format!("[{i:08}]{}", "x".repeat(2000));
            // The counts known on the way are kept with the text.
            w.note_progress(GenerationStats {
                generated_tokens: Some(i as u32 + 1),
                think_ms: Some(1234.0),
                ..GenerationStats::default()
            });
            w.push_answer(&chunk).await.unwrap();
            println!("FLUSHED {i}");
            i += 1;
        }
    })
}

#[test]
fn a_killed_writer_leaves_a_consistent_database() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        child_writer(&db);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite3");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_writer_leaves_a_consistent_database",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut message_id = None;
    let mut last_flushed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints "test <name> ... " without a newline before the child's first line.
        if let Some((_, id)) = line.split_once("MESSAGE ") {
            message_id = Some(id.parse::<i64>().unwrap());
        } else if let Some(n) = line.strip_prefix("FLUSHED ") {
            let n: u64 = n.parse().unwrap();
            last_flushed = Some(n);
            if n >= 30 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no clean close
    child.wait().unwrap();
    let message_id = onevision_store::MessageId(message_id.expect("child started streaming"));
    let last_flushed = last_flushed.expect("child flushed");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&db).await.unwrap();
        let m = store.get_message(message_id).await.unwrap();
        assert_eq!(m.status, MessageStatus::Interrupted);
        // Every batch reported as flushed is there, whole and in order.
        let batches: Vec<&str> = m.answer.split('[').skip(1).collect();
        assert!(batches.len() as u64 > last_flushed, "lost committed text");
        // With the counts that were known when its last batch was written.
        assert_eq!(m.stats.generated_tokens, Some(batches.len() as u32));
        assert_eq!(m.stats.think_ms, Some(1234.0));
        let summary = store
            .list_conversations(10, 0)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.id == m.conversation_id)
            .unwrap();
        assert!(
            summary.interrupted,
            "the history list does not mark the conversation"
        );
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(b, &format!("{i:08}]{}", "x".repeat(2000)), "batch {i}");
        }
        // The recovered reply is searchable like any finished one.
        let hits = store.search(&SearchQuery::new("Explain")).await.unwrap();
        assert_eq!(hits.len(), 1);
        store.close().await;

        let mut conn = SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
            .execute(&mut conn)
            .await
            .expect("search index consistent");
        conn.close().await.unwrap();
    });
}

#[tokio::test]
async fn a_transcription_streams_is_corrected_and_keeps_the_models_reading() {
    let (dir, store) = common::fresh_store().await;
    let created = store
        .create_conversation("r1-onevision-7b", vec![NewMessage::user("What is AC?")])
        .await
        .unwrap();
    let mut w = store
        .begin_transcription(created.conversation, None)
        .await
        .unwrap();
    let id = w.message_id();
    // Not correctable, nor a reading an answer may use, while it streams.
    assert_eq!(store.get_message(id).await.unwrap().reading(), None);
    let e = store.correct_transcription(id, "AB = 6").await.unwrap_err();
    assert!(
        matches!(e, StoreError::NotATranscription(m) if m == id),
        "{e}"
    );
    w.push_answer("Kind: geometry\nAB = 3, BC = 4")
        .await
        .unwrap();
    w.finish(Finish::complete(GenerationStats::default()))
        .await
        .unwrap();
    let m = store.get_message(id).await.unwrap();
    assert_eq!(
        (m.kind, m.edited_from.as_deref()),
        (MessageKind::Transcription, None)
    );
    assert_eq!(m.reading(), Some("Kind: geometry\nAB = 3, BC = 4"));

    // Corrected twice: the reading is the last correction, the model's own is kept.
    store
        .correct_transcription(id, "Kind: geometry\nAB = 5, BC = 4")
        .await
        .unwrap();
    let m = store
        .correct_transcription(id, "Kind: geometry\nAB = 6, BC = 8")
        .await
        .unwrap();
    assert_eq!(m.answer, "Kind: geometry\nAB = 6, BC = 8");
    assert_eq!(
        m.edited_from.as_deref(),
        Some("Kind: geometry\nAB = 3, BC = 4")
    );

    // A reading stopped halfway becomes a whole one once the student corrects it.
    let mut stopped = store
        .begin_transcription(created.conversation, None)
        .await
        .unwrap();
    let stopped_id = stopped.message_id();
    stopped.push_answer("Kind: chart\n| x |").await.unwrap();
    stopped
        .finish(Finish {
            outcome: Outcome::Stopped,
            final_answer: None,
            stats: GenerationStats::default(),
        })
        .await
        .unwrap();
    assert_eq!(store.get_message(stopped_id).await.unwrap().reading(), None);
    let m = store
        .correct_transcription(stopped_id, "Kind: chart\n| x | 1 |")
        .await
        .unwrap();
    assert_eq!(
        (m.status, m.reading(), m.edited_from.as_deref()),
        (
            MessageStatus::Complete,
            Some("Kind: chart\n| x | 1 |"),
            Some("Kind: chart\n| x |")
        )
    );
    store
        .truncate_conversation(created.conversation, m.position)
        .await
        .unwrap();

    // A reply and a question are not transcriptions.
    let reply = store.begin_reply(created.conversation, None).await.unwrap();
    let reply_id = reply.message_id();
    reply
        .finish(Finish::complete(GenerationStats::default()))
        .await
        .unwrap();
    assert_eq!(store.get_message(reply_id).await.unwrap().reading(), None);
    for other in [reply_id, created.messages[0]] {
        let e = store.correct_transcription(other, "x").await.unwrap_err();
        assert!(matches!(e, StoreError::NotATranscription(_)), "{e}");
    }

    // The corrected reading is what search finds.
    let hits = store.search(&SearchQuery::new("AB 6")).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.message_id).collect::<Vec<_>>(),
        vec![id]
    );

    // Exports carry both readings, and an import gives them back.
    let export = store.export_json(created.conversation).await.unwrap();
    let again = store.import_json(export).await.unwrap();
    let copy = store.get_conversation(again).await.unwrap();
    let t = &copy.messages[1];
    assert_eq!(
        (t.kind, t.answer.as_str()),
        (MessageKind::Transcription, "Kind: geometry\nAB = 6, BC = 8")
    );
    assert_eq!(
        t.edited_from.as_deref(),
        Some("Kind: geometry\nAB = 3, BC = 4")
    );
    assert_eq!(copy.messages[2].kind, MessageKind::Reply);
    let md = dir.path().join("talk.md");
    store
        .export_markdown(created.conversation, &md)
        .await
        .unwrap();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains(
            "## Transcription (corrected by the student)\n\nKind: geometry\nAB = 6, BC = 8"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "<summary>What the model read first</summary>\n\nKind: geometry\nAB = 3, BC = 4"
        ),
        "{md}"
    );
}
