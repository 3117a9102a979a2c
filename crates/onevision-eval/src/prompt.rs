//! The question as the model is asked it: the hint, the question, its lettered options, inside
//! the model family's preset (DESIGN.md §3), with the pictures first.

use onevision_engine::preset::PromptPreset;
use onevision_engine::prompt::{Message, Part, Role};

use crate::item::Item;

/// The question's text with its options, before the preset wraps it.
pub fn question_text(item: &Item) -> String {
    let mut text = String::new();
    if let Some(h) = &item.hint {
        text.push_str("Hint: ");
        text.push_str(h);
        text.push('\n');
    }
    text.push_str(item.question.trim());
    if !item.options.is_empty() {
        text.push_str("\nOptions:");
        for (l, o) in &item.options {
            text.push_str(&format!("\n{l}. {}", o.trim()));
        }
    }
    text
}

/// The one user turn: every picture, then the wrapped question.
pub fn messages(item: &Item, pictures: usize, preset: PromptPreset) -> Vec<Message> {
    let mut parts: Vec<Part> = (0..pictures).map(Part::Image).collect();
    parts.push(Part::Text(preset.wrap(&question_text(item))));
    vec![Message {
        role: Role::User,
        parts,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_lettered_after_the_question() {
        let item = Item {
            index: "3".into(),
            line: 4,
            question: "Which angle is largest?".into(),
            hint: Some("Angles are in degrees.".into()),
            options: vec![('A', "∠A".into()), ('B', "∠B".into())],
            answer: "A".into(),
            pictures: vec![],
            groups: Default::default(),
        };
        assert_eq!(
            question_text(&item),
            "Hint: Angles are in degrees.\nWhich angle is largest?\nOptions:\nA. ∠A\nB. ∠B"
        );
        let m = messages(&item, 1, PromptPreset::R1Onevision);
        assert_eq!(m[0].parts[0], Part::Image(0));
        match &m[0].parts[1] {
            Part::Text(t) => {
                assert!(t.starts_with("Hint: Please answer the question") && t.ends_with("B. ∠B"))
            }
            other => panic!("expected text, got {other:?}"),
        }
    }
}
