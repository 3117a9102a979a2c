// The contract between the desktop shell (src-tauri) and the UI. Field names are snake_case on
// both sides, as the history database and the `onevision` command already spell them.
// src-tauri/src/dto.rs mirrors every type here; change both together.

/** How the question is wrapped for the model family (DESIGN.md §3). */
export type PromptPreset = "r1-onevision" | "r1-onevision-rl" | "plain";

export type DeviceChoice = "auto" | "cpu" | "cuda" | "metal";
export type DtypeChoice = "auto" | "f32" | "bf16" | "f16";
export type QuantChoice = "none" | "q8_0" | "q4k";

export interface LoadRequest {
  dir: string;
  device: DeviceChoice;
  dtype: DtypeChoice;
  quant: QuantChoice;
}

/** Generation settings; `null` means "the model folder's generation_config.json". */
export interface GenerationSettings {
  temperature: number | null;
  top_p: number | null;
  top_k: number | null;
  repetition_penalty: number | null;
  max_new_tokens: number | null;
  seed: number | null;
  /** Picture detail: the most pixels a picture is resized to (default about one megapixel). */
  max_pixels: number;
  preset: PromptPreset;
}

export interface GenerationDefaults {
  temperature: number;
  top_p: number;
  top_k: number;
  repetition_penalty: number;
  max_new_tokens: number;
}

/** The model panel's list (src-tauri/src/dto.rs MachineModels). */
export interface MachineModels {
  hub_cache: string | null;
  gpu_note: string | null;
  ram_total_bytes: number | null;
  /** A Hugging Face token is already set up (HF_TOKEN or `huggingface-cli login`). */
  has_token: boolean;
  models: ModelOffer[];
  /** Qwen2.5-VL folders in the added folders that are not catalog models. */
  others: OtherModel[];
  /** Added folders that cannot be read, each in a sentence. */
  folder_errors: string[];
}

export interface OtherModel {
  name: string;
  path: string;
  complete: boolean;
  missing: string[];
  /** What the folder holds on disk. */
  bytes: number;
  /** In the Hugging Face cache (downloaded), not a folder of the student's own. */
  downloaded: boolean;
}

/** What removing a model freed (src-tauri/src/dto.rs RemovedModel). */
export interface RemovedModel {
  freed_bytes: number;
  /** Packed-weight files that went with it. */
  packed_files: number;
}

/** How fast a model ran on this computer at one precision, from its newest replies
 * (src-tauri/src/speeds.rs MeasuredSpeed). */
export interface MeasuredSpeed {
  device: string;
  dtype: string;
  quant: string;
  /** Replies the medians are taken over. */
  replies: number;
  decode_tok_s: number;
  prefill_tok_s: number | null;
  /** When the newest of them was written (Unix ms). */
  last_at: number;
}

/** A download's progress (onevision-engine catalog::download::DownloadProgress). */
export interface DownloadProgress {
  file: string;
  /** 1-based. */
  file_index: number;
  file_count: number;
  file_done: number;
  file_total: number;
  /** Bytes on disk for the whole model, including what an earlier try fetched. */
  done: number;
  total: number;
  bytes_per_s: number;
  eta_s: number | null;
}

/** How a download ended when it did not fail (src-tauri/src/dto.rs DownloadOutcome). */
export type DownloadOutcome =
  | { outcome: "done"; snapshot: string; total_bytes: number; fetched_bytes: number; seconds: number }
  | { outcome: "stopped" };

export interface ModelOffer {
  id: string;
  name: string;
  repo: string;
  download_bytes: number;
  gated: boolean;
  preset: PromptPreset;
  licence: string;
  /** What a student should know before choosing it. */
  note: string;
  advice: string;
  fits: boolean;
  device: string;
  dtype: string;
  quant: string;
  copies: ModelCopy[];
}

export interface ModelCopy {
  path: string;
  complete: boolean;
  missing: string[];
  /** What the copy holds on disk. */
  bytes: number;
  /** In the Hugging Face cache (downloaded), not a folder of the student's own. */
  downloaded: boolean;
}

export interface ModelInfo {
  dir: string;
  /** The folder's name, also recorded as the conversation's model. */
  name: string;
  device: string;
  dtype: string;
  quant: string;
  load_ms: number;
  context_tokens: number;
  defaults: GenerationDefaults;
  /** The preset guessed from the folder's name; the settings panel may override it. */
  suggested_preset: PromptPreset;
  /** Who answers: the model loaded on this computer, or a server's model. */
  engine: "local" | "server";
  /** The server's base URL (`http://host:8000/v1`), for a server. */
  endpoint: string | null;
  /** Whether the model reads pictures; null when the server does not say. */
  takes_pictures: boolean | null;
}

/** One model a server lists. */
export interface ServerModel {
  id: string;
  takes_pictures: boolean | null;
  context_tokens: number | null;
}

/** What "test connection" found. */
export interface ServerCheck {
  base_url: string;
  /** The engine behind the server (vLLM, SGLang, …), when its model list says. */
  served_by: string | null;
  models: ServerModel[];
  elapsed_ms: number;
}

export interface ServerRequest {
  address: string;
  /** null: the key remembered for this address, if any. */
  api_key: string | null;
  model: string;
  remember_key: boolean;
}

/** The server used last. */
export interface SavedServer {
  address: string;
  model: string;
  has_key: boolean;
}

/** A picture attached to the composer or to a stored message, identified by its SHA-256. */
/** What the model is shown of an attached picture: the pixels after the processor's resize. */
export interface PictureView {
  width: number;
  height: number;
  seen_width: number;
  seen_height: number;
  /** Picture tokens in the prompt. */
  tokens: number;
  /** Small print may be lost, or the picture is too small to read. */
  warning: string | null;
  /** False when a server resizes the picture again by its own settings (or no model is chosen). */
  exact: boolean;
  /** `data:image/png;base64,…` of the pixels shown. */
  image: string;
}

/** A rectangle, in the picture's own pixels, to attach instead of the whole picture. */
export interface PictureCrop {
  sha256: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface AttachedPicture {
  sha256: string;
  width: number;
  height: number;
  mime: string;
  /** A `data:image/png;base64,…` thumbnail, at most 256 px on its longer side. */
  thumbnail: string;
}

/** A full-screen capture waiting for the user to drag a rectangle over it. */
export interface ScreenCapture {
  capture_id: string;
  width: number;
  height: number;
  /** `data:image/png;base64,…` of the whole screen, shown under the selection overlay. */
  image: string;
}

export interface CaptureRegion {
  capture_id: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export type MessageStatus = "streaming" | "complete" | "stopped" | "failed" | "interrupted";
export type Role = "system" | "user" | "assistant";

export interface GenerationStats {
  prompt_tokens: number | null;
  generated_tokens: number | null;
  ttft_ms: number | null;
  vision_ms: number | null;
  prefill_ms: number | null;
  decode_ms: number | null;
  tokens_per_s: number | null;
  /** From the request to the first answer text, when the model thought first. */
  think_ms: number | null;
  /** Tokens generated before the answer began. */
  think_tokens: number | null;
}

export interface StoredMessage {
  id: number;
  conversation_id: number;
  position: number;
  role: Role;
  /** A transcription is transcribe-first's reading of the question's pictures (its `answer`). */
  kind: "reply" | "transcription";
  text: string;
  think: string;
  answer: string;
  /** A corrected transcription: the model's own reading. */
  edited_from: string | null;
  final_answer: string | null;
  status: MessageStatus;
  error: string | null;
  stats: GenerationStats;
  settings: unknown;
  pictures: AttachedPicture[];
  created_at: number;
  updated_at: number;
}

export interface ConversationSummary {
  id: number;
  title: string;
  model_id: string;
  pinned: boolean;
  created_at: number;
  updated_at: number;
  message_count: number;
  /** A reply in it was cut off by a crash. */
  interrupted: boolean;
}

export interface Conversation extends ConversationSummary {
  messages: StoredMessage[];
}

export interface SearchRequest {
  text: string;
  model_id: string | null;
  /** Unix milliseconds, inclusive. */
  from: number | null;
  to: number | null;
}

export interface SearchHit {
  conversation_id: number;
  message_id: number;
  title: string;
  model_id: string;
  updated_at: number;
  /** The snippet cut in runs; `highlighted` runs matched the query. Plain text, never HTML. */
  snippet: { text: string; highlighted: boolean }[];
}

export interface AskRequest {
  /** `null` starts a new conversation. */
  conversation_id: number | null;
  /** Edit-and-resend and regenerate: the messages from this one on are replaced. */
  replace_from: number | null;
  text: string;
  /** SHA-256 ids from `attach_*` or from the conversation's stored pictures. */
  pictures: string[];
  settings: GenerationSettings;
  /** For a question with pictures: the reply is the model's reading of them, and the answer
   * waits for `solve`. */
  transcribe_first: boolean;
}

export interface AskStarted {
  conversation_id: number;
  user_message_id: number;
  assistant_message_id: number;
  /** The reply is a transcription of the pictures. */
  transcription: boolean;
}

/** Answers a question from its transcription, replacing any answer already after it. */
export interface SolveRequest {
  conversation_id: number;
  transcription_id: number;
  /** The student's correction; null answers from the reading as it stands. */
  reading: string | null;
  settings: GenerationSettings;
}

export interface SolveStarted {
  assistant_message_id: number;
  /** The reading the answer starts from, as saved. */
  reading: string;
  corrected: boolean;
}

export type FinishReason = "stop" | "length" | "cancelled";

/** What flows over the ask command's channel, in this order: started, deltas and stats, then
 * exactly one of done or failed. */
export type StreamEvent =
  | {
      event: "started";
      data: { prompt_tokens: number; reused_tokens: number; cached_pictures: number };
    }
  | { event: "think"; data: { delta: string } }
  | { event: "answer"; data: { delta: string } }
  | { event: "stats"; data: { generated_tokens: number; elapsed_ms: number; tokens_per_s: number } }
  | {
      event: "done";
      data: {
        finish_reason: FinishReason;
        status: MessageStatus;
        final_answer: string | null;
        stats: GenerationStats;
      };
    }
  | { event: "failed"; data: { error: string } };

export interface AppInfo {
  version: string;
  data_dir: string;
  /** Set when the history database could not be opened; the app still runs, without history. */
  history_error: string | null;
}

// ---- Benchmarks (src-tauri/src/commands/eval.rs) ----

export type EvalMethod = "rules" | "judge" | "unscored" | "failed";
export type EvalStatus = "running" | "complete" | "stopped" | "failed";

export interface EvalRequest {
  data: string;
  limit: number | null;
}

export interface EvalStarted {
  run_id: number;
  total: number;
}

export interface EvalItemRow {
  index: string;
  line: number;
  groups: Record<string, string>;
  gold: string;
  extracted: string | null;
  correct: boolean;
  method: EvalMethod;
  error: string | null;
  seconds: number;
  completion_tokens: number;
}

export interface Tally {
  correct: number;
  total: number;
  accuracy: number;
}

/** summary.json (DESIGN.md §4's `eval` contract). */
export interface EvalSummary {
  overall: Tally;
  by: Record<string, Record<string, Tally>>;
  failed: string[];
  methods: Record<string, number>;
  /** Each grouping column's values in the file's order (`by` is sorted by name). */
  order: Record<string, string[]>;
  stage_column?: string;
  subject_column?: string;
  run: { data: string; model: string; endpoint?: string; preset: string; asked: number; seconds: number };
  items_per_hour?: number;
}

export type EvalEvent =
  | { kind: "started"; total: number; answered_before: number }
  | { kind: "item"; item: EvalItemRow; done: number; correct: number }
  | { kind: "notice"; message: string; done: number | null }
  | { kind: "done"; run_id: number; status: EvalStatus; summary: EvalSummary }
  | { kind: "failed"; message: string };

export interface EvalRun {
  id: number;
  created_at: number;
  updated_at: number;
  data_path: string;
  model: string;
  out_dir: string;
  status: EvalStatus;
  /** summary.json's text. */
  summary: string | null;
  error: string | null;
}

export interface EvalRunDetail {
  run: EvalRun;
  summary: EvalSummary | null;
  items: EvalItemRow[];
}

export interface EvalItem {
  row: EvalItemRow;
  question: string;
  options: [string, string][];
  /** PNG data URLs. */
  pictures: string[];
  reply: string;
  judge_reply: string | null;
  data_error: string | null;
}
