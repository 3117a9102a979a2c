//! How fast a model runs on this computer, from the replies it gave here: per device, precision
//! and quantisation, the median decode and prompt-reading speed of its newest replies. What the
//! model panel shows beside the precision choices (the student's own numbers, not a table's).

use std::collections::BTreeMap;

use onevision_store::ReplySpeed;
use serde::Serialize;

/// Replies looked at per precision: enough for a steady median, recent enough to follow the
/// machine (a new driver, another thread count).
const PER_PRECISION: usize = 20;
/// Shorter replies say little about the decode speed (their few tokens are mostly start-up).
const MIN_GENERATED_TOKENS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredSpeed {
    pub device: String,
    pub dtype: String,
    pub quant: String,
    /// Replies the medians are taken over.
    pub replies: usize,
    /// Tokens written per second.
    pub decode_tok_s: f64,
    /// Prompt tokens (the picture's included) read per second, when the replies timed it.
    pub prefill_tok_s: Option<f64>,
    /// When the newest of them was written (Unix ms).
    pub last_at: i64,
}

/// `replies` newest first, as the store gives them; the result is newest precision first.
pub fn summarise(replies: &[ReplySpeed]) -> Vec<MeasuredSpeed> {
    let mut groups: BTreeMap<(String, String, String), Vec<&ReplySpeed>> = BTreeMap::new();
    let timed = replies.iter().filter(|r| {
        r.stats.tokens_per_s.is_some()
            && r.stats
                .generated_tokens
                .is_some_and(|n| n >= MIN_GENERATED_TOKENS)
    });
    for r in timed {
        if let Some(key) = precision(&r.settings) {
            let group = groups.entry(key).or_default();
            if group.len() < PER_PRECISION {
                group.push(r);
            }
        }
    }
    let mut speeds: Vec<MeasuredSpeed> = groups
        .into_iter()
        .map(|((device, dtype, quant), g)| MeasuredSpeed {
            device,
            dtype,
            quant,
            replies: g.len(),
            decode_tok_s: median(g.iter().filter_map(|r| r.stats.tokens_per_s)).unwrap_or(0.0),
            prefill_tok_s: median(g.iter().filter_map(|r| prefill_rate(r))),
            last_at: g.iter().map(|r| r.created_at).max().unwrap_or(0),
        })
        .collect();
    speeds.sort_by_key(|s| std::cmp::Reverse(s.last_at));
    speeds
}

/// The device, dtype and quantisation the app recorded for a local model's reply; replies from
/// before it recorded them (or from a server) have none.
fn precision(settings: &serde_json::Value) -> Option<(String, String, String)> {
    let field = |k: &str| settings.get(k)?.as_str().map(str::to_owned);
    Some((field("device")?, field("dtype")?, field("quant")?))
}

fn prefill_rate(r: &ReplySpeed) -> Option<f64> {
    let tokens = f64::from(r.stats.prompt_tokens?);
    let ms = r.stats.prefill_ms.filter(|&ms| ms > 0.0)?;
    Some(tokens * 1e3 / ms)
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use onevision_store::GenerationStats;
    use serde_json::json;

    use super::*;

    fn reply(quant: &str, tokens_per_s: f64, generated: u32, at: i64) -> ReplySpeed {
        ReplySpeed {
            settings: json!({"model": "R1-Onevision-7B", "device": "cpu", "dtype": "f32", "quant": quant}),
            stats: GenerationStats {
                prompt_tokens: Some(400),
                generated_tokens: Some(generated),
                prefill_ms: Some(40_000.0 / tokens_per_s),
                tokens_per_s: Some(tokens_per_s),
                ..GenerationStats::default()
            },
            created_at: at,
        }
    }

    #[test]
    fn medians_per_precision_newest_first() {
        let replies = vec![
            reply("q8_0", 2.0, 200, 50),
            reply("q4k", 4.0, 300, 40),
            reply("q4k", 3.0, 500, 30),
            reply("q4k", 9.0, 5, 20),
            reply("q4k", 3.6, 100, 10),
        ];
        let s = summarise(&replies);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].quant.as_str(), s[0].replies, s[0].decode_tok_s),
            ("q8_0", 1, 2.0)
        );
        // The 5-token reply is left out; the median of 4.0, 3.0 and 3.6.
        assert_eq!(
            (s[1].quant.as_str(), s[1].replies, s[1].decode_tok_s),
            ("q4k", 3, 3.6)
        );
        // 400 prompt tokens in 40000 / 3.6 ms.
        assert!((s[1].prefill_tok_s.unwrap() - 36.0).abs() < 1e-9);
        assert_eq!(s[1].last_at, 40);
    }

    #[test]
    fn only_the_newest_replies_of_a_precision_count() {
        let mut replies: Vec<ReplySpeed> = (0..PER_PRECISION as i64)
            .map(|i| reply("q4k", 5.0, 64, 1000 - i))
            .collect();
        replies.extend((0..10).map(|i| reply("q4k", 1.0, 64, 100 - i)));
        let s = summarise(&replies);
        assert_eq!(s[0].replies, PER_PRECISION);
        assert_eq!(s[0].decode_tok_s, 5.0);
    }

    #[test]
    fn replies_without_a_recorded_precision_or_prefill_are_passed_over() {
        let mut old = reply("q4k", 3.0, 64, 1);
        old.settings = json!({"model": "R1-Onevision-7B", "temperature": 0.6});
        let mut no_prefill = reply("none", 1.5, 64, 2);
        no_prefill.stats.prefill_ms = None;
        let s = summarise(&[old, no_prefill]);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].quant.as_str(), s[0].decode_tok_s, s[0].prefill_tok_s),
            ("none", 1.5, None)
        );
        assert!(summarise(&[]).is_empty());
    }
}
