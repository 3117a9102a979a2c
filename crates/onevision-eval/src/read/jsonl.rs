//! JSONL: one object per line with the TSV's keys; numbers are read as their text, a list of
//! pictures as a JSON array, options as A…J keys or an `options` array.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use super::fields::{self, RowContext, SharedPictures, Value};
use super::{RowError, Scan};
use crate::error::{EvalError, Result};
use crate::item::Item;

fn lines(path: &Path) -> Result<Lines<BufReader<File>>> {
    let file = File::open(path).map_err(|e| EvalError::read(path, e))?;
    Ok(BufReader::with_capacity(1 << 20, file).lines())
}

pub(super) fn scan(path: &Path) -> Result<Scan> {
    let mut rows = 0;
    let mut shared_pictures = HashSet::new();
    for line in lines(path)? {
        let line = line.map_err(|e| EvalError::read(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        rows += 1;
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&line) {
            match o.get("image") {
                Some(serde_json::Value::String(s)) => shared_pictures.extend(fields::references(s)),
                Some(serde_json::Value::Array(a)) => {
                    for s in a.iter().filter_map(|v| v.as_str()) {
                        shared_pictures.extend(fields::references(s));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Scan {
        rows,
        shared_pictures,
    })
}

pub(super) struct Rows {
    lines: Lines<BufReader<File>>,
    line: u64,
    base: PathBuf,
    seen: HashMap<String, u64>,
    shared: SharedPictures,
}

pub(super) fn items(path: &Path, base: PathBuf, wanted: HashSet<String>) -> Result<Rows> {
    Ok(Rows {
        lines: lines(path)?,
        line: 0,
        base,
        seen: HashMap::new(),
        shared: SharedPictures {
            wanted,
            kept: HashMap::new(),
        },
    })
}

/// The index of a line that is not JSON (cut short, say), when its start still says it.
fn salvaged_index(text: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"^\s*\{\s*"index"\s*:\s*"?([A-Za-z0-9_.-]+)"?\s*[,}]"#)
            .expect("the index pattern is valid")
    });
    re.captures(text).map(|c| c[1].to_string())
}

fn to_value(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Array(a) => Value::List(
            a.iter()
                .filter_map(|x| match x {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                })
                .collect(),
        ),
        other => Value::Text(other.to_string()),
    })
}

impl Iterator for Rows {
    type Item = std::result::Result<Item, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(t) => t,
                Err(e) => {
                    self.line += 1;
                    return Some(Err(RowError {
                        line: self.line,
                        index: None,
                        message: format!("cannot be read: {e}"),
                    }));
                }
            };
            self.line += 1;
            if text.trim().is_empty() {
                continue;
            }
            let fail = |message: String| RowError {
                line: self.line,
                index: salvaged_index(&text),
                message,
            };
            let object = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(o)) => o,
                Ok(_) => return Some(Err(fail("is not a JSON object".into()))),
                Err(e) => return Some(Err(fail(format!("is not JSON: {e}")))),
            };
            let values = object
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), to_value(v)?)))
                .collect();
            return Some(fields::item_from(
                values,
                RowContext {
                    line: self.line,
                    base: &self.base,
                },
                &mut self.seen,
                &mut self.shared,
            ));
        }
    }
}
