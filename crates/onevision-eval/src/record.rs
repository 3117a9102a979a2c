//! `predictions.jsonl`: one line per item as it finishes, appended and flushed, so a killed run
//! loses at most the line being written, and a rerun asks only what has no answer yet.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compare::Verdict;
use crate::error::{EvalError, Result};
use crate::extract::Rule;

/// Who decided whether an answer is right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The rules found the answer and compared it.
    Rules,
    /// The judge model read what the rules could not.
    Judge,
    /// The rules could not tell and no judge was asked (or it did not say): counted wrong.
    Unscored,
    /// The item could not be asked: counted in the total, not correct.
    Failed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub prompt: usize,
    pub completion: usize,
}

/// One item's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub index: String,
    pub line: u64,
    pub groups: BTreeMap<String, String>,
    /// The reference answer.
    pub gold: String,
    /// The whole reply as the model wrote it.
    pub reply: String,
    pub think: String,
    /// The reply's answer section (what a grader reads).
    pub answer: Option<String>,
    pub extracted: Option<String>,
    pub rule: Option<Rule>,
    pub verdict: Option<Verdict>,
    pub correct: bool,
    pub method: Method,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub finish_reason: Option<String>,
    pub tokens: Tokens,
    pub seconds: f64,
    /// Attempts it took (more than one when a server failed and was asked again).
    pub attempts: u32,
}

/// What an output folder's predictions.jsonl holds, latest line per index, in the order the
/// items first finished; read only (a line cut short is skipped, not removed).
pub fn read_predictions(dir: &Path) -> Result<Vec<Prediction>> {
    let path = dir.join("predictions.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EvalError::read(&path, e)),
    };
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, Prediction> = HashMap::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break;
        }
        let p: Prediction = serde_json::from_str(line).map_err(|e| EvalError::Layout {
            path: path.clone(),
            reason: format!(
                "line {} is not a prediction this version wrote ({e})",
                n + 1
            ),
        })?;
        if !latest.contains_key(&p.index) {
            order.push(p.index.clone());
        }
        latest.insert(p.index.clone(), p);
    }
    Ok(order
        .into_iter()
        .filter_map(|i| latest.remove(&i))
        .collect())
}

/// The predictions file of one output folder.
pub struct Predictions {
    path: PathBuf,
    file: File,
}

impl Predictions {
    /// Opens (or creates) `dir/predictions.jsonl` and reads what earlier runs recorded, the
    /// latest line per index winning. A last line cut short by a kill is dropped from the file.
    pub fn open(dir: &Path) -> Result<(Predictions, HashMap<String, Prediction>)> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::write(dir, e))?;
        let path = dir.join("predictions.jsonl");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| EvalError::write(&path, e))?;
        let mut earlier = HashMap::new();
        let mut complete_len = 0u64;
        let mut reader = BufReader::new(&file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| EvalError::read(&path, e))?;
            if n == 0 {
                break;
            }
            number += 1;
            if !line.ends_with('\n') {
                tracing::warn!(
                    "{}: line {number} was cut short; it is dropped",
                    path.display()
                );
                break;
            }
            complete_len += n as u64;
            match serde_json::from_str::<Prediction>(&line) {
                Ok(p) => {
                    earlier.insert(p.index.clone(), p);
                }
                Err(e) => {
                    return Err(EvalError::Layout {
                        path: path.clone(),
                        reason: format!(
                            "line {number} is not a prediction this version wrote ({e}); move the file away to start afresh"
                        ),
                    })
                }
            }
        }
        drop(reader);
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| EvalError::read(&path, e))?;
        if len != complete_len {
            file.set_len(complete_len)
                .map_err(|e| EvalError::write(&path, e))?;
        }
        Ok((Predictions { path, file }, earlier))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, p: &Prediction) -> Result<()> {
        let mut line = serde_json::to_string(p).map_err(|e| EvalError::write(&self.path, e))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| EvalError::write(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(index: &str, correct: bool) -> Prediction {
        Prediction {
            index: index.into(),
            line: 2,
            groups: BTreeMap::new(),
            gold: "B".into(),
            reply: "<answer>B</answer>".into(),
            think: String::new(),
            answer: Some("B".into()),
            extracted: Some("B".into()),
            rule: Some(Rule::ShortSection),
            verdict: Some(Verdict::Correct),
            correct,
            method: Method::Rules,
            judge_reply: None,
            error: None,
            finish_reason: Some("stop".into()),
            tokens: Tokens::default(),
            seconds: 1.5,
            attempts: 1,
        }
    }

    #[test]
    fn a_line_cut_short_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut p, earlier) = Predictions::open(dir.path()).unwrap();
            assert!(earlier.is_empty());
            p.append(&prediction("1", true)).unwrap();
            p.append(&prediction("2", false)).unwrap();
        }
        let path = dir.path().join("predictions.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"index\": \"3\", \"li");
        std::fs::write(&path, &text).unwrap();
        let (mut p, earlier) = Predictions::open(dir.path()).unwrap();
        assert_eq!(earlier.len(), 2);
        assert!(earlier["1"].correct && !earlier["2"].correct);
        p.append(&prediction("2", true)).unwrap();
        drop(p);
        let (_, earlier) = Predictions::open(dir.path()).unwrap();
        assert!(earlier["2"].correct, "the latest line for an index wins");
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines.lines().count(), 3);
        let read = read_predictions(dir.path()).unwrap();
        assert_eq!(
            read.iter().map(|p| p.index.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert!(read[1].correct);
        assert!(lines
            .lines()
            .all(|l| serde_json::from_str::<Prediction>(l).is_ok()));
    }

    #[test]
    fn a_foreign_file_is_named_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions.jsonl");
        std::fs::write(&path, "{\"something\": 1}\n").unwrap();
        let e = Predictions::open(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("predictions.jsonl") && e.contains("line 1"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"something\": 1}\n"
        );
    }
}
