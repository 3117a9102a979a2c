//! What crosses the IPC, mirroring `ui/src/ipc/types.ts` field for field (snake_case, as the
//! store and the `onevision` command spell them). Change both together.

use onevision_engine::catalog::cache::model_folder_name;
use onevision_engine::generate::FinishReason;
use onevision_engine::preset::PromptPreset;
use onevision_engine::worker::{ModelInfo, DEFAULT_MAX_NEW_TOKENS};
use onevision_store::{GenerationStats, MessageStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub history_error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoadRequest {
    pub dir: String,
    pub device: String,
    pub dtype: String,
    pub quant: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerationDefaultsDto {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub repetition_penalty: f32,
    pub max_new_tokens: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfoDto {
    pub dir: String,
    pub name: String,
    pub device: String,
    pub dtype: String,
    pub quant: String,
    pub load_ms: f64,
    pub context_tokens: usize,
    pub defaults: GenerationDefaultsDto,
    pub suggested_preset: PromptPreset,
    /// `local` (this computer) or `server`.
    pub engine: &'static str,
    /// The server's base URL, for a server.
    pub endpoint: Option<String>,
    /// Whether the server's model reads pictures, when it says; `None` for "not said".
    pub takes_pictures: Option<bool>,
}

/// The name a model is recorded under: its folder's name, or its repository's for a Hugging
/// Face cache snapshot (the prompt preset is suggested from it).
pub fn model_name(info: &ModelInfo) -> String {
    model_folder_name(&info.dir)
}

impl From<&ModelInfo> for ModelInfoDto {
    fn from(info: &ModelInfo) -> Self {
        let s = &info.defaults.sampling;
        let name = model_name(info);
        ModelInfoDto {
            dir: info.dir.display().to_string(),
            suggested_preset: PromptPreset::suggest(&name),
            name,
            device: onevision_engine::device::device_name(&info.device).to_owned(),
            dtype: onevision_engine::device::dtype_name(info.dtype).to_owned(),
            quant: info.quant.name().to_owned(),
            load_ms: info.load_ms,
            context_tokens: info.context_tokens,
            defaults: GenerationDefaultsDto {
                temperature: s.temperature,
                top_p: s.top_p,
                top_k: s.top_k,
                repetition_penalty: s.repetition_penalty,
                max_new_tokens: info
                    .defaults
                    .max_new_tokens
                    .unwrap_or(DEFAULT_MAX_NEW_TOKENS),
            },
            engine: "local",
            endpoint: None,
            takes_pictures: Some(true),
        }
    }
}

/// What a server's model list says of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ServerModel {
    pub id: String,
    pub takes_pictures: Option<bool>,
    pub context_tokens: Option<usize>,
}

/// The answer to "test connection".
#[derive(Debug, Clone, Serialize)]
pub struct ServerCheck {
    pub base_url: String,
    /// The engine behind the server (vLLM, SGLang, …), when its model list says.
    pub served_by: Option<String>,
    pub models: Vec<ServerModel>,
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerRequest {
    pub address: String,
    /// `None`: the key remembered for this address, if any.
    pub api_key: Option<String>,
    pub model: String,
    /// Keep the key for the next start (in a file only this user can read).
    pub remember_key: bool,
}

/// The server the app used last, to fill the form again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedServer {
    pub address: String,
    pub model: String,
    #[serde(default)]
    pub has_key: bool,
}

/// The model panel's list: every catalog model with what this machine can run of it.
#[derive(Debug, Clone, Serialize)]
pub struct MachineModels {
    pub hub_cache: Option<String>,
    /// Why no GPU is used, in words, when none is.
    pub gpu_note: Option<String>,
    pub ram_total_bytes: Option<u64>,
    /// A Hugging Face token is already set up (`HF_TOKEN` or `huggingface-cli login`), so a gated
    /// model downloads without asking for one.
    pub has_token: bool,
    pub models: Vec<ModelOffer>,
    /// Qwen2.5-VL folders in the added folders that are not copies of a catalog model.
    pub others: Vec<OtherModel>,
    /// Added folders that cannot be read, each in a sentence.
    pub folder_errors: Vec<String>,
}

/// What removing a model freed.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedModel {
    pub freed_bytes: u64,
    /// Packed-weight files that went with it.
    pub packed_files: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OtherModel {
    pub name: String,
    pub path: String,
    pub complete: bool,
    pub missing: Vec<String>,
    pub bytes: u64,
    /// In the Hugging Face cache (downloaded), not a folder of the student's own.
    pub downloaded: bool,
}

/// How a download from the model panel ended, when it did not fail.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DownloadOutcome {
    Done {
        /// The folder to load.
        snapshot: String,
        total_bytes: u64,
        /// Fetched by this download (a resume fetches only the rest).
        fetched_bytes: u64,
        seconds: f64,
    },
    /// Stopped by the student; what arrived is kept for a resume.
    Stopped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelOffer {
    pub id: String,
    pub name: String,
    pub repo: String,
    pub download_bytes: u64,
    pub gated: bool,
    pub preset: PromptPreset,
    pub licence: String,
    /// What a student should know before choosing it.
    pub note: String,
    /// Where and in what precision it runs best here, in a sentence or two.
    pub advice: String,
    pub fits: bool,
    pub device: String,
    pub dtype: String,
    pub quant: String,
    /// Copies found in the Hugging Face cache and the added folders.
    pub copies: Vec<ModelCopy>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelCopy {
    pub path: String,
    pub complete: bool,
    pub missing: Vec<String>,
    /// What the copy holds on disk.
    pub bytes: u64,
    /// In the Hugging Face cache (downloaded), not a folder of the student's own.
    pub downloaded: bool,
}

/// Generation settings from the settings panel; `None` takes the model folder's default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationSettings {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub repetition_penalty: Option<f32>,
    pub max_new_tokens: Option<usize>,
    pub seed: Option<u64>,
    pub max_pixels: usize,
    pub preset: PromptPreset,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachedPicture {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub mime: String,
    /// `data:image/png;base64,…`
    pub thumbnail: String,
}

/// What the model is shown of an attached picture (commands::pictures::view_picture).
#[derive(Debug, Clone, Serialize)]
pub struct PictureView {
    pub width: u32,
    pub height: u32,
    pub seen_width: u32,
    pub seen_height: u32,
    /// Picture tokens in the prompt.
    pub tokens: usize,
    pub warning: Option<String>,
    /// False when a server resizes the picture again by its own settings.
    pub exact: bool,
    /// The pixels shown, `data:image/png;base64,…`.
    pub image: String,
}

/// A rectangle of a pending picture to send instead of the whole (commands::pictures::crop_picture).
#[derive(Debug, Clone, Deserialize)]
pub struct PictureCrop {
    pub sha256: String,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScreenCapture {
    pub capture_id: String,
    pub width: u32,
    pub height: u32,
    pub image: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CaptureRegion {
    pub capture_id: String,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchRequest {
    pub text: String,
    pub model_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnippetRun {
    pub text: String,
    pub highlighted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHitDto {
    pub conversation_id: i64,
    pub message_id: i64,
    pub title: String,
    pub model_id: String,
    pub updated_at: i64,
    pub snippet: Vec<SnippetRun>,
}

impl From<&onevision_store::SearchHit> for SearchHitDto {
    fn from(h: &onevision_store::SearchHit) -> Self {
        SearchHitDto {
            conversation_id: h.conversation_id.0,
            message_id: h.message_id.0,
            title: h.title.clone(),
            model_id: h.model_id.clone(),
            updated_at: h.conversation_updated_at,
            snippet: h
                .segments()
                .into_iter()
                .map(|(highlighted, text)| SnippetRun {
                    text: text.to_owned(),
                    highlighted,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AskRequest {
    pub conversation_id: Option<i64>,
    pub replace_from: Option<i64>,
    pub text: String,
    pub pictures: Vec<String>,
    pub settings: GenerationSettings,
    /// Transcribe-first (DESIGN.md §10): for a question with pictures, the reply is the model's
    /// reading of them, and the answer waits for `solve`.
    #[serde(default)]
    pub transcribe_first: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct AskStarted {
    pub conversation_id: i64,
    pub user_message_id: i64,
    pub assistant_message_id: i64,
    /// The reply is a transcription (asked for, and the question has pictures).
    pub transcription: bool,
}

/// Answers a question from its transcription, as the student left it.
#[derive(Debug, Clone, Deserialize)]
pub struct SolveRequest {
    pub conversation_id: i64,
    pub transcription_id: i64,
    /// The student's correction; `None` answers from the reading as it stands.
    pub reading: Option<String>,
    pub settings: GenerationSettings,
}

#[derive(Debug, Clone, Serialize)]
pub struct SolveStarted {
    pub assistant_message_id: i64,
    /// The reading the answer starts from, as saved.
    pub reading: String,
    /// The saved reading is the student's, not the model's.
    pub corrected: bool,
}

/// One message of an answer's stream, in the order `Started`, deltas and `Stats`, then exactly
/// one of `Done` or `Failed`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum StreamEvent {
    Started {
        prompt_tokens: usize,
        reused_tokens: usize,
        cached_pictures: usize,
    },
    Think {
        delta: String,
    },
    Answer {
        delta: String,
    },
    Stats {
        generated_tokens: usize,
        elapsed_ms: f64,
        tokens_per_s: f64,
    },
    Done {
        finish_reason: FinishReason,
        status: MessageStatus,
        final_answer: Option<String>,
        stats: GenerationStats,
    },
    Failed {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_events_have_the_shape_the_ui_reads() {
        let e = serde_json::to_value(StreamEvent::Think { delta: "a".into() }).unwrap();
        assert_eq!(
            e,
            serde_json::json!({"event": "think", "data": {"delta": "a"}})
        );
        let e = serde_json::to_value(StreamEvent::Done {
            finish_reason: FinishReason::Cancelled,
            status: MessageStatus::Stopped,
            final_answer: None,
            stats: GenerationStats::default(),
        })
        .unwrap();
        assert_eq!(e["event"], "done");
        assert_eq!(e["data"]["finish_reason"], "cancelled");
        assert_eq!(e["data"]["status"], "stopped");
        assert!(e["data"]["stats"]["think_tokens"].is_null());
    }

    #[test]
    fn settings_read_what_the_ui_sends() {
        let s: GenerationSettings = serde_json::from_value(serde_json::json!({
            "temperature": null, "top_p": 0.9, "top_k": null, "repetition_penalty": null,
            "max_new_tokens": 64, "seed": 7, "max_pixels": 1003520, "preset": "r1-onevision-rl"
        }))
        .unwrap();
        assert_eq!(s.top_p, Some(0.9));
        assert_eq!(s.preset, PromptPreset::R1OnevisionRl);
    }
}

/// A benchmark run to start: the file, and how many of its rows.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalRequest {
    pub data: String,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalStarted {
    pub run_id: i64,
    pub total: usize,
}

/// One item of a run, as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EvalItemRow {
    pub index: String,
    pub line: u64,
    pub groups: std::collections::BTreeMap<String, String>,
    pub gold: String,
    pub extracted: Option<String>,
    pub correct: bool,
    pub method: onevision_eval::record::Method,
    pub error: Option<String>,
    pub seconds: f64,
    pub completion_tokens: usize,
}

impl From<&onevision_eval::record::Prediction> for EvalItemRow {
    fn from(p: &onevision_eval::record::Prediction) -> Self {
        EvalItemRow {
            index: p.index.clone(),
            line: p.line,
            groups: p.groups.clone(),
            gold: p.gold.clone(),
            extracted: p.extracted.clone(),
            correct: p.correct,
            method: p.method,
            error: p.error.clone(),
            seconds: p.seconds,
            completion_tokens: p.tokens.completion,
        }
    }
}

/// What a run reports while it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvalEvent {
    Started {
        total: usize,
        answered_before: usize,
    },
    Item {
        item: EvalItemRow,
        done: usize,
        correct: usize,
    },
    /// A row that cannot be read (`done` counts it), or a retry.
    Notice {
        message: String,
        done: Option<usize>,
    },
    Done {
        run_id: i64,
        status: onevision_store::EvalStatus,
        summary: serde_json::Value,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalRunDetail {
    pub run: onevision_store::EvalRun,
    /// summary.json, once the run has ended.
    pub summary: Option<serde_json::Value>,
    pub items: Vec<EvalItemRow>,
}

/// One item in full.
#[derive(Debug, Clone, Serialize)]
pub struct EvalItemDto {
    pub row: EvalItemRow,
    pub question: String,
    pub options: Vec<(String, String)>,
    /// PNG data URLs of the pictures as the benchmark holds them.
    pub pictures: Vec<String>,
    pub reply: String,
    pub judge_reply: Option<String>,
    /// Why the question and pictures could not be read again from the benchmark file.
    pub data_error: Option<String>,
}
