//! Comparing a stated answer with the reference: a letter against a letter (an option's text
//! counts as its letter), a number against a number, otherwise text once notation is set aside.

use std::sync::OnceLock;

use regex::Regex;

use crate::number::{self, strip_markup};

/// What the rules conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Correct,
    Wrong,
    /// The rules cannot tell (prose, an expression): a judge may, else it counts as wrong.
    Undecided,
}

fn letter_patterns() -> &'static [Regex; 3] {
    static RE: OnceLock<[Regex; 3]> = OnceLock::new();
    RE.get_or_init(|| {
        [
            // "(B)", "[b] 12 cm"
            Regex::new(r"^[\(\[]\s*([A-Ja-j])\s*[\)\]]"),
            // "B", "b.", "C) 12", "D: text"
            Regex::new(r"^([A-Ja-j])(?:[.):]|$)"),
            // "Option C", "choice (d)"
            Regex::new(r"(?i)^(?:option|choice)\s*[\(\[]?\s*([A-J])\s*[\)\]]?(?:[.):\s]|$)"),
        ]
        .map(|r| r.expect("the letter patterns are valid"))
    })
}

/// The option letter an answer names by letter, upper-cased.
pub fn letter(answer: &str) -> Option<char> {
    let s = strip_markup(answer);
    let s = s.trim();
    letter_patterns().iter().find_map(|re| {
        re.captures(s)
            .and_then(|c| c.get(1))
            .and_then(|m| m.as_str().chars().next())
            .map(|c| c.to_ascii_uppercase())
    })
}

/// Text with notation set aside: case, spaces, `$`, `\text{}`, `\left`/`\right`, a final full
/// stop.
pub fn normalise(text: &str) -> String {
    strip_markup(text)
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The letter of the one option the answer states by its text or its value.
fn option_named(answer: &str, options: &[(char, String)]) -> Option<char> {
    let said = normalise(answer);
    let by_text: Vec<char> = options
        .iter()
        .filter(|(_, t)| normalise(t) == said)
        .map(|(l, _)| *l)
        .collect();
    if by_text.len() == 1 {
        return Some(by_text[0]);
    }
    let value = number::parse(answer)?;
    let by_value: Vec<char> = options
        .iter()
        .filter(|(_, t)| number::parse(t).is_some_and(|v| number::same(value, v)))
        .map(|(l, _)| *l)
        .collect();
    (by_value.len() == 1).then(|| by_value[0])
}

/// A multiple-choice answer against the right letter.
pub fn choice(answer: &str, options: &[(char, String)], right: char) -> (Verdict, Option<char>) {
    match letter(answer).or_else(|| option_named(answer, options)) {
        Some(l) if l == right.to_ascii_uppercase() => (Verdict::Correct, Some(l)),
        Some(l) => (Verdict::Wrong, Some(l)),
        None => (Verdict::Undecided, None),
    }
}

/// A free-form answer against the reference value.
pub fn value(answer: &str, reference: &str) -> Verdict {
    match (number::parse(answer), number::parse(reference)) {
        (Some(a), Some(r)) => {
            if number::same(a, r) {
                Verdict::Correct
            } else {
                Verdict::Wrong
            }
        }
        _ if normalise(answer) == normalise(reference) => Verdict::Correct,
        _ => Verdict::Undecided,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Vec<(char, String)> {
        vec![
            ('A', "12 cm".into()),
            ('B', "$\\frac{1}{2}$".into()),
            ('C', "It doubles".into()),
            ('D', "30°".into()),
        ]
    }

    #[test]
    fn letters_in_the_shapes_models_write() {
        for (s, l) in [
            ("B", 'B'),
            ("b", 'B'),
            ("(C)", 'C'),
            ("[d]", 'D'),
            ("C. It doubles", 'C'),
            ("A) 12 cm", 'A'),
            ("D:", 'D'),
            ("Option C", 'C'),
            ("option (d)", 'D'),
            ("\\text{B}", 'B'),
            ("**A**", 'A'),
        ] {
            assert_eq!(letter(s), Some(l), "{s:?}");
        }
        for s in ["A triangle", "Because", "12", "none of these", "K"] {
            assert_eq!(letter(s), None, "{s:?}");
        }
    }

    #[test]
    fn choices_by_letter_text_or_value() {
        assert_eq!(choice("(b)", &opts(), 'B').0, Verdict::Correct);
        assert_eq!(choice("A", &opts(), 'B').0, Verdict::Wrong);
        assert_eq!(choice("it doubles", &opts(), 'C').0, Verdict::Correct);
        assert_eq!(choice("0.5", &opts(), 'B').0, Verdict::Correct);
        assert_eq!(choice("12", &opts(), 'B'), (Verdict::Wrong, Some('A')));
        assert_eq!(choice("30^\\circ", &opts(), 'D').0, Verdict::Correct);
        assert_eq!(choice("It triples", &opts(), 'C').0, Verdict::Undecided);
    }

    #[test]
    fn values() {
        assert_eq!(value("12 cm", "12"), Verdict::Correct);
        assert_eq!(value("\\frac{3}{4}", "0.75"), Verdict::Correct);
        assert_eq!(value("13", "12"), Verdict::Wrong);
        assert_eq!(value("(2, 3)", "(2,3)"), Verdict::Correct);
        assert_eq!(value("\\text{Isosceles}", "isosceles"), Verdict::Correct);
        assert_eq!(value("x^2+1", "12"), Verdict::Undecided);
        assert_eq!(value("equilateral", "isosceles"), Verdict::Undecided);
    }
}
