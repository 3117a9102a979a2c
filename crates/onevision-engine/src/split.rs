//! Splits streamed model text into thinking and answer, whatever way the text is cut into deltas.
//!
//! Output styles seen from this model family: `<think>…</think><answer>…</answer>`;
//! `<think>…</think>` then prose ending `Answer: X`; a long `<think>` then `\boxed{…}`; and plain
//! answers with no tags at all. Tags may arrive cut across deltas, and a closing `</think>` may never
//! come (the text then stays thinking).

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const ANSWER_OPEN: &str = "<answer>";
const ANSWER_CLOSE: &str = "</answer>";

/// How streamed text is divided before it reaches a listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Splitting {
    /// Thinking apart; the answer without its `<answer>` tags (what a student reads).
    #[default]
    ThinkAndAnswer,
    /// Thinking apart; everything after it as written, tags included (OpenAI-style servers'
    /// `reasoning_content` and `content`, like vLLM's reasoning parsers).
    ThinkOnly,
    /// Everything as written, as answer text.
    None,
}

/// A piece of split output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Think(String),
    Answer(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing but whitespace seen yet: the text may still open with `<think>`.
    Start,
    Think,
    Answer,
    /// Everything is answer text, tags included.
    Raw,
}

#[derive(Debug, Clone)]
pub struct ThinkSplitter {
    mode: Mode,
    /// After the thinking, pass the text on as written instead of dropping answer tags.
    keep_answer_tags: bool,
    /// Text not yet emitted because it may be the start of a tag.
    pending: String,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self::new()
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of one of `tags`.
fn partial_tag_suffix(text: &str, tags: &[&str]) -> usize {
    let mut best = 0;
    for tag in tags {
        for len in (1..tag.len()).rev() {
            if len <= best {
                break;
            }
            if text.ends_with(&tag[..len]) {
                best = len;
                break;
            }
        }
    }
    best
}

impl ThinkSplitter {
    pub fn new() -> Self {
        Self::with(Splitting::ThinkAndAnswer)
    }

    pub fn with(splitting: Splitting) -> Self {
        ThinkSplitter {
            mode: if splitting == Splitting::None {
                Mode::Raw
            } else {
                Mode::Start
            },
            keep_answer_tags: splitting == Splitting::ThinkOnly,
            pending: String::new(),
        }
    }

    /// Where the text goes once the thinking is over (or never began).
    fn after_thinking(&self) -> Mode {
        if self.keep_answer_tags {
            Mode::Raw
        } else {
            Mode::Answer
        }
    }

    /// Feeds a delta; returns the segments that are now certain.
    pub fn push(&mut self, delta: &str) -> Vec<Segment> {
        self.pending.push_str(delta);
        let mut out = Vec::new();
        loop {
            match self.mode {
                Mode::Raw => {
                    emit(&mut out, Segment::Answer(std::mem::take(&mut self.pending)));
                    return out;
                }
                Mode::Start => {
                    let trimmed = self.pending.trim_start();
                    if let Some(rest) = trimmed.strip_prefix(THINK_OPEN) {
                        self.pending = rest.to_string();
                        self.mode = Mode::Think;
                    } else if trimmed.is_empty() || THINK_OPEN.starts_with(trimmed) {
                        return out;
                    } else {
                        // Without an opening tag the text is an answer; deciding otherwise would
                        // need the end of the stream, and deltas are shown as they come.
                        self.mode = self.after_thinking();
                    }
                }
                Mode::Think => match self.pending.find(THINK_CLOSE) {
                    Some(i) => {
                        emit(&mut out, Segment::Think(self.pending[..i].to_string()));
                        self.pending.drain(..i + THINK_CLOSE.len());
                        self.mode = self.after_thinking();
                    }
                    None => {
                        let keep = partial_tag_suffix(&self.pending, &[THINK_CLOSE]);
                        let ready = self.pending.len() - keep;
                        emit(&mut out, Segment::Think(self.pending[..ready].to_string()));
                        self.pending.drain(..ready);
                        return out;
                    }
                },
                Mode::Answer => {
                    // Answer tags and a stray closing think tag are markup, not text.
                    let tags = [ANSWER_OPEN, ANSWER_CLOSE, THINK_CLOSE];
                    let found = tags
                        .iter()
                        .filter_map(|t| self.pending.find(t).map(|i| (i, t.len())))
                        .min();
                    match found {
                        Some((i, len)) => {
                            emit(&mut out, Segment::Answer(self.pending[..i].to_string()));
                            self.pending.drain(..i + len);
                        }
                        None => {
                            let keep = partial_tag_suffix(&self.pending, &tags);
                            let ready = self.pending.len() - keep;
                            emit(&mut out, Segment::Answer(self.pending[..ready].to_string()));
                            self.pending.drain(..ready);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// The stream ended: whatever was held back is final.
    pub fn finish(&mut self) -> Vec<Segment> {
        let rest = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        match self.mode {
            Mode::Think => emit(&mut out, Segment::Think(rest)),
            Mode::Start | Mode::Answer | Mode::Raw => emit(&mut out, Segment::Answer(rest)),
        }
        out
    }
}

fn emit(out: &mut Vec<Segment>, seg: Segment) {
    let empty = match &seg {
        Segment::Think(s) | Segment::Answer(s) => s.is_empty(),
    };
    if empty {
        return;
    }
    match (out.last_mut(), seg) {
        (Some(Segment::Think(a)), Segment::Think(b))
        | (Some(Segment::Answer(a)), Segment::Answer(b)) => a.push_str(&b),
        (_, seg) => out.push(seg),
    }
}

/// Thinking and answer of a whole text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub think: String,
    pub answer: String,
}

impl Split {
    pub fn add(&mut self, segments: &[Segment]) {
        for s in segments {
            match s {
                Segment::Think(t) => self.think.push_str(t),
                Segment::Answer(t) => self.answer.push_str(t),
            }
        }
    }

    /// Splits a complete text at once.
    pub fn of(text: &str) -> Split {
        let mut splitter = ThinkSplitter::new();
        let mut split = Split::default();
        split.add(&splitter.push(text));
        split.add(&splitter.finish());
        split
    }
}

/// The final result a student looks for: the `<answer>` block, else the last `\boxed{…}`, else the
/// last `Answer:` line; searched in the answer, then in the thinking (for a cut-off stream).
pub fn final_answer(text: &str, think: &str) -> Option<String> {
    [text, think].into_iter().find_map(final_answer_in)
}

fn final_answer_in(text: &str) -> Option<String> {
    if let Some(start) = text.rfind(ANSWER_OPEN) {
        let body = &text[start + ANSWER_OPEN.len()..];
        let body = body.find(ANSWER_CLOSE).map_or(body, |end| &body[..end]);
        let body = body.trim();
        if !body.is_empty() {
            return Some(body.to_string());
        }
    }
    if let Some(boxed) = last_boxed(text) {
        return Some(boxed);
    }
    text.lines().rev().find_map(|line| {
        let l = line.trim().trim_start_matches(['*', '#', ' ']);
        let lower = l.to_lowercase();
        let rest = if lower.starts_with("final answer:") {
            &l["final answer:".len()..]
        } else if lower.starts_with("answer:") {
            &l["answer:".len()..]
        } else {
            return None;
        };
        let rest = rest.trim().trim_matches('*').trim();
        (!rest.is_empty()).then(|| rest.to_string())
    })
}

/// The content of the last `\boxed{…}`, braces balanced.
fn last_boxed(text: &str) -> Option<String> {
    let start = text.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1usize;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(text[start..start + i].trim().to_string());
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_with(splitting: Splitting, deltas: &[&str]) -> Split {
        let mut s = ThinkSplitter::with(splitting);
        let mut segs = Vec::new();
        for d in deltas {
            segs.extend(s.push(d));
        }
        segs.extend(s.finish());
        let mut whole = Split::default();
        whole.add(&segs);
        whole
    }

    #[test]
    fn unsplit_text_keeps_every_tag() {
        let whole = split_with(Splitting::None, &["<think>a</thi", "nk><answer>4</answer>"]);
        assert_eq!(whole.think, "");
        assert_eq!(whole.answer, "<think>a</think><answer>4</answer>");
    }

    #[test]
    fn think_only_keeps_the_answer_as_written() {
        let whole = split_with(
            Splitting::ThinkOnly,
            &["<think>a</thi", "nk>\n<ans", "wer>4</answer>"],
        );
        assert_eq!(whole.think, "a");
        assert_eq!(whole.answer, "\n<answer>4</answer>");
        let plain = split_with(Splitting::ThinkOnly, &["<answer>5</answer>"]);
        assert_eq!(
            (plain.think.as_str(), plain.answer.as_str()),
            ("", "<answer>5</answer>")
        );
    }

    const SAMPLES: &[(&str, &str, &str)] = &[
        (
            "<think>add 2 and 2</think><answer>4</answer>",
            "add 2 and 2",
            "4",
        ),
        (
            "<think>\nangles sum to 180\n</think>\n\nThe angle is 40°.\nAnswer: B",
            "\nangles sum to 180\n",
            "\n\nThe angle is 40°.\nAnswer: B",
        ),
        (
            "<think>long reasoning with < and <th and </thin",
            "long reasoning with < and <th and </thin",
            "",
        ),
        (
            "  \n<think>x</think>So \\boxed{\\frac{1}{2}}",
            "x",
            "So \\boxed{\\frac{1}{2}}",
        ),
        ("The answer is 7.", "", "The answer is 7."),
        ("<thin", "", "<thin"),
        (
            "reasoning without an opening tag</think><answer>12</answer>",
            "",
            "reasoning without an opening tag12",
        ),
        (
            "<think>a</think>pre<answer>π/2 < x</answer>post",
            "a",
            "preπ/2 < xpost",
        ),
        ("", "", ""),
    ];

    fn split_by_cuts(text: &str, cuts: &[usize]) -> Split {
        let mut s = ThinkSplitter::new();
        let mut out = Split::default();
        let mut last = 0;
        for &c in cuts {
            out.add(&s.push(&text[last..c]));
            last = c;
        }
        out.add(&s.push(&text[last..]));
        out.add(&s.finish());
        out
    }

    #[test]
    fn whole_texts_split_as_expected() {
        for &(text, think, answer) in SAMPLES {
            let s = Split::of(text);
            assert_eq!(
                (s.think.as_str(), s.answer.as_str()),
                (think, answer),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_single_cut_gives_the_same_split() {
        for &(text, ..) in SAMPLES {
            let whole = Split::of(text);
            for (c, _) in text.char_indices() {
                assert_eq!(split_by_cuts(text, &[c]), whole, "{text:?} cut at {c}");
            }
        }
    }

    #[test]
    fn every_cut_into_single_characters_and_random_cuts_give_the_same_split() {
        let mut seed = 0x9e37_79b9_u64;
        for &(text, ..) in SAMPLES {
            let whole = Split::of(text);
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .filter(|&i| i > 0)
                .collect();
            assert_eq!(split_by_cuts(text, &bounds), whole, "{text:?} char by char");
            for _ in 0..200 {
                let cuts: Vec<usize> = bounds
                    .iter()
                    .copied()
                    .filter(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed.is_multiple_of(3)
                    })
                    .collect();
                assert_eq!(
                    split_by_cuts(text, &cuts),
                    whole,
                    "{text:?} cut at {cuts:?}"
                );
            }
        }
    }

    #[test]
    fn final_answers_are_found() {
        assert_eq!(final_answer("<answer> 4 </answer>", ""), Some("4".into()));
        assert_eq!(
            final_answer("so \\boxed{a} then \\boxed{\\frac{3}{4}}", ""),
            Some("\\frac{3}{4}".into())
        );
        assert_eq!(
            final_answer("The angle is 40°.\n**Answer:** B\n", ""),
            Some("B".into())
        );
        assert_eq!(
            final_answer("Final answer: 12 cm", ""),
            Some("12 cm".into())
        );
        assert_eq!(final_answer("", "thinking ... \\boxed{7"), None);
        assert_eq!(
            final_answer("", "cut off, but \\boxed{7} was said"),
            Some("7".into())
        );
        assert_eq!(final_answer("no result here", ""), None);
    }
}
