//! Transcribe-first (DESIGN.md §10): the model first writes what the question's pictures show in a
//! formal form (LaTeX, a table, a netlist, points and angles), the student corrects it, and the
//! reasoning then runs on the pictures plus the corrected transcription. Most wrong answers start
//! from a misread figure; this makes the reading visible and fixable.
//!
//! Both passes are ordinary conversations, so they run on any engine (ours or a server). The
//! second continues the first: the pictures and the request, the transcription as the model's
//! reply, then the question. So a local engine reads the pictures' tokens (and its vision output)
//! from the first pass's cache, and only the transcription and the question are new.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::preset::PromptPreset;
use crate::prompt::{Message, Part, Role};

/// Longest transcription taken back from the student, in characters: several pages of text, far
/// more than any picture's reading; beyond it something was pasted by mistake.
pub const MAX_TRANSCRIPTION_CHARS: usize = 20_000;

/// Put before the question in the second pass.
const SOLVE_NOTE: &str = "The transcription above has been checked and corrected by the student: \
where it and the picture disagree, trust the transcription.\n\n";

/// What kind of picture the model says it read, which decides how the transcription is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PictureKind {
    Equation,
    Chart,
    Circuit,
    Geometry,
    Chemistry,
    Text,
}

impl PictureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PictureKind::Equation => "equation",
            PictureKind::Chart => "chart",
            PictureKind::Circuit => "circuit",
            PictureKind::Geometry => "geometry",
            PictureKind::Chemistry => "chemistry",
            PictureKind::Text => "text",
        }
    }

    /// The kind a word names, with the synonyms models use ("table", "diagram", "molecule").
    fn from_word(word: &str) -> Option<PictureKind> {
        let w = word.to_ascii_lowercase();
        let w = w.trim_end_matches('s');
        Some(match w {
            "equation" | "formula" | "expression" | "math" => PictureKind::Equation,
            "chart" | "table" | "graph" | "plot" | "bar chart" => PictureKind::Chart,
            "circuit" => PictureKind::Circuit,
            "geometry" | "figure" | "diagram" | "geometric figure" => PictureKind::Geometry,
            "chemistry" | "chemical" | "molecule" | "structure" | "chemical structure" => {
                PictureKind::Chemistry
            }
            "text" | "word" => PictureKind::Text,
            _ => return None,
        })
    }
}

impl fmt::Display for PictureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reading of the question's pictures: the model's, or the student's correction of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcription {
    /// `None` when the model named no kind it was offered.
    pub kind: Option<PictureKind>,
    pub text: String,
}

/// The `Kind: …` line's word, when `line` is one (bold, a heading mark or a dash allowed).
fn kind_line(line: &str) -> Option<&str> {
    let l = line
        .trim()
        .trim_start_matches('#')
        .trim()
        .trim_matches('*')
        .trim();
    let (label, rest) = l.split_once([':', '：'])?;
    if !label.trim().trim_matches('*').eq_ignore_ascii_case("kind") {
        return None;
    }
    Some(rest.trim().trim_matches(['*', '.', '`']).trim())
}

impl Transcription {
    /// Reads the model's reply (its answer part, thinking left out): a `Kind:` first line, then
    /// the transcription. A reply without the line is all transcription.
    pub fn from_reply(reply: &str) -> Transcription {
        let reply = reply.trim();
        let (first, rest) = reply.split_once('\n').unwrap_or((reply, ""));
        match kind_line(first) {
            Some(word) => Transcription {
                kind: PictureKind::from_word(word),
                text: rest.trim().to_owned(),
            },
            None => Transcription {
                kind: None,
                text: reply.to_owned(),
            },
        }
    }

    /// A transcription (the model's reply or the student's correction, a `Kind:` first line
    /// optional) that an answer can start from: refused when there is nothing to reason from or
    /// far too much to be a reading of a picture.
    pub fn read(reply: &str) -> Result<Transcription> {
        let t = Transcription::from_reply(reply);
        if t.text.is_empty() {
            return Err(EngineError::Request(
                "the transcription is empty: write what the picture shows, or ask without transcribing first".into(),
            ));
        }
        let chars = t.text.chars().count();
        if chars > MAX_TRANSCRIPTION_CHARS {
            return Err(EngineError::Request(format!(
                "the transcription is {chars} characters long, more than the {MAX_TRANSCRIPTION_CHARS} a picture's reading can need: shorten it"
            )));
        }
        Ok(t)
    }

    /// A transcription read back from the history, when it can serve an answer (an empty one
    /// cannot: its question is then shown as it was asked).
    pub fn from_saved(reading: &str) -> Option<Transcription> {
        Transcription::read(reading).ok()
    }

    /// The first pass's reply as the second pass shows it to the model: in the form it was asked
    /// for, so an unedited transcription reads as the model's own words.
    pub fn as_reply(&self) -> String {
        match self.kind {
            Some(kind) => format!("Kind: {kind}\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// The question's parts of one sort (its pictures, or its words), in order.
fn parts_where(question: &Message, keep: impl Fn(&Part) -> bool) -> Vec<Part> {
    question.parts.iter().filter(|p| keep(p)).cloned().collect()
}

/// The question at the end of `conversation`, and what came before it.
fn split_question(conversation: &[Message]) -> Result<(&Message, &[Message])> {
    conversation
        .split_last()
        .ok_or_else(|| EngineError::Request("transcribe-first needs a question to ask".into()))
}

/// The first user turn both passes share: the question's pictures and the request.
fn transcription_turn(question: &Message, preset: PromptPreset) -> Result<Message> {
    if question.role != Role::User {
        return Err(EngineError::Request(
            "transcribe-first needs the conversation to end with the student's question".into(),
        ));
    }
    let mut parts = parts_where(question, |p| matches!(p, Part::Image(_)));
    if parts.is_empty() {
        return Err(EngineError::Request(
            "transcribe-first needs a picture in the question: there is nothing to transcribe"
                .into(),
        ));
    }
    parts.push(Part::Text(preset.transcription_request()));
    Ok(Message {
        role: Role::User,
        parts,
    })
}

/// The first pass: the conversation before the question, then the question's pictures with the
/// request for a transcription. `conversation` ends with the question.
pub fn first_pass(conversation: &[Message], preset: PromptPreset) -> Result<Vec<Message>> {
    let (question, before) = split_question(conversation)?;
    let mut messages = before.to_vec();
    messages.push(transcription_turn(question, preset)?);
    Ok(messages)
}

/// A question answered from a transcription, as three turns: its pictures with the request, the
/// (corrected) transcription as the model's reply, then its words with a note to trust the
/// transcription. How a saved conversation shows such a question to the model again.
pub fn transcribed_question(
    question: &Message,
    preset: PromptPreset,
    transcription: &Transcription,
) -> Result<Vec<Message>> {
    let mut parts = vec![Part::Text(SOLVE_NOTE.to_owned())];
    parts.extend(parts_where(question, |p| matches!(p, Part::Text(_))));
    Ok(vec![
        transcription_turn(question, preset)?,
        Message::text(Role::Assistant, transcription.as_reply()),
        Message {
            role: Role::User,
            parts,
        },
    ])
}

/// Puts `reading` into a conversation being read back from the history: the question just
/// before it becomes the three turns it was answered with ([`transcribed_question`]). A reading
/// after anything but a question is left out.
pub fn attach_reading(
    messages: &mut Vec<Message>,
    preset: PromptPreset,
    reading: &Transcription,
) -> Result<()> {
    match messages.pop() {
        Some(question) if question.role == Role::User => {
            messages.extend(transcribed_question(&question, preset, reading)?);
        }
        Some(other) => messages.push(other),
        None => {}
    }
    Ok(())
}

/// The second pass: the conversation before the question, then the question answered from
/// `transcription` ([`transcribed_question`]). It continues the first pass, so a local engine
/// reads all of that from its cache.
pub fn second_pass(
    conversation: &[Message],
    preset: PromptPreset,
    transcription: &Transcription,
) -> Result<Vec<Message>> {
    let (question, before) = split_question(conversation)?;
    let mut messages = before.to_vec();
    messages.extend(transcribed_question(question, preset, transcription)?);
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question() -> Vec<Message> {
        vec![
            Message::text(Role::User, "hello"),
            Message::text(Role::Assistant, "hi"),
            Message {
                role: Role::User,
                parts: vec![
                    Part::Image(0),
                    Part::Text("What is x?".into()),
                    Part::Image(1),
                ],
            },
        ]
    }

    #[test]
    fn reads_the_kind_line_in_the_forms_models_write() {
        for (reply, kind, text) in [
            (
                "Kind: geometry\nA = (0, 0)",
                Some(PictureKind::Geometry),
                "A = (0, 0)",
            ),
            (
                "**Kind:** Chart\n\n| x | y |",
                Some(PictureKind::Chart),
                "| x | y |",
            ),
            (
                "## Kind: equations\n$x^2 = 4$",
                Some(PictureKind::Equation),
                "$x^2 = 4$",
            ),
            ("kind: table\n| a |", Some(PictureKind::Chart), "| a |"),
            ("Kind: painting\nA sunset", None, "A sunset"),
            (
                "$x + 1 = 3$\nno kind line",
                None,
                "$x + 1 = 3$\nno kind line",
            ),
            ("  Kind: circuit  ", Some(PictureKind::Circuit), ""),
        ] {
            let t = Transcription::from_reply(reply);
            assert_eq!((t.kind, t.text.as_str()), (kind, text), "{reply:?}");
        }
    }

    #[test]
    fn the_reply_goes_back_in_the_form_it_came() {
        let t = Transcription::from_reply("Kind: geometry\nAB = 3\nBC = 4");
        assert_eq!(t.as_reply(), "Kind: geometry\nAB = 3\nBC = 4");
        assert_eq!(Transcription::from_reply("AB = 3").as_reply(), "AB = 3");
    }

    #[test]
    fn empty_and_absurd_transcriptions_are_refused_with_a_reason() {
        for empty in [" \n\t", "Kind: chart\n  \n"] {
            let e = Transcription::read(empty).unwrap_err().to_string();
            assert!(e.contains("empty"), "{empty:?}: {e}");
        }
        let long = "x".repeat(MAX_TRANSCRIPTION_CHARS + 1);
        let e = Transcription::read(&long).unwrap_err().to_string();
        assert!(e.contains("20001 characters"), "{e}");
        let t = Transcription::read("Kind: text\n  AB = 3 \n").unwrap();
        assert_eq!(
            (t.kind, t.text.as_str()),
            (Some(PictureKind::Text), "AB = 3")
        );
    }

    #[test]
    fn the_first_pass_shows_the_pictures_with_the_request() {
        let m = first_pass(&question(), PromptPreset::R1OnevisionRl).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[..2], question()[..2]);
        assert_eq!(
            m[2].parts,
            vec![
                Part::Image(0),
                Part::Image(1),
                Part::Text(PromptPreset::R1OnevisionRl.transcription_request())
            ]
        );
        assert!(m[2]
            .parts
            .iter()
            .all(|p| p != &Part::Text("What is x?".into())));
    }

    #[test]
    fn the_second_pass_continues_the_first_with_the_corrected_reading() {
        let t = Transcription::read("Kind: geometry\nAB = 5").unwrap();
        let first = first_pass(&question(), PromptPreset::Plain).unwrap();
        let second = second_pass(&question(), PromptPreset::Plain, &t).unwrap();
        assert_eq!(second[..first.len()], first[..]);
        assert_eq!(
            second[first.len()],
            Message::text(Role::Assistant, "Kind: geometry\nAB = 5")
        );
        assert_eq!(
            second[first.len() + 1].parts,
            vec![
                Part::Text(SOLVE_NOTE.into()),
                Part::Text("What is x?".into())
            ]
        );
    }

    #[test]
    fn a_saved_reading_turns_its_question_back_into_the_three_turns() {
        let reading = Transcription::from_saved("Kind: geometry\nAB = 5").unwrap();
        let mut messages = question();
        attach_reading(&mut messages, PromptPreset::Plain, &reading).unwrap();
        let again = second_pass(&question(), PromptPreset::Plain, &reading).unwrap();
        assert_eq!(messages, again);
        // After a reply there is no question to attach it to.
        let mut messages = question()[..2].to_vec();
        attach_reading(&mut messages, PromptPreset::Plain, &reading).unwrap();
        assert_eq!(messages, question()[..2]);
        assert_eq!(Transcription::from_saved("Kind: chart\n  "), None);
    }

    #[test]
    fn a_question_without_a_picture_is_refused() {
        let e = first_pass(&[Message::text(Role::User, "2+2?")], PromptPreset::Plain)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a picture"), "{e}");
        let e = first_pass(&[], PromptPreset::Plain)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a question"), "{e}");
    }
}
