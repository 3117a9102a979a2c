//! Full-text search over questions, thinking and answers (SQLite FTS5, ranked by BM25).
//!
//! Snippets mark matched words with [`HIGHLIGHT_START`] (U+0002) and [`HIGHLIGHT_END`] (U+0003):
//! control characters that do not occur in typed or generated text and mean nothing to HTML or
//! Markdown, so the UI can split on them and render the pieces as plain text nodes, never as
//! markup. [`SearchHit::segments`] does that split.

use serde::{Deserialize, Serialize};

use crate::db::Store;
use crate::error::Result;
use crate::types::{ConversationId, MessageId, Role};

/// Opens a highlighted match in [`SearchHit::snippet`].
pub const HIGHLIGHT_START: char = '\u{2}';
/// Closes a highlighted match in [`SearchHit::snippet`].
pub const HIGHLIGHT_END: char = '\u{3}';
/// Stands for text left out at either end of a snippet.
pub const ELLIPSIS: &str = "…";

/// BM25 column weights (text, think, answer): the question and the answer are what a user
/// remembers; long thinking mentions everything and would otherwise drown them.
const WEIGHTS: &str = "2.0, 0.5, 1.0";

/// What to look for. Words must all occur (in any order, in any of the three fields); the last
/// word also matches as a prefix, so results appear while the user is still typing it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub text: String,
    /// Only conversations with this model.
    pub model_id: Option<String>,
    /// Only conversations last updated at or after this time (Unix ms): the same date the
    /// history list groups them by.
    pub from_ms: Option<i64>,
    /// Only conversations last updated before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Most conversations to return; 0 means 50.
    pub limit: u32,
}

impl SearchQuery {
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            ..SearchQuery::default()
        }
    }
}

/// The best-matching message of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub conversation_id: ConversationId,
    pub title: String,
    pub model_id: String,
    pub conversation_updated_at: i64,
    pub message_id: MessageId,
    pub role: Role,
    /// A short excerpt around the match, highlights marked (see the module docs).
    pub snippet: String,
    /// Relevance (negated BM25): higher is better; only comparable within one search.
    pub score: f64,
}

impl SearchHit {
    /// The snippet as `(highlighted, text)` pieces, in order, for rendering as text nodes.
    pub fn segments(&self) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut highlighted = false;
        let mut rest = self.snippet.as_str();
        while !rest.is_empty() {
            let marker = if highlighted {
                HIGHLIGHT_END
            } else {
                HIGHLIGHT_START
            };
            let (piece, next) = match rest.find(marker) {
                Some(i) => (&rest[..i], &rest[i + marker.len_utf8()..]),
                None => (rest, ""),
            };
            if !piece.is_empty() {
                out.push((highlighted, piece));
            }
            rest = next;
            highlighted = !highlighted;
        }
        out
    }
}

/// Turns what a user typed into an FTS5 query that cannot be a syntax error: every word becomes
/// a quoted string (FTS5 operators, quotes and brackets lose their meaning), words are ANDed,
/// and the last one (of two characters or more) is a prefix unless the input ends in a space.
/// `None` when nothing searchable is left.
pub fn to_fts_query(input: &str) -> Option<String> {
    let words: Vec<&str> = input
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect();
    let last = words.len().checked_sub(1)?;
    let open_ended = !input.ends_with(char::is_whitespace);
    let mut query = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            query.push(' ');
        }
        query.push('"');
        query.push_str(&word.replace('"', "\"\""));
        query.push('"');
        // A one-letter prefix matches nearly every row and costs a full scan; wait for two.
        if i == last && open_ended && word.chars().count() >= 2 {
            query.push('*');
        }
    }
    Some(query)
}

/// Most matches ranked for one search. A query matching more messages than this (a word found
/// in most of the history, or a one-syllable prefix being typed) ranks only the most recently
/// stored ones: its words are so common that BM25 barely tells the matches apart, and ranking
/// them all is what would make the search slow (20 ms for 30,000 matches).
pub const RANKED_MATCHES_MAX: u32 = 5_000;

/// Matches ranked per round before grouping by conversation: enough for `limit` conversations
/// unless conversations have many matching messages, in which case the window grows.
const WINDOW_PER_RESULT: u32 = 4;

#[derive(sqlx::FromRow)]
struct Ranked {
    message_id: i64,
    conversation_id: i64,
    rank: f64,
}

#[derive(sqlx::FromRow)]
struct Details {
    message_id: i64,
    conversation_id: ConversationId,
    title: String,
    model_id: String,
    updated_at: i64,
    role: Role,
}

impl Store {
    /// Searches the history and returns at most one hit per conversation (its best message),
    /// best first. Replies still streaming are not indexed until they finish.
    ///
    /// Ranking is the cost that grows with the history, so it is bounded twice. Only the best
    /// `limit × 4` matches (after filters) are grouped by conversation, the window widening
    /// only when they cover too few conversations; that is exact, since a conversation left out
    /// has no message ranked better than those inside. And at most [`RANKED_MATCHES_MAX`]
    /// matches, the most recently stored, are ranked at all; that is not exact, on purpose.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let Some(fts) = to_fts_query(&query.text) else {
            return Ok(Vec::new());
        };
        let limit = if query.limit == 0 { 50 } else { query.limit };
        let filtered =
            query.model_id.is_some() || query.from_ms.is_some() || query.until_ms.is_some();
        // bm25() must run in the query that scans the FTS table, before any grouping. That
        // inner query walks the matches newest first (FTS5 does so without sorting) and stops
        // after RANKED_MATCHES_MAX that pass the filters, so bm25() runs at most that often;
        // the outer one keeps the best `window`. With no filter the messages are looked up
        // only for the window. Ties go by message id so a search always gives the same list.
        let window_sql = if filtered {
            format!(
                "SELECT * FROM (
                     SELECT f.rowid AS message_id, m.conversation_id,
                            bm25(messages_fts, {WEIGHTS}) AS rank
                     FROM messages_fts f
                     JOIN messages m INDEXED BY messages_conversation_of ON m.id = f.rowid
                     JOIN conversations c ON c.id = m.conversation_id
                     WHERE messages_fts MATCH ?1
                       AND (?2 IS NULL OR c.model_id = ?2)
                       AND (?3 IS NULL OR c.updated_at >= ?3)
                       AND (?4 IS NULL OR c.updated_at < ?4)
                     ORDER BY f.rowid DESC LIMIT ?6)
                 ORDER BY rank, message_id LIMIT ?5"
            )
        } else {
            format!(
                "SELECT h.message_id, m.conversation_id, h.rank
                 FROM (SELECT * FROM (
                           SELECT rowid AS message_id, bm25(messages_fts, {WEIGHTS}) AS rank
                           FROM messages_fts WHERE messages_fts MATCH ?1
                           ORDER BY rowid DESC LIMIT ?6)
                       ORDER BY rank, message_id LIMIT ?5) h
                 JOIN messages m INDEXED BY messages_conversation_of ON m.id = h.message_id
                 ORDER BY h.rank, h.message_id"
            )
        };

        // One read transaction: the ranking and the details come from the same snapshot.
        let mut tx = self.pool().begin().await?;
        let mut window = i64::from(limit) * i64::from(WINDOW_PER_RESULT);
        let best = loop {
            let rows: Vec<Ranked> = sqlx::query_as(&window_sql)
                .bind(&fts)
                .bind(&query.model_id)
                .bind(query.from_ms)
                .bind(query.until_ms)
                .bind(window)
                .bind(i64::from(RANKED_MATCHES_MAX))
                .fetch_all(&mut *tx)
                .await?;
            let complete = (rows.len() as i64) < window;
            let mut seen = std::collections::HashSet::new();
            let best: Vec<Ranked> = rows
                .into_iter()
                .filter(|r| seen.insert(r.conversation_id))
                .take(limit as usize)
                .collect();
            if complete || best.len() >= limit as usize {
                break best;
            }
            window = window.saturating_mul(8);
        };
        if best.is_empty() {
            return Ok(Vec::new());
        }

        let message_ids: Vec<i64> = best.iter().map(|r| r.message_id).collect();
        let ids = serde_json::to_string(&message_ids)?;
        let (first, last) = message_ids
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &id| {
                (lo.min(id), hi.max(id))
            });
        // One pass over the matches in the id range, not one lookup per id: each lookup
        // re-evaluates the query, and a prefix query merges the lists of every word it covers
        // (30 ms for 50 snippets of a common prefix, against 2 ms). The `+` keeps SQLite from
        // turning the IN list back into lookups.
        let snippets: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT rowid, snippet(messages_fts, -1, char(2), char(3), '{ELLIPSIS}', 16)
             FROM messages_fts
             WHERE messages_fts MATCH ?1 AND rowid BETWEEN ?3 AND ?4
               AND +rowid IN (SELECT value FROM json_each(?2))"
        ))
        .bind(&fts)
        .bind(&ids)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *tx)
        .await?;
        let details: Vec<Details> = sqlx::query_as(
            "SELECT m.id AS message_id, m.conversation_id, c.title, c.model_id, c.updated_at, m.role
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let mut snippets: std::collections::HashMap<i64, String> = snippets.into_iter().collect();
        let mut details: std::collections::HashMap<i64, Details> =
            details.into_iter().map(|d| (d.message_id, d)).collect();
        Ok(best
            .into_iter()
            .filter_map(|r| {
                let d = details.remove(&r.message_id)?;
                Some(SearchHit {
                    conversation_id: d.conversation_id,
                    title: d.title,
                    model_id: d.model_id,
                    conversation_updated_at: d.updated_at,
                    message_id: MessageId(r.message_id),
                    role: d.role,
                    snippet: snippets.remove(&r.message_id).unwrap_or_default(),
                    score: -r.rank,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_is_quoted_and_the_last_word_is_a_prefix() {
        assert_eq!(
            to_fts_query("right triang").as_deref(),
            Some("\"right\" \"triang\"*")
        );
        assert_eq!(to_fts_query("angle ").as_deref(), Some("\"angle\""));
        assert_eq!(
            to_fts_query("a\"b OR NEAR(").as_deref(),
            Some("\"a\"\"b\" \"OR\" \"NEAR(\"*")
        );
        assert_eq!(to_fts_query("x"), Some("\"x\"".into()));
        assert_eq!(to_fts_query("  + - "), None);
        assert_eq!(to_fts_query(""), None);
    }

    #[test]
    fn segments_split_on_the_markers() {
        let hit = SearchHit {
            conversation_id: ConversationId(1),
            title: String::new(),
            model_id: String::new(),
            conversation_updated_at: 0,
            message_id: MessageId(1),
            role: Role::User,
            snippet: "…the \u{2}hypotenuse\u{3} of \u{2}ABC\u{3}".into(),
            score: 1.0,
        };
        assert_eq!(
            hit.segments(),
            vec![
                (false, "…the "),
                (true, "hypotenuse"),
                (false, " of "),
                (true, "ABC")
            ]
        );
    }
}
