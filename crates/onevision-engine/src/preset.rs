//! How a question is worded for each model family (DESIGN.md §3). The R1-Onevision checkpoints
//! were trained on questions wrapped in a fixed instruction; asking them bare works worse. The
//! stored conversation keeps the student's own words; the wrapping happens only on the way into
//! the model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PromptPreset {
    /// Fancy-MLLM/R1-Onevision-7B: "Hint: … Question: {q}".
    #[serde(rename = "r1-onevision")]
    R1Onevision,
    /// Fancy-MLLM/R1-Onevision-7B-RL: the question, then the request for think/answer tags.
    #[serde(rename = "r1-onevision-rl")]
    R1OnevisionRl,
    /// Qwen2.5-VL instruct models and OVR: the question as it is.
    #[default]
    #[serde(rename = "plain")]
    Plain,
}

const R1_HINT: &str =
    "Hint: Please answer the question and provide the final answer at the end. Question: ";
const R1_RL_SUFFIX: &str =
    "  Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.";

/// Transcribe-first's first request (crate::transcribe): the picture in the formal form its kind
/// calls for, which the R1-Onevision paper's "formal description" step produces before reasoning.
/// The first line names the kind so the app can show the transcription as it should look.
const TRANSCRIBE: &str = "Before anything is solved, write down exactly what this picture shows, \
in a form a student can check. On the first line write \"Kind:\" and one word: equation, chart, \
circuit, geometry, chemistry or text. Then transcribe in the form that fits: formulas and \
equations in LaTeX between $ signs; a chart or table as a Markdown table with every label, unit \
and number; a circuit as a list of its components with their values and the two nodes each one \
joins; a geometry figure as its points, segments, lengths and angles, labelled as in the figure, \
and what is marked equal, parallel or perpendicular; a chemical structure as its formula, atoms \
and bonds; text word for word. With several pictures, transcribe each in turn under \
\"Picture 1\", \"Picture 2\". Copy the numbers and labels as they are printed, and do not solve \
or explain anything.";
const R1_RL_TRANSCRIBE_SUFFIX: &str =
    "  Output the thinking process in <think> </think> and the transcription in <answer> </answer> tags.";

impl PromptPreset {
    pub const ALL: [PromptPreset; 3] = [
        PromptPreset::R1Onevision,
        PromptPreset::R1OnevisionRl,
        PromptPreset::Plain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PromptPreset::R1Onevision => "r1-onevision",
            PromptPreset::R1OnevisionRl => "r1-onevision-rl",
            PromptPreset::Plain => "plain",
        }
    }

    /// The user turn's text as the model should see it.
    pub fn wrap(self, question: &str) -> String {
        match self {
            PromptPreset::R1Onevision => format!("{R1_HINT}{question}"),
            PromptPreset::R1OnevisionRl => format!("{question}{R1_RL_SUFFIX}"),
            PromptPreset::Plain => question.to_owned(),
        }
    }

    /// Transcribe-first's request for a formal transcription of the question's pictures, worded
    /// for the family: the RL checkpoint was trained to put its result in answer tags.
    pub fn transcription_request(self) -> String {
        match self {
            PromptPreset::R1OnevisionRl => format!("{TRANSCRIBE}{R1_RL_TRANSCRIBE_SUFFIX}"),
            PromptPreset::R1Onevision | PromptPreset::Plain => TRANSCRIBE.to_owned(),
        }
    }

    /// A guess from a model folder's or repository's name ("R1-Onevision-7B-RL",
    /// "models--Fancy-MLLM--R1-Onevision-7B"); `Plain` when nothing matches.
    pub fn suggest(name: &str) -> PromptPreset {
        let n = name.to_ascii_lowercase().replace('_', "-");
        if n.contains("r1-onevision") {
            if n.contains("-rl") {
                PromptPreset::R1OnevisionRl
            } else {
                PromptPreset::R1Onevision
            }
        } else {
            PromptPreset::Plain
        }
    }
}

impl FromStr for PromptPreset {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        PromptPreset::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                EngineError::Prompt(format!(
                    "unknown prompt preset {s:?}; expected r1-onevision, r1-onevision-rl or plain"
                ))
            })
    }
}

impl fmt::Display for PromptPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_as_the_model_cards_say() {
        assert_eq!(
            PromptPreset::R1Onevision.wrap("What is x?"),
            "Hint: Please answer the question and provide the final answer at the end. \
             Question: What is x?"
        );
        assert_eq!(
            PromptPreset::R1OnevisionRl.wrap("What is x?"),
            "What is x?  Output the thinking process in <think> </think> and final answer in \
             <answer> </answer> tags."
        );
        assert_eq!(PromptPreset::Plain.wrap("What is x?"), "What is x?");
    }

    #[test]
    fn suggests_from_folder_and_repo_names() {
        assert_eq!(
            PromptPreset::suggest("R1-Onevision-7B"),
            PromptPreset::R1Onevision
        );
        assert_eq!(
            PromptPreset::suggest("models--Fancy-MLLM--R1-Onevision-7B-RL"),
            PromptPreset::R1OnevisionRl
        );
        assert_eq!(PromptPreset::suggest("OVR-7B-RL"), PromptPreset::Plain);
        assert_eq!(
            PromptPreset::suggest("Qwen2.5-VL-3B-Instruct"),
            PromptPreset::Plain
        );
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in PromptPreset::ALL {
            assert_eq!(p.as_str().parse::<PromptPreset>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        let e = "r1".parse::<PromptPreset>().unwrap_err().to_string();
        assert!(e.contains("\"r1\""), "{e}");
    }
}
