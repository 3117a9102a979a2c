//! A whole run: items streamed from the file, asked `concurrency` at a time through the engine's
//! seam, scored, and appended to `predictions.jsonl` as each finishes. Items a previous run
//! answered are not asked again; a server's passing trouble is retried with backoff; a picture
//! that cannot be read fails its item without anything being sent.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::preset::PromptPreset;
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::Job;
use onevision_engine::ChatEngine;

use crate::asking::{ask, Asked};
use crate::compare::Verdict;
use crate::error::Result;
use crate::item::{decode_picture, Item};
use crate::judge;
use crate::read::{Dataset, RowError, Rows};
use crate::record::{Method, Prediction, Predictions, Tokens};
use crate::score::score;

/// How items are asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preset: PromptPreset,
    pub max_pixels: Option<usize>,
    /// `None`: the engine's own defaults.
    pub sampling: Option<SamplingParams>,
    pub max_new_tokens: Option<usize>,
    /// Items asked at once (a local model answers one at a time whatever this says).
    pub concurrency: usize,
    /// Further attempts after a failure that may pass (a server down, busy, a dropped stream).
    pub retries: u32,
    /// The first wait before asking again; doubled after each failed attempt.
    pub backoff: Duration,
    /// Only the first this many rows of the file.
    pub limit: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preset: PromptPreset::Plain,
            max_pixels: None,
            sampling: None,
            max_new_tokens: None,
            concurrency: 1,
            retries: 3,
            backoff: Duration::from_secs(2),
            limit: None,
        }
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Rows this run covers, and how many of them earlier runs had answered.
    Started {
        total: usize,
        answered_before: usize,
    },
    /// An item answered (or failed) now, or found answered by an earlier run.
    Finished {
        prediction: Box<Prediction>,
        earlier: bool,
    },
    RowUnreadable(RowError),
    Retrying {
        index: String,
        attempt: u32,
        wait: Duration,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every item of the run, answered now or before, in the order they finished.
    pub predictions: Vec<Prediction>,
    pub unreadable: Vec<RowError>,
    /// The run was stopped before every item was asked.
    pub stopped: bool,
    /// Items asked in this run (not those found answered).
    pub asked: usize,
    pub seconds: f64,
}

struct Shared<'a> {
    rows: Mutex<(Rows, usize)>,
    file: Mutex<(
        Predictions,
        Vec<Prediction>,
        Option<crate::error::EvalError>,
    )>,
    unreadable: Mutex<Vec<RowError>>,
    earlier: HashMap<String, Prediction>,
    limit: usize,
    asked: Mutex<usize>,
    on_progress: &'a (dyn Fn(&Progress) + Sync),
}

/// Runs `dataset` through `engine` (and `judge` for what the rules cannot read), writing into
/// `out`. `stop` ends the run early: items being answered are dropped, not recorded.
pub fn run(
    dataset: &Dataset,
    engine: &dyn ChatEngine,
    judge: Option<&dyn ChatEngine>,
    out: &Path,
    settings: &Settings,
    stop: &AtomicBool,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Outcome> {
    let start = Instant::now();
    let (file, earlier) = Predictions::open(out)?;
    let limit = settings.limit.unwrap_or(usize::MAX).min(dataset.rows());
    let shared = Shared {
        rows: Mutex::new((dataset.items()?, 0)),
        file: Mutex::new((file, Vec::new(), None)),
        unreadable: Mutex::new(Vec::new()),
        earlier,
        limit,
        asked: Mutex::new(0),
        on_progress,
    };
    let answered_before = count_answered_before(dataset, &shared.earlier, limit)?;
    on_progress(&Progress::Started {
        total: limit,
        answered_before,
    });
    std::thread::scope(|scope| {
        for _ in 0..settings.concurrency.max(1) {
            scope.spawn(|| work(&shared, engine, judge, settings, stop));
        }
    });
    let (_, predictions, error) = shared.file.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = error {
        return Err(e);
    }
    let unreadable = shared
        .unreadable
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let seen = predictions.len() + unreadable.len();
    Ok(Outcome {
        predictions,
        unreadable,
        stopped: seen < limit,
        asked: shared.asked.into_inner().unwrap_or_else(|p| p.into_inner()),
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn count_answered_before(
    dataset: &Dataset,
    earlier: &HashMap<String, Prediction>,
    limit: usize,
) -> Result<usize> {
    if earlier.is_empty() {
        return Ok(0);
    }
    Ok(dataset
        .items()?
        .take(limit)
        .filter_map(|r| r.ok())
        .filter(|i| earlier.get(&i.index).is_some_and(|p| still_valid(p, i)))
        .count())
}

/// An earlier answer counts when it was answered (not failed) for the same reference.
fn still_valid(p: &Prediction, item: &Item) -> bool {
    p.method != Method::Failed && p.gold == item.answer
}

fn work(
    shared: &Shared<'_>,
    engine: &dyn ChatEngine,
    judge: Option<&dyn ChatEngine>,
    settings: &Settings,
    stop: &AtomicBool,
) {
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let next = {
            let mut rows = shared.rows.lock().unwrap_or_else(|p| p.into_inner());
            if rows.1 >= shared.limit {
                return;
            }
            rows.1 += 1;
            rows.0.next()
        };
        let item = match next {
            None => return,
            Some(Err(row)) => {
                (shared.on_progress)(&Progress::RowUnreadable(row.clone()));
                shared
                    .unreadable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(row);
                continue;
            }
            Some(Ok(item)) => item,
        };
        if let Some(p) = shared
            .earlier
            .get(&item.index)
            .filter(|p| still_valid(p, &item))
        {
            let mut f = shared.file.lock().unwrap_or_else(|p| p.into_inner());
            f.1.push(p.clone());
            drop(f);
            (shared.on_progress)(&Progress::Finished {
                prediction: Box::new(p.clone()),
                earlier: true,
            });
            continue;
        }
        let Some(prediction) = answer(&item, engine, judge, settings, stop, shared) else {
            return;
        };
        *shared.asked.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let mut f = shared.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.0.append(&prediction) {
            // Nothing more can be kept: stop every worker.
            f.2 = Some(e);
            stop.store(true, Ordering::Relaxed);
            return;
        }
        f.1.push(prediction.clone());
        drop(f);
        (shared.on_progress)(&Progress::Finished {
            prediction: Box::new(prediction),
            earlier: false,
        });
    }
}

fn failed(item: &Item, error: String, attempts: u32, seconds: f64) -> Prediction {
    Prediction {
        index: item.index.clone(),
        line: item.line,
        groups: item.groups.clone(),
        gold: item.answer.clone(),
        reply: String::new(),
        think: String::new(),
        answer: None,
        extracted: None,
        rule: None,
        verdict: None,
        correct: false,
        method: Method::Failed,
        judge_reply: None,
        error: Some(error),
        finish_reason: None,
        tokens: Tokens::default(),
        seconds,
        attempts,
    }
}

/// Sleeps `wait` unless the run is stopped meanwhile; whether it was.
fn wait_unless_stopped(wait: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    stop.load(Ordering::Relaxed)
}

/// Asks one item; `None` when the run was stopped before it was answered.
fn answer(
    item: &Item,
    engine: &dyn ChatEngine,
    judge: Option<&dyn ChatEngine>,
    settings: &Settings,
    stop: &AtomicBool,
    shared: &Shared<'_>,
) -> Option<Prediction> {
    let start = Instant::now();
    let mut pictures = Vec::with_capacity(item.pictures.len());
    for source in &item.pictures {
        match decode_picture(item, source) {
            Ok(p) => pictures.push(p),
            Err(e) => return Some(failed(item, e, 0, 0.0)),
        }
    }
    let job = Job {
        messages: crate::prompt::messages(item, pictures.len(), settings.preset),
        pictures,
        max_pixels: settings.max_pixels,
        sampling: settings.sampling.clone(),
        max_new_tokens: settings.max_new_tokens,
        ..Job::default()
    };
    let mut attempt = 1;
    let out = loop {
        match ask(engine, job.clone(), stop) {
            Asked::Done(out) => break out,
            Asked::Stopped => return None,
            Asked::Failed(f) if f.is_transient() && attempt <= settings.retries => {
                let wait = settings.backoff * 2u32.saturating_pow(attempt - 1);
                (shared.on_progress)(&Progress::Retrying {
                    index: item.index.clone(),
                    attempt,
                    wait,
                    reason: f.message.clone(),
                });
                if wait_unless_stopped(wait, stop) {
                    return None;
                }
                attempt += 1;
            }
            Asked::Failed(f) => {
                return Some(failed(
                    item,
                    f.message,
                    attempt,
                    start.elapsed().as_secs_f64(),
                ))
            }
        }
    };
    if out.finish_reason == FinishReason::Cancelled {
        return None;
    }
    Some(scored(item, &out, judge, stop, attempt, start))
}

fn scored(
    item: &Item,
    out: &Output,
    judge: Option<&dyn ChatEngine>,
    stop: &AtomicBool,
    attempts: u32,
    start: Instant,
) -> Prediction {
    let rules = score(item, &out.text);
    let mut method = match rules.verdict {
        Verdict::Undecided => Method::Unscored,
        _ => Method::Rules,
    };
    let mut correct = rules.verdict == Verdict::Correct;
    let (mut judge_reply, mut error) = (None, None);
    if let (Some(judge), Some((section, _)), true) = (judge, &rules.section, rules.needs_judge()) {
        match judge::ask_judge(judge, item, section, stop) {
            Ok(reply) => {
                if let Some(v) = judge::verdict(&reply) {
                    method = Method::Judge;
                    correct = v;
                } else {
                    method = Method::Unscored;
                    correct = false;
                }
                judge_reply = Some(reply);
            }
            Err(e) => error = Some(e),
        }
    }
    Prediction {
        index: item.index.clone(),
        line: item.line,
        groups: item.groups.clone(),
        gold: item.answer.clone(),
        reply: out.text.clone(),
        think: out.think.clone(),
        answer: rules.section.as_ref().map(|(s, _)| s.clone()),
        extracted: rules.extracted.as_ref().map(|(t, _)| t.clone()),
        rule: rules.extracted.as_ref().map(|(_, r)| *r),
        verdict: Some(rules.verdict),
        correct,
        method,
        judge_reply,
        error,
        finish_reason: serde_json::to_value(out.finish_reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        tokens: Tokens {
            prompt: out.usage.prompt_tokens,
            completion: out.usage.completion_tokens,
        },
        seconds: start.elapsed().as_secs_f64(),
        attempts,
    }
}
