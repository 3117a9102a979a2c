//! Benchmarks from the app: a run of `onevision eval` on the engine in use (a model here or a
//! server), its progress streamed, past runs kept in the store and reopened, an item read in full
//! and opened as a conversation to ask follow-ups.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use base64::Engine as _;
use onevision_engine::preset::PromptPreset;
use onevision_engine::sampler::SamplingParams;
use onevision_engine::split::{final_answer, Split};
use onevision_eval::item::decode_picture;
use onevision_eval::record::{read_predictions, Prediction};
use onevision_eval::run::{run, Progress, Settings};
use onevision_eval::summary::{summarise, RunInfo, TableColumns};
use onevision_eval::Dataset;
use onevision_store::{
    EvalRunId, EvalStatus, Finish, GenerationStats, NewMessage, PictureInput, Store,
};
use tauri::ipc::Channel;
use tauri::State;

use super::blocking;
use crate::dto::{EvalEvent, EvalItemDto, EvalItemRow, EvalRequest, EvalRunDetail, EvalStarted};
use crate::engine::AppEngine;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Requests a server answers at once during a run; a model here answers one at a time.
const SERVER_CONCURRENCY: usize = 4;

#[tauri::command]
pub async fn pick_benchmark() -> AppResult<Option<String>> {
    blocking(|| {
        Ok(rfd::FileDialog::new()
            .set_title("Choose a benchmark (TSV or JSONL)")
            .add_filter("Benchmarks", &["tsv", "jsonl"])
            .pick_file()
            .map(|p| p.display().to_string()))
    })
    .await
}

fn settings(engine: &AppEngine, limit: Option<usize>) -> Settings {
    let name = engine.seam().source().model_name();
    let (sampling, max_new_tokens, concurrency) = match engine {
        AppEngine::Local(w) => {
            let d = &w.info().defaults;
            let greedy = SamplingParams {
                temperature: 0.0,
                ..d.sampling.clone()
            };
            (greedy, d.max_new_tokens, 1)
        }
        AppEngine::Server { .. } => (SamplingParams::default(), None, SERVER_CONCURRENCY),
    };
    Settings {
        preset: PromptPreset::suggest(&name),
        sampling: Some(sampling),
        max_new_tokens,
        concurrency,
        limit,
        ..Settings::default()
    }
}

/// Starts a run on the engine in use; returns at once with its id, and its progress comes over
/// `channel` until `done` or `failed`.
#[tauri::command(rename_all = "snake_case")]
pub async fn start_eval(
    state: State<'_, AppState>,
    request: EvalRequest,
    channel: Channel<EvalEvent>,
) -> AppResult<EvalStarted> {
    let engine = state.engine()?;
    let store = state.store()?.clone();
    if request.limit == Some(0) {
        return Err(AppError::new("the limit must be at least 1 item"));
    }
    let data = PathBuf::from(request.data.trim());
    let dataset = {
        let data = data.clone();
        blocking(move || Dataset::open(&data).map_err(|e| AppError::new(e.to_string()))).await?
    };
    let stop = state.begin_eval()?;
    let model = engine.record_name();
    let created = async {
        let id = store
            .create_eval_run(&data.display().to_string(), &model)
            .await?;
        let out = state.data_dir.join("eval").join(id.0.to_string());
        store
            .set_eval_out_dir(id, &out.display().to_string())
            .await?;
        Ok::<_, AppError>((id, out))
    }
    .await;
    let (id, out) = match created {
        Ok(c) => c,
        Err(e) => {
            state.end_eval();
            return Err(e);
        }
    };
    let total = request.limit.unwrap_or(usize::MAX).min(dataset.rows());
    let settings = settings(&engine, request.limit);
    let finished = state.eval_finished();
    std::thread::Builder::new()
        .name("onevision-eval".into())
        .spawn(move || {
            evaluate(
                &dataset, &engine, &store, id, &out, &settings, &stop, &channel,
            );
            finished();
        })
        .map_err(|e| AppError::new(format!("cannot start the evaluation: {e}")))?;
    Ok(EvalStarted {
        run_id: id.0,
        total,
    })
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    dataset: &Dataset,
    engine: &AppEngine,
    store: &Store,
    id: EvalRunId,
    out: &Path,
    settings: &Settings,
    stop: &AtomicBool,
    channel: &Channel<EvalEvent>,
) {
    let done = std::sync::Mutex::new((0usize, 0usize));
    let on_progress = |p: &Progress| {
        let event = match p {
            Progress::Started {
                total,
                answered_before,
            } => EvalEvent::Started {
                total: *total,
                answered_before: *answered_before,
            },
            Progress::Finished { prediction, .. } => {
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                d.0 += 1;
                d.1 += usize::from(prediction.correct);
                EvalEvent::Item {
                    item: EvalItemRow::from(prediction.as_ref()),
                    done: d.0,
                    correct: d.1,
                }
            }
            Progress::RowUnreadable(row) => {
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                d.0 += 1;
                EvalEvent::Notice {
                    message: format!("{}: {row}", dataset.path().display()),
                    done: Some(d.0),
                }
            }
            Progress::Retrying {
                index,
                wait,
                reason,
                ..
            } => EvalEvent::Notice {
                message: format!(
                    "item {index}: {reason}; asking again in {:.0} s",
                    wait.as_secs_f64()
                ),
                done: None,
            },
        };
        let _ = channel.send(event);
    };
    let result = run(
        dataset,
        engine.seam(),
        None,
        out,
        settings,
        stop,
        &on_progress,
    );
    let ended = result.and_then(|outcome| {
        let summary = summarise(
            &outcome.predictions,
            &outcome.unreadable,
            RunInfo {
                data: dataset.path().display().to_string(),
                model: engine.seam().source().model_name(),
                endpoint: engine.endpoint().map(str::to_owned),
                judge: None,
                preset: settings.preset.to_string(),
                asked: outcome.asked,
                seconds: outcome.seconds,
            },
            &TableColumns::default(),
        );
        summary.write(out)?;
        onevision_eval::chart::write(&summary, &out.join("chart.svg"))?;
        Ok((outcome.stopped, summary))
    });
    let (status, summary, error) = match ended {
        Ok((stopped, summary)) => (
            if stopped {
                EvalStatus::Stopped
            } else {
                EvalStatus::Complete
            },
            serde_json::to_value(&summary).ok(),
            None,
        ),
        Err(e) => (EvalStatus::Failed, None, Some(e.to_string())),
    };
    let text = summary.as_ref().map(|s| s.to_string());
    let recorded = tauri::async_runtime::block_on(store.update_eval_run(
        id,
        status,
        text.as_deref(),
        error.as_deref(),
    ));
    let event = match (error, recorded) {
        (Some(message), _) => EvalEvent::Failed { message },
        (None, Err(e)) => EvalEvent::Failed {
            message: format!("the run finished but could not be recorded: {e}"),
        },
        (None, Ok(())) => EvalEvent::Done {
            run_id: id.0,
            status,
            summary: summary.unwrap_or_default(),
        },
    };
    let _ = channel.send(event);
}

#[tauri::command]
pub fn stop_eval(state: State<'_, AppState>) -> bool {
    state.stop_eval()
}

#[tauri::command]
pub async fn list_eval_runs(
    state: State<'_, AppState>,
) -> AppResult<Vec<onevision_store::EvalRun>> {
    Ok(state.store()?.list_eval_runs().await?)
}

async fn predictions_of(
    store: &Store,
    id: i64,
) -> AppResult<(onevision_store::EvalRun, Vec<Prediction>)> {
    let run = store.get_eval_run(EvalRunId(id)).await?;
    let dir = PathBuf::from(&run.out_dir);
    let predictions =
        blocking(move || read_predictions(&dir).map_err(|e| AppError::new(e.to_string()))).await?;
    Ok((run, predictions))
}

/// A run with its summary and one row per item, in the file's order.
#[tauri::command]
pub async fn get_eval_run(state: State<'_, AppState>, id: i64) -> AppResult<EvalRunDetail> {
    let (run, mut predictions) = predictions_of(state.store()?, id).await?;
    predictions.sort_by_key(|p| p.line);
    Ok(EvalRunDetail {
        summary: run
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        items: predictions.iter().map(EvalItemRow::from).collect(),
        run,
    })
}

fn prediction<'a>(
    predictions: &'a [Prediction],
    index: &str,
    run: i64,
) -> AppResult<&'a Prediction> {
    predictions
        .iter()
        .find(|p| p.index == index)
        .ok_or_else(|| AppError::new(format!("run {run} has no item {index}")))
}

/// The item's question and pictures, read again from the benchmark file.
async fn item_of(data_path: &str, index: &str) -> AppResult<onevision_eval::Item> {
    let path = PathBuf::from(data_path);
    let index = index.to_owned();
    blocking(move || {
        let dataset = Dataset::open(&path).map_err(|e| AppError::new(e.to_string()))?;
        dataset
            .find(&index)
            .map_err(|e| AppError::new(e.to_string()))?
            .ok_or_else(|| {
                AppError::new(format!("{} has no item {index} any more", path.display()))
            })
    })
    .await
}

fn png_bytes(item: &onevision_eval::Item) -> AppResult<Vec<Vec<u8>>> {
    item.pictures
        .iter()
        .map(|source| {
            let picture = decode_picture(item, source).map_err(AppError::new)?;
            let mut bytes = Vec::new();
            picture
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .map_err(|e| {
                    AppError::new(format!("cannot encode item {}'s picture: {e}", item.index))
                })?;
            Ok(bytes)
        })
        .collect()
}

/// One item in full: the question as asked, its pictures, the whole reply and how it was scored.
#[tauri::command]
pub async fn get_eval_item(
    state: State<'_, AppState>,
    id: i64,
    index: String,
) -> AppResult<EvalItemDto> {
    let (run, predictions) = predictions_of(state.store()?, id).await?;
    let p = prediction(&predictions, &index, id)?.clone();
    let item = item_of(&run.data_path, &index).await;
    let (question, options, pictures) = match &item {
        Ok(item) => {
            let pictures = png_bytes(item)
                .unwrap_or_default()
                .iter()
                .map(|b| {
                    format!(
                        "data:image/png;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(b)
                    )
                })
                .collect();
            (
                item.question.clone(),
                item.options
                    .iter()
                    .map(|(l, t)| (l.to_string(), t.clone()))
                    .collect(),
                pictures,
            )
        }
        Err(_) => (String::new(), Vec::new(), Vec::new()),
    };
    Ok(EvalItemDto {
        row: EvalItemRow::from(&p),
        question,
        options,
        pictures,
        reply: p.reply.clone(),
        judge_reply: p.judge_reply.clone(),
        data_error: item.err().map(|e| e.to_string()),
    })
}

/// Saves the item as a conversation (the question with its pictures, the reply as the model
/// wrote it) so the student can ask follow-ups; returns its id.
#[tauri::command]
pub async fn open_eval_item(state: State<'_, AppState>, id: i64, index: String) -> AppResult<i64> {
    let store = state.store()?.clone();
    let (run, predictions) = predictions_of(&store, id).await?;
    let p = prediction(&predictions, &index, id)?.clone();
    if p.reply.is_empty() {
        return Err(AppError::new(format!(
            "item {index} has no reply to open ({})",
            p.error.as_deref().unwrap_or("it was not answered")
        )));
    }
    let item = item_of(&run.data_path, &index).await?;
    let mut question = NewMessage::user(onevision_eval::prompt::question_text(&item));
    for bytes in png_bytes(&item)? {
        question = question.with_picture(PictureInput::Bytes(bytes));
    }
    let created = store
        .create_conversation(&run.model, vec![question])
        .await?;
    let mut writer = store
        .begin_reply(
            created.conversation,
            Some(
                serde_json::json!({"model": run.model, "benchmark": run.data_path, "item": index}),
            ),
        )
        .await?;
    let split = Split::of(&p.reply);
    writer.push_think(&split.think).await?;
    writer.push_answer(&split.answer).await?;
    // What the run measured: the counts, and the whole time as the answer's (the run does not
    // keep where thinking ended).
    let stats = GenerationStats {
        prompt_tokens: u32::try_from(p.tokens.prompt).ok().filter(|n| *n > 0),
        generated_tokens: u32::try_from(p.tokens.completion).ok().filter(|n| *n > 0),
        decode_ms: Some(p.seconds * 1e3),
        ..GenerationStats::default()
    };
    writer
        .finish(Finish {
            final_answer: final_answer(&p.reply, &split.think),
            ..Finish::complete(stats)
        })
        .await?;
    Ok(created.conversation.0)
}

#[tauri::command]
pub async fn delete_eval_run(state: State<'_, AppState>, id: i64) -> AppResult<()> {
    let store = state.store()?;
    let run = store.get_eval_run(EvalRunId(id)).await?;
    if run.status == EvalStatus::Running {
        return Err(AppError::new("the run is still going: stop it first"));
    }
    store.delete_eval_run(EvalRunId(id)).await?;
    let dir = PathBuf::from(&run.out_dir);
    if dir.starts_with(state.data_dir.join("eval")) && dir.is_dir() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| AppError::new(format!("cannot remove {}: {e}", dir.display())))?;
    }
    Ok(())
}
