//! The automatic title of a conversation, made from its first question so the history list is
//! readable without the user naming anything.

/// Longest automatic title, in characters (not bytes: titles are often not ASCII).
pub const TITLE_MAX_CHARS: usize = 60;

/// Title of a conversation with no question text (for example a picture sent alone).
pub const UNTITLED: &str = "Untitled conversation";

/// The first non-blank line of `question`, cut at a word boundary to at most
/// [`TITLE_MAX_CHARS`] characters plus an ellipsis.
pub fn title_from_question(question: &str) -> String {
    let Some(line) = question.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return UNTITLED.to_owned();
    };
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= TITLE_MAX_CHARS {
        return line;
    }
    // Byte offset just past the first TITLE_MAX_CHARS characters.
    let limit = line
        .char_indices()
        .nth(TITLE_MAX_CHARS)
        .map_or(line.len(), |(i, _)| i);
    let head = &line[..limit];
    // Cut at the last space if that keeps at least half the title; a single very long "word"
    // (a formula, a URL) is cut mid-word instead of leaving almost nothing.
    let cut = match head.rfind(' ') {
        Some(space) if head[..space].chars().count() >= TITLE_MAX_CHARS / 2 => &head[..space],
        _ => head,
    };
    format!("{}…", cut.trim_end_matches([' ', ',', ';', ':', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_question_is_its_own_title() {
        assert_eq!(title_from_question("  What is x?  "), "What is x?");
    }

    #[test]
    fn takes_the_first_non_blank_line() {
        assert_eq!(
            title_from_question("\n\n  Find the angle ABC.\nGiven: AB = BC"),
            "Find the angle ABC."
        );
    }

    #[test]
    fn long_question_is_cut_at_a_word_boundary() {
        let q = "In the figure, triangle ABC is inscribed in a circle with centre O and the tangent at A meets BC extended at D";
        let t = title_from_question(q);
        assert_eq!(
            t,
            "In the figure, triangle ABC is inscribed in a circle with…"
        );
        assert!(t.chars().count() <= TITLE_MAX_CHARS + 1);
        assert!(q.starts_with(t.trim_end_matches('…')));
    }

    #[test]
    fn long_word_is_cut_mid_word_and_multibyte_is_safe() {
        let q = "√".repeat(100);
        let t = title_from_question(&q);
        assert_eq!(t.chars().count(), TITLE_MAX_CHARS + 1);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn blank_question_gets_a_placeholder() {
        assert_eq!(title_from_question(" \n\t"), UNTITLED);
    }
}
