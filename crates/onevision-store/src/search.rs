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
    /// Only messages written at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only messages written before this time (Unix ms).
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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
/// and the last one is a prefix unless the input ends in a space. `None` when nothing
/// searchable is left.
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
        if i == last && open_ended {
            query.push('*');
        }
    }
    Some(query)
}

impl Store {
    /// Searches the history and returns at most one hit per conversation, best first. Replies
    /// still streaming are not indexed until they finish.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let Some(fts) = to_fts_query(&query.text) else {
            return Ok(Vec::new());
        };
        let limit = if query.limit == 0 { 50 } else { query.limit };
        // Rank every match, keep each conversation's best message, then make snippets only for
        // the rows returned: snippet() reads the message text back, which is the costly part.
        let sql = format!(
            "WITH hits AS MATERIALIZED (
                 SELECT rowid AS message_id, bm25(messages_fts, {WEIGHTS}) AS rank
                 FROM messages_fts WHERE messages_fts MATCH ?1
             ),
             best AS (
                 SELECT m.conversation_id, h.message_id, MIN(h.rank) AS rank
                 FROM hits h
                 JOIN messages m ON m.id = h.message_id
                 JOIN conversations c ON c.id = m.conversation_id
                 WHERE (?2 IS NULL OR c.model_id = ?2)
                   AND (?3 IS NULL OR m.created_at >= ?3)
                   AND (?4 IS NULL OR m.created_at < ?4)
                 GROUP BY m.conversation_id
                 ORDER BY rank
                 LIMIT ?5
             )
             SELECT b.conversation_id, c.title, c.model_id, c.updated_at AS conversation_updated_at,
                    b.message_id, m.role, -b.rank AS score,
                    COALESCE((SELECT snippet(messages_fts, -1, char(2), char(3), '{ELLIPSIS}', 16)
                     FROM messages_fts WHERE messages_fts MATCH ?1 AND rowid = b.message_id), '')
                        AS snippet
             FROM best b
             JOIN conversations c ON c.id = b.conversation_id
             JOIN messages m ON m.id = b.message_id
             ORDER BY b.rank"
        );
        Ok(sqlx::query_as(&sql)
            .bind(&fts)
            .bind(&query.model_id)
            .bind(query.from_ms)
            .bind(query.until_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
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
