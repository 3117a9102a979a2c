//! Accuracy by stage, subject and every other grouping column: `summary.json` (DESIGN.md §4's
//! contract) and `summary.md` (the table a person reads).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::{EvalError, Result};
use crate::read::RowError;
use crate::record::{Method, Prediction};

/// A column with more distinct values than this is an identifier or free text, not a group.
pub const MAX_GROUPS_PER_COLUMN: usize = 30;

/// Column names that hold the education stage, and the subject, in the files we know.
const STAGE_COLUMNS: [&str; 5] = [
    "level",
    "stage",
    "education_stage",
    "education_level",
    "grade",
];
const SUBJECT_COLUMNS: [&str; 4] = ["subject", "category", "discipline", "field"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    pub correct: usize,
    pub total: usize,
    /// correct / total, 0 when there is nothing.
    pub accuracy: f64,
}

impl Tally {
    fn add(&mut self, correct: bool) {
        self.total += 1;
        self.correct += usize::from(correct);
        self.accuracy = self.correct as f64 / self.total as f64;
    }

    pub fn percent(&self) -> String {
        format!("{:.1} %", self.accuracy * 100.0)
    }
}

/// How the run was made, for the summary's readers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    pub data: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
    pub preset: String,
    /// Items asked in this run (not found answered by an earlier one).
    pub asked: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub overall: Tally,
    /// Column -> value -> tally, for columns with a few values each.
    pub by: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Items not asked or not answerable: a broken row (its index, else "line N"), a broken
    /// picture, a server that kept failing. Counted in the totals, never correct.
    pub failed: Vec<String>,
    /// How many were decided by the rules, by the judge, left unscored, or failed.
    pub methods: BTreeMap<String, usize>,
    /// The columns of the stage-by-subject table, when the file has both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_column: Option<String>,
    /// Values of each grouped column in the order the file first gives them (`by` is sorted by
    /// name).
    pub order: BTreeMap<String, Vec<String>>,
    #[serde(skip)]
    crosstab: BTreeMap<(String, String), Tally>,
    pub run: RunInfo,
    /// Items asked per hour in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_per_hour: Option<f64>,
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Rules => "rules",
        Method::Judge => "judge",
        Method::Unscored => "unscored",
        Method::Failed => "failed",
    }
}

/// The columns of the stage-by-subject table, when the file's names are not the usual ones.
#[derive(Debug, Clone, Default)]
pub struct TableColumns {
    pub stage: Option<String>,
    pub subject: Option<String>,
}

pub fn summarise(
    predictions: &[Prediction],
    unreadable: &[RowError],
    run: RunInfo,
    table: &TableColumns,
) -> Summary {
    let mut sorted: Vec<&Prediction> = predictions.iter().collect();
    sorted.sort_by_key(|p| p.line);
    let mut overall = Tally::default();
    let mut columns: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut methods = BTreeMap::new();
    let mut failed = Vec::new();
    for p in &sorted {
        overall.add(p.correct);
        *methods
            .entry(method_name(p.method).to_string())
            .or_insert(0) += 1;
        if p.method == Method::Failed {
            failed.push(p.index.clone());
        }
        for (k, v) in &p.groups {
            let values = columns.entry(k.clone()).or_default();
            if !values.contains_key(v) {
                order.entry(k.clone()).or_default().push(v.clone());
            }
            values.entry(v.clone()).or_default().add(p.correct);
        }
    }
    for row in unreadable {
        overall.add(false);
        *methods.entry("failed".to_string()).or_insert(0) += 1;
        failed.push(row.name());
    }
    columns.retain(|_, values| values.len() <= MAX_GROUPS_PER_COLUMN);
    order.retain(|k, _| columns.contains_key(k));
    let pick = |given: &Option<String>, names: &[&str]| match given {
        Some(g) => columns.contains_key(g).then(|| g.clone()),
        None => names
            .iter()
            .find(|n| columns.contains_key(**n))
            .map(|n| n.to_string()),
    };
    let stage_column = pick(&table.stage, &STAGE_COLUMNS);
    let subject_column = pick(&table.subject, &SUBJECT_COLUMNS);
    let mut crosstab = BTreeMap::new();
    if let (Some(st), Some(su)) = (&stage_column, &subject_column) {
        for p in &sorted {
            if let (Some(a), Some(b)) = (p.groups.get(st), p.groups.get(su)) {
                crosstab
                    .entry((a.clone(), b.clone()))
                    .or_insert_with(Tally::default)
                    .add(p.correct);
            }
        }
    }
    let items_per_hour =
        (run.asked > 0 && run.seconds > 0.0).then(|| run.asked as f64 * 3600.0 / run.seconds);
    Summary {
        overall,
        by: columns,
        failed,
        methods,
        stage_column,
        subject_column,
        order,
        crosstab,
        run,
        items_per_hour,
    }
}

fn cell(t: &Tally) -> String {
    format!("{} ({}/{})", t.percent(), t.correct, t.total)
}

/// A value as a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Summary {
    /// The values of `column` in the file's order.
    pub fn values(&self, column: &str) -> Vec<String> {
        self.order.get(column).cloned().unwrap_or_default()
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {} — {}\n", md(&self.run.model), md(&self.run.data));
        let _ = writeln!(
            s,
            "Overall: **{}** ({} of {} correct).\n",
            self.overall.percent(),
            self.overall.correct,
            self.overall.total
        );
        let methods: Vec<String> = self
            .methods
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "Decided by: {}.", methods.join(", "));
        if !self.failed.is_empty() {
            let _ = writeln!(
                s,
                "Not answered ({}, counted wrong): {}.",
                self.failed.len(),
                self.failed.join(", ")
            );
        }
        if let Some(per_hour) = self.items_per_hour {
            let _ = writeln!(
                s,
                "This run asked {} items in {:.0} s ({per_hour:.0} items per hour).",
                self.run.asked, self.run.seconds
            );
        }
        if let (Some(st), Some(su)) = (&self.stage_column, &self.subject_column) {
            let stages = self.values(st);
            let subjects = self.values(su);
            let _ = writeln!(s, "\n## By {st} and {su}\n");
            let _ = write!(s, "| {} \\ {} |", md(st), md(su));
            for b in &subjects {
                let _ = write!(s, " {} |", md(b));
            }
            let _ = writeln!(s, " all |");
            let _ = writeln!(s, "|---|{}---|", "---|".repeat(subjects.len()));
            for a in &stages {
                let _ = write!(s, "| {} |", md(a));
                for b in &subjects {
                    let c = self
                        .crosstab
                        .get(&(a.clone(), b.clone()))
                        .map(cell)
                        .unwrap_or_else(|| "–".into());
                    let _ = write!(s, " {c} |");
                }
                let _ = writeln!(s, " {} |", cell(&self.by[st][a]));
            }
            let _ = write!(s, "| all |");
            for b in &subjects {
                let _ = write!(s, " {} |", cell(&self.by[su][b]));
            }
            let _ = writeln!(s, " {} |", cell(&self.overall));
        }
        for (column, values) in &self.by {
            let _ = writeln!(s, "\n## By {}\n", md(column));
            let _ = writeln!(s, "| {} | correct | total | accuracy |", md(column));
            let _ = writeln!(s, "|---|---:|---:|---:|");
            for v in self.values(column) {
                let t = &values[&v];
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    md(&v),
                    t.correct,
                    t.total,
                    t.percent()
                );
            }
        }
        s
    }

    /// Writes `summary.json` and `summary.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = dir.join("summary.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| EvalError::write(&json, e))?;
        std::fs::write(&json, text + "\n").map_err(|e| EvalError::write(&json, e))?;
        let mdp = dir.join("summary.md");
        std::fs::write(&mdp, self.markdown()).map_err(|e| EvalError::write(&mdp, e))
    }
}
