//! Benchmark files in VLMEvalKit's layout: a TSV as pandas writes it, or JSONL with the same keys.
//! Files are streamed: R1-Onevision-Bench carries its 942 pictures inline (137 MB). A row that
//! cannot be read becomes a [`RowError`] naming its line and index; the rest still run.

mod fields;
mod jsonl;
mod tsv;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{EvalError, Result};
use crate::item::Item;

pub use fields::GROUP_VALUE_MAX_CHARS;

/// The rows of a file in order, each an item or the reason it is not one.
pub type Rows = Box<dyn Iterator<Item = std::result::Result<Item, RowError>> + Send>;

/// A row that could not be turned into an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub index: Option<String>,
    pub message: String,
}

impl RowError {
    /// The name the summary's `failed` list gives it: its index, else its line.
    pub fn name(&self) -> String {
        match &self.index {
            Some(i) => i.clone(),
            None => format!("line {}", self.line),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.index {
            Some(i) => write!(f, "line {} (index {i}): {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tsv,
    Jsonl,
}

/// A benchmark file, scanned once for its size and the pictures rows share.
#[derive(Debug, Clone)]
pub struct Dataset {
    path: PathBuf,
    format: Format,
    rows: usize,
    /// Indices whose picture other rows point at (VLMEvalKit stores a repeated picture once).
    shared_pictures: HashSet<String>,
}

impl Dataset {
    pub fn open(path: &Path) -> Result<Dataset> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let format = match ext.as_str() {
            "tsv" => Format::Tsv,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => {
                return Err(EvalError::Layout {
                    path: path.into(),
                    reason: "expected a .tsv (VLMEvalKit's layout) or a .jsonl file".into(),
                })
            }
        };
        let scan = match format {
            Format::Tsv => tsv::scan(path)?,
            Format::Jsonl => jsonl::scan(path)?,
        };
        Ok(Dataset {
            path: path.to_path_buf(),
            format,
            rows: scan.rows,
            shared_pictures: scan.shared_pictures,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the file, readable or not.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The item with this index, read from the file again (pictures included).
    pub fn find(&self, index: &str) -> Result<Option<Item>> {
        Ok(self
            .items()?
            .filter_map(|r| r.ok())
            .find(|i| i.index == index))
    }

    /// The rows in file order, each an item or the reason it is not one.
    pub fn items(&self) -> Result<Rows> {
        let base = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(match self.format {
            Format::Tsv => Box::new(tsv::items(&self.path, base, self.shared_pictures.clone())?),
            Format::Jsonl => Box::new(jsonl::items(
                &self.path,
                base,
                self.shared_pictures.clone(),
            )?),
        })
    }
}

/// What a first pass learns.
struct Scan {
    rows: usize,
    shared_pictures: HashSet<String>,
}
