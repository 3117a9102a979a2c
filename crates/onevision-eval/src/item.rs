//! One benchmark question as read from a row, and its pictures, decoded only when it is asked so
//! that a broken picture fails its own item and nothing else.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;

#[derive(Debug, Clone, PartialEq)]
pub enum PictureSource {
    /// Base64 of the file's bytes, as VLMEvalKit's TSVs carry them inline.
    Base64(Arc<str>),
    /// A file, relative paths taken from the data file's folder.
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The row's `index`, as written.
    pub index: String,
    /// 1-based line (TSV: record) the row starts on, for messages.
    pub line: u64,
    pub question: String,
    /// VLMEvalKit's optional `hint` column, shown before the question.
    pub hint: Option<String>,
    /// Lettered options (columns A…J) that are present and not empty, in letter order.
    pub options: Vec<(char, String)>,
    /// The reference answer: a letter for multiple choice, else the value.
    pub answer: String,
    pub pictures: Vec<PictureSource>,
    /// Every other column: the stage, subject, category… the summary groups by.
    pub groups: BTreeMap<String, String>,
}

impl Item {
    pub fn is_multiple_choice(&self) -> bool {
        !self.options.is_empty()
    }
}

/// Why a picture cannot be used, naming the item.
pub fn decode_picture(item: &Item, source: &PictureSource) -> Result<image::RgbImage, String> {
    let bytes = match source {
        PictureSource::Base64(b64) => {
            let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|e| {
                    format!(
                        "item {} (line {}): the picture is not valid base64: {e}",
                        item.index, item.line
                    )
                })?
        }
        PictureSource::Path(path) => std::fs::read(path).map_err(|e| {
            format!(
                "item {} (line {}): cannot read the picture {}: {e}",
                item.index,
                item.line,
                path.display()
            )
        })?,
    };
    let picture = image::load_from_memory(&bytes).map_err(|e| {
        let what = match source {
            PictureSource::Base64(_) => "the inline picture".to_string(),
            PictureSource::Path(p) => p.display().to_string(),
        };
        format!(
            "item {} (line {}): {what} is not a picture that can be read: {e}",
            item.index, item.line
        )
    })?;
    Ok(picture.to_rgb8())
}
