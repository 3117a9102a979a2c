//! One reply scored by the rules: the answer it states, and whether that is the reference.

use crate::compare::{self, Verdict};
use crate::extract::{self, Rule, SectionKind};
use crate::item::Item;

#[derive(Debug, Clone, PartialEq)]
pub struct RuleScore {
    /// The section a grader reads; `None` when the reply never left its thinking.
    pub section: Option<(String, SectionKind)>,
    /// What it states, and by which rule it was found; `None`: nothing found.
    pub extracted: Option<(String, Rule)>,
    pub verdict: Verdict,
}

impl RuleScore {
    /// Whether a judge could still decide: something was said that the rules cannot compare
    /// (or prose without a marker). A reply that never finished thinking stays wrong.
    pub fn needs_judge(&self) -> bool {
        match (&self.section, &self.extracted) {
            (None, _) => false,
            (Some((s, _)), None) => !s.trim().is_empty(),
            (Some(_), Some(_)) => self.verdict == Verdict::Undecided,
        }
    }
}

/// The rules' reading of `reply` for `item`.
pub fn score(item: &Item, reply: &str) -> RuleScore {
    let section = extract::answer_section(reply);
    let extracted = section.and_then(|(s, _)| extract::candidate(s));
    let verdict = match &extracted {
        None => Verdict::Wrong,
        Some(e) => match reference_letter(item) {
            Some(right) => compare::choice(&e.text, &item.options, right).0,
            None => compare::value(&e.text, &item.answer),
        },
    };
    RuleScore {
        section: section.map(|(s, k)| (s.trim().to_string(), k)),
        extracted: extracted.map(|e| (e.text, e.rule)),
        verdict,
    }
}

/// The right letter when the item is multiple choice: it has options, or its reference is a
/// lone letter (options written into the question).
fn reference_letter(item: &Item) -> Option<char> {
    let a = item.answer.trim();
    let mut chars = a.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if ('A'..='J').contains(&c.to_ascii_uppercase()) => {
            Some(c.to_ascii_uppercase())
        }
        _ if item.is_multiple_choice() => compare::letter(a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(answer: &str, options: &[(char, &str)]) -> Item {
        Item {
            index: "1".into(),
            line: 2,
            question: "q".into(),
            hint: None,
            options: options.iter().map(|(l, t)| (*l, t.to_string())).collect(),
            answer: answer.into(),
            pictures: vec![],
            groups: Default::default(),
        }
    }

    #[test]
    fn a_letter_in_the_thinking_never_counts() {
        let it = item("B", &[('A', "1"), ('B', "2")]);
        let s = score(
            &it,
            "<think>It is B, surely</think>\nI cannot tell.\nThe figure is unclear.\n",
        );
        assert_eq!(s.extracted, None);
        assert_eq!(s.verdict, Verdict::Wrong);
        assert!(s.needs_judge());
        let s = score(&it, "<think>It is B, surely. \\boxed{B}");
        assert_eq!(s.verdict, Verdict::Wrong);
        assert!(!s.needs_judge());
    }

    #[test]
    fn free_form_and_choice() {
        let it = item("0.5", &[]);
        assert_eq!(
            score(
                &it,
                "<think>…</think><answer>\\boxed{\\frac{1}{2}}</answer>"
            )
            .verdict,
            Verdict::Correct
        );
        let it = item("C", &[]);
        assert_eq!(score(&it, "The answer is (c).").verdict, Verdict::Correct);
        let s = score(&it, "The answer is the third one.");
        assert_eq!(s.verdict, Verdict::Undecided);
        assert!(s.needs_judge());
    }
}
