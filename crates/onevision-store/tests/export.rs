//! Export to Markdown and JSON, and JSON import back.

mod common;

use std::path::Path;

use onevision_store::{
    ConversationId, Finish, GenerationStats, NewMessage, Outcome, PictureInput, Store, StoreError,
    EXPORT_VERSION,
};

const QUESTION: &str = "Find $x$ if $\\frac{x}{2} = \\sqrt{9}$.\nThe figure:";
const THINK: &str = "We need \\[ x = 2 \\cdot 3 \\]\n\\begin{align}\nx &= 6\n\\end{align}";
const ANSWER: &str = "<answer>$x = 6$</answer> and $$\\boxed{6}$$";

/// A conversation using every field: system prompt, pictures (one shared), stats, settings,
/// a stopped and a failed reply, pinned and renamed.
async fn rich_conversation(store: &Store) -> ConversationId {
    let figure = common::png(120, 80, 3);
    let photo = common::jpeg(64, 48);
    let c = store
        .create_conversation(
            "r1-onevision-7b",
            vec![
                NewMessage::system("Answer briefly."),
                NewMessage::user(QUESTION)
                    .with_picture(PictureInput::Bytes(figure.clone()))
                    .with_picture(PictureInput::Bytes(photo)),
            ],
        )
        .await
        .unwrap()
        .conversation;
    let mut w = store
        .begin_reply(
            c,
            Some(serde_json::json!({"temperature": 0.6, "top_p": 0.95, "seed": 7})),
        )
        .await
        .unwrap();
    w.push_think(THINK).await.unwrap();
    w.push_answer(ANSWER).await.unwrap();
    w.push_text("<think>…</think>").await.unwrap();
    w.finish(Finish {
        outcome: Outcome::Complete,
        final_answer: Some("6".into()),
        stats: GenerationStats {
            prompt_tokens: Some(1234),
            generated_tokens: Some(56),
            ttft_ms: Some(123.456),
            vision_ms: Some(0.1),
            prefill_ms: Some(99.9),
            decode_ms: Some(1e3 / 3.0),
            tokens_per_s: Some(41.7),
            think_ms: Some(2_500.25),
            think_tokens: Some(48),
        },
    })
    .await
    .unwrap();
    store
        .append_messages(
            c,
            vec![NewMessage::user("And with this one? ünïcødé ✓")
                .with_picture(PictureInput::Bytes(figure))],
        )
        .await
        .unwrap();
    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_answer("Partial").await.unwrap();
    w.finish(Finish {
        outcome: Outcome::Stopped,
        final_answer: None,
        stats: GenerationStats::default(),
    })
    .await
    .unwrap();
    let w = store.begin_reply(c, None).await.unwrap();
    w.finish(Finish {
        outcome: Outcome::Failed("CUDA out of memory".into()),
        final_answer: None,
        stats: GenerationStats::default(),
    })
    .await
    .unwrap();
    store.set_pinned(c, true).await.unwrap();
    store.rename_conversation(c, "Homework: x").await.unwrap();
    c
}

#[tokio::test]
async fn json_export_then_import_into_a_fresh_database_is_lossless() {
    let (dir, store) = common::fresh_store().await;
    let id = rich_conversation(&store).await;
    let file = dir.path().join("out.json");
    store.export_json_file(id, &file).await.unwrap();
    let first = std::fs::read_to_string(&file).unwrap();

    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::open_in(other_dir.path()).await.unwrap();
    let imported = other.import_json_file(&file).await.unwrap();
    let again = other_dir.path().join("again.json");
    other.export_json_file(imported, &again).await.unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), first);

    // Spot-check the content itself, not only the round trip.
    let original = store.get_conversation(id).await.unwrap();
    let copy = other.get_conversation(imported).await.unwrap();
    assert_eq!(copy.summary.title, "Homework: x");
    assert!(copy.summary.pinned);
    assert_eq!(copy.summary.created_at, original.summary.created_at);
    assert_eq!(copy.summary.updated_at, original.summary.updated_at);
    assert_eq!(copy.messages.len(), 6);
    for (a, b) in original.messages.iter().zip(&copy.messages) {
        assert_eq!(
            (&a.role, &a.status, &a.text, &a.think, &a.answer),
            (&b.role, &b.status, &b.text, &b.think, &b.answer)
        );
        assert_eq!(
            (&a.final_answer, &a.error, &a.stats, &a.settings),
            (&b.final_answer, &b.error, &b.stats, &b.settings)
        );
        assert_eq!((a.created_at, a.updated_at), (b.created_at, b.updated_at));
        assert_eq!(a.pictures.len(), b.pictures.len());
        for (p, q) in a.pictures.iter().zip(&b.pictures) {
            assert_eq!(p.sha256, q.sha256);
            assert_eq!(
                std::fs::read(&p.path).unwrap(),
                std::fs::read(&q.path).unwrap()
            );
            assert!(q.thumbnail_path.exists());
        }
    }
    // The shared picture is one file in the new store too.
    assert_eq!(common::count_files(other.images_dir()), 4);

    let json: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(json["format"], "onevision-conversation");
    assert_eq!(json["version"], EXPORT_VERSION);
    assert_eq!(json["pictures"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn markdown_keeps_latex_verbatim_and_links_copied_pictures() {
    let (dir, store) = common::fresh_store().await;
    let id = rich_conversation(&store).await;
    let md_path = dir.path().join("my homework.md");
    store.export_markdown(id, &md_path).await.unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();

    assert!(md.starts_with("# Homework: x\n"), "{md}");
    assert!(md.contains(QUESTION));
    assert!(md.contains(THINK));
    assert!(md.contains(ANSWER));
    assert!(md.contains("<details>\n<summary>Thinking</summary>"));
    assert!(md.contains("CUDA out of memory"));
    assert!(md.contains("stopped"));

    let links: Vec<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("![Picture "))
        .map(|l| &l[l.find("](").unwrap() + 2..l.len() - 1])
        .collect();
    assert_eq!(links.len(), 3);
    for link in &links {
        assert!(link.starts_with("my%20homework_files/"), "{link}");
        let target = dir.path().join(link.replace("%20", " "));
        assert!(target.exists(), "{}", target.display());
    }
    assert_eq!(
        common::count_files(&dir.path().join("my homework_files")),
        2
    );
}

async fn assert_import_refused(store: &Store, file: &Path, needle: &str) {
    let err = store.import_json_file(file).await.unwrap_err();
    assert!(matches!(err, StoreError::Import { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains(needle), "{message}");
}

#[tokio::test]
async fn bad_imports_are_refused_whole() {
    let (dir, store) = common::fresh_store().await;
    let id = rich_conversation(&store).await;
    let good: serde_json::Value =
        serde_json::to_value(store.export_json(id).await.unwrap()).unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let target = Store::open_in(target_dir.path()).await.unwrap();

    let write = |name: &str, value: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
        path
    };

    let mut newer = good.clone();
    newer["version"] = serde_json::json!(EXPORT_VERSION + 1);
    assert_import_refused(&target, &write("newer.json", &newer), "newer").await;

    let mut wrong = good.clone();
    wrong["format"] = serde_json::json!("something-else");
    assert_import_refused(&target, &write("wrong.json", &wrong), "format").await;

    let mut tampered = good.clone();
    tampered["pictures"][0]["data_base64"] = serde_json::json!("aGVsbG8=");
    assert_import_refused(&target, &write("tampered.json", &tampered), "SHA-256").await;

    let mut dangling = good.clone();
    dangling["pictures"] = serde_json::json!([]);
    assert_import_refused(
        &target,
        &write("dangling.json", &dangling),
        "does not contain",
    )
    .await;

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    assert_import_refused(&target, &garbage, "not a valid conversation export").await;

    assert!(target.list_conversations(10, 0).await.unwrap().is_empty());
    assert_eq!(common::count_files(target.images_dir()), 0);
}
