//! A judge model (any OpenAI-compatible server, or a model here) for what the rules cannot
//! read: it is shown the question, the reference and the reply's answer section, and says
//! CORRECT or INCORRECT. Its reply is kept beside the verdict.

use std::sync::atomic::AtomicBool;

use onevision_engine::prompt::{Message, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::Job;
use onevision_engine::ChatEngine;

use crate::asking::{ask, Asked};
use crate::extract::answer_section;
use crate::item::Item;
use crate::prompt::question_text;

/// Enough for a short verdict, or a reasoning judge's brief thinking before it.
const JUDGE_MAX_TOKENS: usize = 1024;

/// What the judge was asked to read, at most this much of the answer (the end is kept: that is
/// where the answer is).
const JUDGE_ANSWER_MAX_CHARS: usize = 4000;

/// The last `max` characters of `text`, after an ellipsis when something was cut.
fn last_chars(text: &str, max: usize) -> String {
    match max
        .checked_sub(1)
        .and_then(|n| text.char_indices().rev().nth(n))
    {
        Some((start, _)) if start > 0 => format!("…{}", &text[start..]),
        _ => text.to_string(),
    }
}

pub fn judge_prompt(item: &Item, answer_section: &str) -> String {
    let tail = last_chars(answer_section.trim(), JUDGE_ANSWER_MAX_CHARS);
    format!(
        "You are grading a student's answer to an exam question. Decide only whether the \
         student's final answer is equivalent to the reference answer; ignore the working.\n\n\
         Question:\n{}\n\nReference answer: {}\n\nStudent's answer:\n{tail}\n\n\
         Reply with one word: CORRECT or INCORRECT.",
        question_text(item),
        item.answer
    )
}

/// The judge's reply read as a verdict: `None` when it says neither word.
pub fn verdict(reply: &str) -> Option<bool> {
    let said = answer_section(reply).map(|(s, _)| s).unwrap_or(reply);
    let upper = said.to_uppercase();
    if upper.contains("INCORRECT") || upper.contains("NOT CORRECT") {
        Some(false)
    } else if upper.contains("CORRECT") {
        Some(true)
    } else {
        None
    }
}

/// Asks the judge; its reply, or why it could not be asked.
pub fn ask_judge(
    judge: &dyn ChatEngine,
    item: &Item,
    answer_section: &str,
    stop: &AtomicBool,
) -> Result<String, String> {
    let job = Job {
        messages: vec![Message::text(
            Role::User,
            judge_prompt(item, answer_section),
        )],
        sampling: Some(SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        }),
        max_new_tokens: Some(JUDGE_MAX_TOKENS),
        ..Job::default()
    };
    match ask(judge, job, stop) {
        Asked::Done(out) => Ok(out.text),
        Asked::Failed(f) => Err(format!("the judge could not be asked: {f}")),
        Asked::Stopped => Err("the run was stopped".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict("CORRECT"), Some(true));
        assert_eq!(verdict("Incorrect."), Some(false));
        assert_eq!(
            verdict("<think>is it correct? no</think>INCORRECT"),
            Some(false)
        );
        assert_eq!(verdict("<think>hmm</think>\nCorrect"), Some(true));
        assert_eq!(verdict("The answer is not correct"), Some(false));
        assert_eq!(verdict("I cannot tell"), None);
    }

    #[test]
    fn a_long_answer_keeps_its_end_after_an_ellipsis() {
        assert_eq!(last_chars("abc", 3), "abc");
        assert_eq!(last_chars("abcd", 3), "…bcd");
        assert_eq!(last_chars("", 3), "");
        // Characters, not bytes: a cut never splits one.
        assert_eq!(last_chars("x√√√", 3), "…√√√");
        assert_eq!(last_chars("√√√", 3), "√√√");
    }
}
