//! From a row's named values to an [`Item`], the same for TSV and JSONL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::RowError;
use crate::item::{Item, PictureSource};

/// Longer values are text (a solution, a caption), not something to group by.
pub const GROUP_VALUE_MAX_CHARS: usize = 100;

/// VLMEvalKit writes a picture repeated in several rows once, and the others hold the index of
/// that row instead: anything this short is such a reference, not base64 of a picture.
pub const PICTURE_REFERENCE_MAX_CHARS: usize = 64;

pub const LETTERS: [char; 10] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'];

const CORE: [&str; 8] = [
    "index",
    "image",
    "image_path",
    "question",
    "answer",
    "hint",
    "options",
    "choices",
];

/// A value as the file gives it: text, or a list (JSON arrays, and the Python list syntax a
/// TSV uses for several pictures).
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

impl Value {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            Value::List(_) => None,
        }
    }

    fn list(&self) -> Vec<String> {
        match self {
            Value::Text(t) => python_list(t).unwrap_or_else(|| vec![t.clone()]),
            Value::List(l) => l.clone(),
        }
    }
}

/// `['abc', 'def']` as pandas writes a list of strings; `None` when `s` is not one.
pub fn python_list(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let body = &rest[1..];
        let end = body.find(quote)?;
        out.push(body[..end].to_string());
        rest = body[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

/// Pictures kept for rows that refer to them, filled as the rows go by.
#[derive(Default)]
pub struct SharedPictures {
    pub wanted: HashSet<String>,
    pub kept: HashMap<String, Vec<PictureSource>>,
}

pub struct RowContext<'a> {
    pub line: u64,
    pub base: &'a Path,
}

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::text)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "nan")
}

pub fn item_from(
    values: HashMap<String, Value>,
    ctx: RowContext<'_>,
    seen: &mut HashMap<String, u64>,
    shared: &mut SharedPictures,
) -> Result<Item, RowError> {
    let fail = |index: Option<&str>, message: String| RowError {
        line: ctx.line,
        index: index.map(str::to_string),
        message,
    };
    let Some(index) = non_empty(values.get("index")).map(str::to_string) else {
        return Err(fail(None, "the row has no index".into()));
    };
    if let Some(first) = seen.insert(index.clone(), ctx.line) {
        return Err(fail(
            Some(&index),
            format!("index {index} was already used on line {first}"),
        ));
    }
    let Some(question) = non_empty(values.get("question")).map(str::to_string) else {
        return Err(fail(Some(&index), "the question is empty".into()));
    };
    let Some(mut answer) = non_empty(values.get("answer")).map(str::to_string) else {
        return Err(fail(Some(&index), "the answer is empty".into()));
    };
    let mut options: Vec<(char, String)> = LETTERS
        .iter()
        .filter_map(|l| non_empty(values.get(&l.to_string())).map(|t| (*l, t.to_string())))
        .collect();
    if options.is_empty() {
        let listed = values.get("options").or_else(|| values.get("choices"));
        if let Some(v) = listed {
            let list = v.list();
            if list.len() > LETTERS.len() {
                return Err(fail(
                    Some(&index),
                    format!(
                        "{} options; at most {} (A…J) are read",
                        list.len(),
                        LETTERS.len()
                    ),
                ));
            }
            options = LETTERS.iter().copied().zip(list).collect();
        }
    }
    if !options.is_empty() {
        // Some files give the right option's text instead of its letter.
        let letter = answer.trim().trim_matches(|c| c == '(' || c == ')');
        let is_letter = letter.len() == 1
            && options
                .iter()
                .any(|(l, _)| l.eq_ignore_ascii_case(&letter.chars().next().unwrap_or(' ')));
        if is_letter {
            answer = letter.to_ascii_uppercase();
        } else if let Some((l, _)) = options.iter().find(|(_, t)| t.trim() == answer.trim()) {
            answer = l.to_string();
        } else {
            return Err(fail(
                Some(&index),
                format!(
                    "the answer {answer:?} is neither an option's letter ({}) nor an option's text",
                    options
                        .iter()
                        .map(|(l, _)| l.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let pictures = pictures(&values, &index, &ctx, shared).map_err(|m| fail(Some(&index), m))?;
    if shared.wanted.contains(&index) {
        shared.kept.insert(index.clone(), pictures.clone());
    }
    let groups = values
        .iter()
        .filter(|(k, _)| !CORE.contains(&k.as_str()) && !is_letter_column(k))
        .filter_map(|(k, v)| {
            let t = v.text()?.trim();
            (!t.is_empty() && t != "nan" && t.chars().count() <= GROUP_VALUE_MAX_CHARS)
                .then(|| (k.clone(), t.to_string()))
        })
        .collect::<BTreeMap<_, _>>();
    Ok(Item {
        index,
        line: ctx.line,
        question,
        hint: non_empty(values.get("hint")).map(str::to_string),
        options,
        answer,
        pictures,
        groups,
    })
}

fn is_letter_column(name: &str) -> bool {
    name.len() == 1 && LETTERS.iter().any(|l| l.to_string() == name)
}

fn pictures(
    values: &HashMap<String, Value>,
    index: &str,
    ctx: &RowContext<'_>,
    shared: &SharedPictures,
) -> Result<Vec<PictureSource>, String> {
    if let Some(v) = values.get("image") {
        let list: Vec<String> = v
            .list()
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "nan")
            .collect();
        if !list.is_empty() {
            let mut out = Vec::new();
            for s in list {
                if s.len() <= PICTURE_REFERENCE_MAX_CHARS {
                    match shared.kept.get(&s) {
                        Some(p) if s != index => out.extend(p.iter().cloned()),
                        _ => {
                            return Err(format!(
                                "the image column holds {s:?}, which is neither a picture nor the index of an earlier row with one"
                            ))
                        }
                    }
                } else {
                    out.push(PictureSource::Base64(Arc::from(s)));
                }
            }
            return Ok(out);
        }
    }
    if let Some(v) = values.get("image_path") {
        return Ok(v
            .list()
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "nan")
            .map(|s| {
                let p = PathBuf::from(&s);
                PictureSource::Path(if p.is_absolute() { p } else { ctx.base.join(p) })
            })
            .collect());
    }
    Ok(Vec::new())
}

/// The picture references in an `image` value (for the first pass).
pub fn references(image: &str) -> Vec<String> {
    let list = python_list(image).unwrap_or_else(|| vec![image.to_string()]);
    list.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= PICTURE_REFERENCE_MAX_CHARS && s != "nan")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_lists_as_pandas_writes_them() {
        assert_eq!(
            python_list("['ab', 'cd']"),
            Some(vec!["ab".to_string(), "cd".to_string()])
        );
        assert_eq!(python_list("[]"), Some(vec![]));
        assert_eq!(python_list("abc"), None);
        assert_eq!(python_list("['ab'"), None);
    }
}
