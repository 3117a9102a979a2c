//! The speed of past replies, for saying how fast a model runs on this machine from what it
//! really did rather than from a benchmark. The store still does not interpret the settings:
//! it selects by the `model` the writer recorded in them and hands the rest back as written.

use serde::Serialize;

use crate::db::Store;
use crate::error::Result;
use crate::types::GenerationStats;

/// One finished (or stopped) reply's timings with the settings it was started with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplySpeed {
    pub settings: serde_json::Value,
    pub stats: GenerationStats,
    pub created_at: i64,
}

type Row = (
    String,
    Option<u32>,
    Option<u32>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    i64,
);

impl Store {
    /// The newest `limit` replies whose settings record `model` and that have a decode speed,
    /// newest first. Rows whose settings are not JSON are passed over.
    pub async fn reply_speeds(&self, model: &str, limit: u32) -> Result<Vec<ReplySpeed>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT settings, prompt_tokens, generated_tokens, vision_ms, prefill_ms, decode_ms,
                    tokens_per_s, created_at
             FROM messages
             WHERE role = 'assistant' AND status IN ('complete', 'stopped')
               AND tokens_per_s IS NOT NULL AND settings IS NOT NULL
               AND CASE WHEN json_valid(settings) THEN json_extract(settings, '$.model') END = ?1
             ORDER BY created_at DESC, id DESC
             LIMIT ?2",
        )
        .bind(model)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(ReplySpeed {
                    settings: serde_json::from_str(&r.0).ok()?,
                    stats: GenerationStats {
                        prompt_tokens: r.1,
                        generated_tokens: r.2,
                        vision_ms: r.3,
                        prefill_ms: r.4,
                        decode_ms: r.5,
                        tokens_per_s: r.6,
                        ..GenerationStats::default()
                    },
                    created_at: r.7,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Finish, NewMessage, Outcome, Store};

    use super::*;

    async fn reply(
        store: &Store,
        settings: serde_json::Value,
        tokens_per_s: Option<f64>,
        outcome: Outcome,
    ) {
        let c = store
            .create_conversation("m", vec![NewMessage::user("How long is AB?")])
            .await
            .unwrap();
        let w = store
            .begin_reply(c.conversation, Some(settings))
            .await
            .unwrap();
        w.finish(Finish {
            outcome,
            final_answer: None,
            stats: GenerationStats {
                prompt_tokens: Some(300),
                generated_tokens: Some(64),
                prefill_ms: Some(1500.0),
                tokens_per_s,
                ..GenerationStats::default()
            },
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_the_models_timed_replies_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let q4k = json!({"model": "R1-Onevision-7B", "quant": "q4k"});
        reply(&store, q4k.clone(), Some(3.5), Outcome::Complete).await;
        reply(
            &store,
            json!({"model": "Qwen2.5-VL-3B-Instruct"}),
            Some(9.0),
            Outcome::Complete,
        )
        .await;
        reply(&store, q4k.clone(), None, Outcome::Complete).await;
        reply(
            &store,
            q4k.clone(),
            Some(2.0),
            Outcome::Failed("out of memory".into()),
        )
        .await;
        reply(
            &store,
            json!({"model": "R1-Onevision-7B", "quant": "q8_0"}),
            Some(2.5),
            Outcome::Stopped,
        )
        .await;

        let found = store.reply_speeds("R1-Onevision-7B", 10).await.unwrap();
        let speeds: Vec<_> = found.iter().map(|r| r.stats.tokens_per_s).collect();
        assert_eq!(speeds, [Some(2.5), Some(3.5)]);
        assert_eq!(found[1].settings, q4k);
        assert_eq!(found[1].stats.prompt_tokens, Some(300));
        assert_eq!(found[1].stats.prefill_ms, Some(1500.0));
        assert_eq!(
            store
                .reply_speeds("R1-Onevision-7B", 1)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn settings_that_are_not_json_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        reply(
            &store,
            json!({"model": "R1-Onevision-7B"}),
            Some(3.5),
            Outcome::Complete,
        )
        .await;
        sqlx::query("UPDATE messages SET settings = '{not json' WHERE role = 'assistant'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(store
            .reply_speeds("R1-Onevision-7B", 10)
            .await
            .unwrap()
            .is_empty());
    }
}
