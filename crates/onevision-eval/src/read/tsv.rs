//! VLMEvalKit's TSV: a header row, tab-separated, quoted as pandas quotes (fields holding tabs,
//! newlines or quotes are wrapped in `"` with `""` inside).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::fields::{self, RowContext, SharedPictures, Value};
use super::{RowError, Scan};
use crate::error::{EvalError, Result};
use crate::item::Item;

fn reader(path: &Path) -> Result<csv::Reader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| EvalError::read(path, e))?;
    Ok(csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file)))
}

fn headers(path: &Path, r: &mut csv::Reader<BufReader<File>>) -> Result<Vec<String>> {
    let h = r
        .headers()
        .map_err(|e| EvalError::read(path, e))?
        .iter()
        .map(|s| s.trim().to_string())
        .collect::<Vec<_>>();
    for needed in ["index", "question", "answer"] {
        if !h.iter().any(|c| c == needed) {
            return Err(EvalError::Layout {
                path: path.into(),
                reason: format!(
                    "the header has no {needed:?} column (it has: {})",
                    h.join(", ")
                ),
            });
        }
    }
    Ok(h)
}

pub(super) fn scan(path: &Path) -> Result<Scan> {
    let mut r = reader(path)?;
    let h = headers(path, &mut r)?;
    let image = h.iter().position(|c| c == "image");
    let mut rows = 0;
    let mut shared_pictures = HashSet::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match r.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Counted; the second pass names it.
            Err(_) => {
                rows += 1;
                continue;
            }
        }
        rows += 1;
        if let Some(field) = image.and_then(|i| record.get(i)) {
            if field.len() <= 1024 {
                shared_pictures.extend(fields::references(&String::from_utf8_lossy(field)));
            }
        }
    }
    Ok(Scan {
        rows,
        shared_pictures,
    })
}

pub(super) struct Rows {
    reader: csv::Reader<BufReader<File>>,
    headers: Vec<String>,
    base: PathBuf,
    seen: HashMap<String, u64>,
    shared: SharedPictures,
    record: csv::StringRecord,
    done: bool,
}

pub(super) fn items(path: &Path, base: PathBuf, wanted: HashSet<String>) -> Result<Rows> {
    let mut reader = reader(path)?;
    let headers = headers(path, &mut reader)?;
    Ok(Rows {
        reader,
        headers,
        base,
        seen: HashMap::new(),
        shared: SharedPictures {
            wanted,
            kept: HashMap::new(),
        },
        record: csv::StringRecord::new(),
        done: false,
    })
}

impl Iterator for Rows {
    type Item = std::result::Result<Item, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let line = self.reader.position().line();
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                // csv resynchronises at the next record; an I/O error ends the file.
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.done = true;
                }
                return Some(Err(RowError {
                    line,
                    index: None,
                    message: format!("cannot be read: {e}"),
                }));
            }
        }
        let line = self.record.position().map_or(line, |p| p.line());
        if self.record.len() != self.headers.len() {
            let index = self
                .headers
                .iter()
                .position(|h| h == "index")
                .and_then(|i| self.record.get(i))
                .map(str::to_string);
            return Some(Err(RowError {
                line,
                index,
                message: format!(
                    "has {} fields where the header has {}",
                    self.record.len(),
                    self.headers.len()
                ),
            }));
        }
        let values = self
            .headers
            .iter()
            .zip(self.record.iter())
            .map(|(h, v)| (h.clone(), Value::Text(v.to_string())))
            .collect();
        Some(fields::item_from(
            values,
            RowContext {
                line,
                base: &self.base,
            },
            &mut self.seen,
            &mut self.shared,
        ))
    }
}
