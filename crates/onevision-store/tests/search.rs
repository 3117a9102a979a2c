//! Full-text search: fields, snippets, ranking, filters, and what is not indexed.

mod common;

use onevision_store::{
    ConversationExport, ConversationId, ExportedMessage, Finish, GenerationStats, MessageKind,
    MessageStatus, NewMessage, Role, SearchQuery, Store, EXPORT_FORMAT, EXPORT_VERSION,
    HIGHLIGHT_END, HIGHLIGHT_START,
};

async fn exchange(
    store: &Store,
    model: &str,
    question: &str,
    think: &str,
    answer: &str,
) -> ConversationId {
    let c = store
        .create_conversation(model, vec![NewMessage::user(question)])
        .await
        .unwrap()
        .conversation;
    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_think(think).await.unwrap();
    w.push_answer(answer).await.unwrap();
    w.finish(Finish::complete(GenerationStats::default()))
        .await
        .unwrap();
    c
}

/// A conversation with chosen timestamps, through import (the only way to set them).
async fn dated(store: &Store, model: &str, text: &str, at: i64) -> ConversationId {
    store
        .import_json(ConversationExport {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            title: text.into(),
            model_id: model.into(),
            pinned: false,
            created_at: at,
            updated_at: at,
            messages: vec![ExportedMessage {
                role: Role::User,
                kind: MessageKind::Reply,
                status: MessageStatus::Complete,
                text: text.into(),
                think: String::new(),
                answer: String::new(),
                edited_from: None,
                final_answer: None,
                error: None,
                stats: GenerationStats::default(),
                settings: None,
                created_at: at,
                updated_at: at,
                pictures: vec![],
            }],
            pictures: vec![],
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn finds_words_in_questions_thinking_and_answers_with_snippets() {
    let (_dir, store) = common::fresh_store().await;
    let q = exchange(
        &store,
        "m",
        "What is the area of the trapezoid?",
        "Let me recall the formula.",
        "It is 24.",
    )
    .await;
    let t = exchange(
        &store,
        "m",
        "Solve it",
        "The discriminant is negative, so no real roots.",
        "No real solution.",
    )
    .await;
    let a = exchange(
        &store,
        "m",
        "Which gas?",
        "Thinking about gases.",
        "The answer is photosynthesis produces oxygen.",
    )
    .await;

    for (word, expected, role) in [
        ("trapezoid", q, Role::User),
        ("discriminant", t, Role::Assistant),
        ("photosynthesis", a, Role::Assistant),
    ] {
        let hits = store.search(&SearchQuery::new(word)).await.unwrap();
        assert_eq!(hits.len(), 1, "{word}");
        let hit = &hits[0];
        assert_eq!(hit.conversation_id, expected);
        assert_eq!(hit.role, role);
        assert!(
            hit.snippet
                .contains(&format!("{HIGHLIGHT_START}{word}{HIGHLIGHT_END}")),
            "{word}: {:?}",
            hit.snippet
        );
        let title = store.conversation_summary(expected).await.unwrap().title;
        assert_eq!(hit.title, title);
        let message = store.get_message(hit.message_id).await.unwrap();
        assert_eq!(message.conversation_id, expected);
        assert!(hit
            .segments()
            .iter()
            .any(|(highlighted, text)| *highlighted && *text == word));
    }
    assert!(store
        .search(&SearchQuery::new("nonexistentword"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn prefixes_accents_and_hostile_input() {
    let (_dir, store) = common::fresh_store().await;
    let c = exchange(&store, "m", "Théorème de Pythagore", "", "a² + b² = c²").await;
    // The last word is a prefix while typing; accents are folded.
    for query in ["pythag", "theoreme", "THÉORÈME pyth"] {
        let hits = store.search(&SearchQuery::new(query)).await.unwrap();
        assert_eq!(hits.len(), 1, "{query}");
        assert_eq!(hits[0].conversation_id, c);
    }
    // A finished word is not a prefix.
    assert!(store
        .search(&SearchQuery::new("pythag "))
        .await
        .unwrap()
        .is_empty());
    // FTS5 syntax typed by a user is just text, never an error.
    for query in ["\"", "NEAR(", "a OR", "*", "col:umn", "(((", "-", "AND NOT"] {
        store.search(&SearchQuery::new(query)).await.unwrap();
    }
}

#[tokio::test]
async fn one_hit_per_conversation_best_first() {
    let (_dir, store) = common::fresh_store().await;
    let weak = exchange(
        &store,
        "m",
        "About shapes",
        "A long digression. ".repeat(30).as_str(),
        "One ellipse here.",
    )
    .await;
    let strong = exchange(
        &store,
        "m",
        "Ellipse ellipse: the ellipse question",
        "ellipse",
        "An ellipse has two foci.",
    )
    .await;
    let hits = store.search(&SearchQuery::new("ellipse")).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.conversation_id).collect::<Vec<_>>(),
        [strong, weak]
    );
    assert!(hits[0].score > hits[1].score);
    assert!(hits.iter().all(|h| h.snippet.contains(HIGHLIGHT_START)));
    // Prefix queries get their snippets too (they are made in one pass over the matches).
    let prefixed = store.search(&SearchQuery::new("ellip")).await.unwrap();
    assert_eq!(prefixed.len(), 2);
    assert!(prefixed
        .iter()
        .all(|h| h.snippet.to_lowercase().contains("\u{2}ellipse")));
    let limited = store
        .search(&SearchQuery {
            limit: 1,
            ..SearchQuery::new("ellipse")
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
}

#[tokio::test]
async fn filters_by_model_and_date() {
    let (_dir, store) = common::fresh_store().await;
    let day = 86_400_000;
    let jan = dated(
        &store,
        "r1-onevision-7b",
        "vector projection",
        1_704_067_200_000,
    )
    .await;
    let feb = dated(
        &store,
        "r1-onevision-7b",
        "vector norm",
        1_704_067_200_000 + 31 * day,
    )
    .await;
    let other = dated(
        &store,
        "qwen2.5-vl-7b",
        "vector space",
        1_704_067_200_000 + 31 * day,
    )
    .await;

    let ids = |hits: Vec<onevision_store::SearchHit>| {
        let mut v: Vec<_> = hits.into_iter().map(|h| h.conversation_id).collect();
        v.sort();
        v
    };
    let all = store.search(&SearchQuery::new("vector")).await.unwrap();
    assert_eq!(ids(all), [jan, feb, other]);

    let by_model = SearchQuery {
        model_id: Some("r1-onevision-7b".into()),
        ..SearchQuery::new("vector")
    };
    assert_eq!(ids(store.search(&by_model).await.unwrap()), [jan, feb]);

    let february = SearchQuery {
        from_ms: Some(1_704_067_200_000 + 31 * day),
        until_ms: Some(1_704_067_200_000 + 60 * day),
        ..SearchQuery::new("vector")
    };
    assert_eq!(ids(store.search(&february).await.unwrap()), [feb, other]);

    let january_only = SearchQuery {
        until_ms: Some(1_704_067_200_000 + 31 * day),
        ..SearchQuery::new("vector")
    };
    assert_eq!(ids(store.search(&january_only).await.unwrap()), [jan]);

    let both = SearchQuery {
        model_id: Some("qwen2.5-vl-7b".into()),
        from_ms: Some(1_704_067_200_000 + 31 * day),
        ..SearchQuery::new("vector")
    };
    assert_eq!(ids(store.search(&both).await.unwrap()), [other]);
}

#[tokio::test]
async fn a_streaming_reply_is_indexed_when_it_finishes() {
    let (_dir, store) = common::fresh_store().await;
    let c = common::conversation_with(&store, "q").await;
    let mut w = store.begin_reply(c, None).await.unwrap();
    w.push_answer("the hexagon").await.unwrap();
    w.flush().await.unwrap();
    assert!(store
        .search(&SearchQuery::new("hexagon"))
        .await
        .unwrap()
        .is_empty());
    w.push_answer(" and the pentagon").await.unwrap();
    w.finish(Finish::complete(GenerationStats::default()))
        .await
        .unwrap();
    for word in ["hexagon", "pentagon"] {
        assert_eq!(
            store.search(&SearchQuery::new(word)).await.unwrap().len(),
            1
        );
    }
}

/// Search ranks a window of the best matches, not all of them; it must still give exactly the
/// answer of ranking everything, also when one conversation fills the first window.
#[tokio::test]
async fn results_equal_ranking_every_match() {
    let (_dir, store) = common::fresh_store().await;
    // One conversation with many strong matches, then weaker ones elsewhere.
    let busy = exchange(
        &store,
        "m",
        "ellipse ellipse ellipse",
        "ellipse",
        "ellipse ellipse",
    )
    .await;
    for i in 0..6 {
        store
            .append_messages(
                busy,
                vec![NewMessage::user(format!("ellipse ellipse again {i}"))],
            )
            .await
            .unwrap();
    }
    let mut others = Vec::new();
    for i in 0..5 {
        let filler = "and some other words ".repeat(i + 1);
        others.push(
            exchange(
                &store,
                "m",
                &format!("an ellipse {filler}"),
                "circle",
                "foci",
            )
            .await,
        );
    }

    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(store.db_path()),
    )
    .await
    .unwrap();
    for word in ["ellipse", "circle", "foci", "words"] {
        // Everything ranked, best message per conversation, best conversations first.
        let all: Vec<(i64, i64, f64)> = sqlx::query_as(
            "SELECT f.rowid, m.conversation_id, bm25(messages_fts, 2.0, 0.5, 1.0) AS r
             FROM messages_fts f JOIN messages m ON m.id = f.rowid
             WHERE messages_fts MATCH ?1 ORDER BY r, f.rowid",
        )
        .bind(format!("\"{word}\""))
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut expected: Vec<(i64, i64)> = Vec::new();
        for (message, conversation, _) in all {
            if !expected.iter().any(|(_, c)| *c == conversation) {
                expected.push((message, conversation));
            }
        }
        for limit in 1..=7u32 {
            let hits = store
                .search(&SearchQuery {
                    limit,
                    ..SearchQuery::new(format!("{word} "))
                })
                .await
                .unwrap();
            let got: Vec<(i64, i64)> = hits
                .iter()
                .map(|h| (h.message_id.0, h.conversation_id.0))
                .collect();
            let want: Vec<(i64, i64)> = expected.iter().copied().take(limit as usize).collect();
            assert_eq!(got, want, "{word}, limit {limit}");
        }
    }
    pool.close().await;
    assert_eq!(others.len(), 5);
}

/// A word in more messages than are ranked: only the most recently stored matches compete,
/// so an old strong match loses to newer weak ones (the documented price of a bounded search).
#[tokio::test]
async fn only_the_most_recent_matches_are_ranked_for_very_common_words() {
    let (_dir, store) = common::fresh_store().await;
    let old = exchange(&store, "m", "zebra zebra zebra", "zebra", "zebra zebra").await;
    let filler = "and a long line of other words to dilute the match ".repeat(3);
    let newer = store
        .create_conversation(
            "m",
            (0..onevision_store::RANKED_MATCHES_MAX)
                .map(|i| NewMessage::user(format!("zebra {i} {filler}")))
                .collect(),
        )
        .await
        .unwrap()
        .conversation;
    let hits = store.search(&SearchQuery::new("zebra ")).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.conversation_id).collect::<Vec<_>>(),
        [newer]
    );
    assert!(!hits.iter().any(|h| h.conversation_id == old));
    // The bound counts matches after the filters: a narrow search ranks all of its matches.
    let only_old = exchange(&store, "other-model", "zebra zebra zebra", "", "").await;
    let by_model = store
        .search(&SearchQuery {
            model_id: Some("other-model".into()),
            ..SearchQuery::new("zebra ")
        })
        .await
        .unwrap();
    assert_eq!(by_model.len(), 1);
    assert_eq!(by_model[0].conversation_id, only_old);
}

#[tokio::test]
async fn markup_is_not_indexed_and_snippets_read_as_text() {
    let (_dir, store) = common::fresh_store().await;
    let c = exchange(
        &store,
        "m",
        "How big is the rhombus?",
        "<think>\nThe **diagonals** give $\\frac{6 \\cdot 8}{2} = 24$ for the rhombus.</think>",
        "<answer>The area is $\\sqrt{576} = 24$.\n\n\\boxed{24}</answer>",
    )
    .await;
    // The model's markup is no word of the reply.
    for markup in ["think", "boxed", "frac", "cdot", "sqrt"] {
        let hits = store.search(&SearchQuery::new(markup)).await.unwrap();
        assert!(hits.is_empty(), "{markup} matched {hits:?}");
    }
    let hits = store.search(&SearchQuery::new("diagonals")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation_id, c);
    let snippet = hits[0]
        .snippet
        .replace([HIGHLIGHT_START, HIGHLIGHT_END], "");
    assert!(snippet.contains("6 · 8/2 = 24"), "{snippet:?}");
    assert!(!snippet.contains(['$', '\\', '*', '<']), "{snippet:?}");
    let hits = store.search(&SearchQuery::new("area")).await.unwrap();
    assert!(
        hits[0].snippet.contains("√576 = 24"),
        "{:?}",
        hits[0].snippet
    );
    // Editing and deleting keep the index in step with what it read.
    store.check_integrity().await.unwrap();
    store.delete_conversation(c).await.unwrap();
    assert!(store
        .search(&SearchQuery::new("diagonals"))
        .await
        .unwrap()
        .is_empty());
    store.check_integrity().await.unwrap();
}
