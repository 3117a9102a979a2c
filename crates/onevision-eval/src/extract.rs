//! Where a reply states its answer, read as a careful grader reads: the answer section first
//! (`<answer>…</answer>`, else what follows `</think>`), never the thinking; in it the last
//! `\boxed{}`, else the last "Answer:" / "the final answer is" line, else a short section whole.

use std::sync::OnceLock;

use regex::Regex;

use crate::number::balanced;

/// Where the answer section came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    AnswerTag,
    AfterThink,
    WholeReply,
}

/// Which rule found the answer in the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Boxed,
    AnswerLine,
    ShortSection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub text: String,
    pub rule: Rule,
}

/// A short section is taken whole (`<answer>B</answer>`, `<answer>12 cm</answer>`).
const SHORT_SECTION_MAX_CHARS: usize = 200;

/// The part of `reply` that states the answer; `None` when the reply never left its thinking.
pub fn answer_section(reply: &str) -> Option<(&str, SectionKind)> {
    if let Some(at) = reply.rfind("<answer>") {
        let rest = &reply[at + "<answer>".len()..];
        let end = rest.find("</answer>").unwrap_or(rest.len());
        return Some((&rest[..end], SectionKind::AnswerTag));
    }
    if let Some(at) = reply.rfind("</think>") {
        return Some((&reply[at + "</think>".len()..], SectionKind::AfterThink));
    }
    if reply.contains("<think>") {
        return None;
    }
    Some((reply, SectionKind::WholeReply))
}

/// The answer stated in a section, by the first rule that finds one.
pub fn candidate(section: &str) -> Option<Extracted> {
    if let Some(b) = last_boxed(section) {
        return Some(Extracted {
            text: b.trim().to_string(),
            rule: Rule::Boxed,
        });
    }
    if let Some(line) = last_answer_line(section) {
        return Some(Extracted {
            text: tidy(&line),
            rule: Rule::AnswerLine,
        });
    }
    let whole = section.trim();
    if !whole.is_empty()
        && !whole.contains('\n')
        && whole.chars().count() <= SHORT_SECTION_MAX_CHARS
    {
        return Some(Extracted {
            text: tidy(whole),
            rule: Rule::ShortSection,
        });
    }
    None
}

/// The answer a reply states, or `None` when it states none where a grader looks.
pub fn extract(reply: &str) -> Option<Extracted> {
    answer_section(reply).and_then(|(s, _)| candidate(s))
}

/// Surrounding `$`, bold and a closing full stop removed.
fn tidy(s: &str) -> String {
    let s = s.replace("**", "");
    let s = s.trim().trim_end_matches('.').trim();
    let s = s
        .strip_prefix("$$")
        .and_then(|x| x.strip_suffix("$$"))
        .or_else(|| s.strip_prefix('$').and_then(|x| x.strip_suffix('$')))
        .unwrap_or(s);
    s.trim().trim_end_matches('.').trim().to_string()
}

/// The content of the last `\boxed{…}` (or `\fbox{…}`) whose braces close.
pub fn last_boxed(text: &str) -> Option<String> {
    let mut found = None;
    for name in ["\\boxed", "\\fbox"] {
        let mut from = 0;
        while let Some(rel) = text[from..].find(name) {
            let at = from + rel;
            let after = text[at + name.len()..].trim_start();
            if let Some((inner, _)) = balanced(after) {
                if found.as_ref().is_none_or(|(pos, _)| at > *pos) {
                    found = Some((at, inner.to_string()));
                }
            }
            from = at + name.len();
        }
    }
    found.map(|(_, inner)| inner)
}

fn answer_line_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)(?:final answer|correct answer|correct option|correct choice|answer)\s*(?:is\b|:)\s*:?",
        )
        .expect("the answer-line pattern is valid")
    })
}

/// What follows the last "Answer:" / "the final answer is" in the section, to the end of its
/// line (or the next line when the marker ends its own).
fn last_answer_line(section: &str) -> Option<String> {
    let lines: Vec<String> = section.lines().map(|l| l.replace("**", "")).collect();
    for (i, line) in lines.iter().enumerate().rev() {
        let Some(m) = answer_line_pattern().find_iter(line).last() else {
            continue;
        };
        let rest = line[m.end()..].trim();
        if !rest.is_empty() {
            return Some(rest.to_string());
        }
        if let Some(next) = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
        {
            return Some(next.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(reply: &str) -> Option<String> {
        extract(reply).map(|e| e.text)
    }

    #[test]
    fn sections() {
        assert_eq!(
            answer_section("<think>a</think><answer>B</answer>"),
            Some(("B", SectionKind::AnswerTag))
        );
        assert_eq!(
            answer_section("<think>a</think>\nSo 4."),
            Some(("\nSo 4.", SectionKind::AfterThink))
        );
        assert_eq!(answer_section("<think>never closed \\boxed{3}"), None);
        assert_eq!(
            answer_section("The answer is 3."),
            Some(("The answer is 3.", SectionKind::WholeReply))
        );
        assert_eq!(
            answer_section("<think>x</think><answer>unclosed 5"),
            Some(("unclosed 5", SectionKind::AnswerTag))
        );
    }

    #[test]
    fn candidates_by_rule() {
        assert_eq!(
            ex("<answer>\\boxed{\\frac{1}{2}}</answer>"),
            Some("\\frac{1}{2}".into())
        );
        assert_eq!(ex("$\\boxed{1}$ and then $\\boxed{2}$"), Some("2".into()));
        assert_eq!(ex("\\fbox{7} later \\boxed{8}"), Some("8".into()));
        assert_eq!(ex("**Answer:** B."), Some("B".into()));
        assert_eq!(
            ex("Long prose.\nThe final answer is $12$."),
            Some("12".into())
        );
        assert_eq!(ex("work\nAnswer:\n\n C"), Some("C".into()));
        assert_eq!(
            ex("Therefore, the correct option is (B)."),
            Some("(B)".into())
        );
        assert_eq!(ex("<answer> 42 </answer>"), Some("42".into()));
        assert_eq!(ex("<think>The answer is B</think>"), None);
        assert_eq!(
            ex("<think>\\boxed{B}</think>\nI am not sure.\nMaybe.\n"),
            None
        );
        assert_eq!(ex("<answer></answer>"), None);
        assert_eq!(ex("\\boxed{unclosed"), Some("\\boxed{unclosed".into()));
    }
}
