// One typed function per Tauri command, so components never spell a command name or an
// argument key themselves. Argument keys are snake_case because the Rust commands are declared
// with `rename_all = "snake_case"`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type {
  AppInfo,
  AskRequest,
  AskStarted,
  AttachedPicture,
  CaptureRegion,
  Conversation,
  ConversationSummary,
  DownloadOutcome,
  DownloadProgress,
  EvalEvent,
  EvalItem,
  EvalRequest,
  EvalRun,
  EvalRunDetail,
  EvalStarted,
  LoadRequest,
  MachineModels,
  MeasuredSpeed,
  ModelInfo,
  PictureCrop,
  PictureView,
  RemovedModel,
  ScreenCapture,
  SavedServer,
  SearchHit,
  SearchRequest,
  ServerCheck,
  ServerRequest,
  SolveRequest,
  SolveStarted,
  StreamEvent,
} from "./types";

export type ExportFormat = "md" | "json";

export function appInfo(): Promise<AppInfo> {
  return invoke<AppInfo>("app_info");
}

export function modelInfo(): Promise<ModelInfo | null> {
  return invoke<ModelInfo | null>("model_info");
}

export function loadModel(request: LoadRequest): Promise<ModelInfo> {
  return invoke<ModelInfo>("load_model", { request });
}

/** The window has painted its first frame (logged with the start-up time). */
export function windowPainted(): Promise<void> {
  return invoke<void>("window_painted");
}

/** Stops waiting for the load under way; the model in use stays. */
export function cancelLoad(): Promise<void> {
  return invoke<void>("cancel_load");
}

/** "Test connection": the models an OpenAI-compatible server lists. */
export function checkServer(address: string, apiKey: string | null): Promise<ServerCheck> {
  return invoke<ServerCheck>("check_server", { address, api_key: apiKey });
}

/** Makes a server's model the one that answers. */
export function switchToServer(request: ServerRequest): Promise<ModelInfo> {
  return invoke<ModelInfo>("use_server", { request });
}

export function savedServer(): Promise<SavedServer | null> {
  return invoke<SavedServer | null>("saved_server");
}

/** The catalog, the copies in the Hugging Face cache, and the models in `folders`. */
export function findModels(folders: readonly string[]): Promise<MachineModels> {
  return invoke<MachineModels>("find_models", { folders });
}

/** Downloads a catalog model into the Hugging Face cache; resolves when it is done or stopped. */
export function downloadModel(
  id: string,
  token: string | null,
  onProgress: (progress: DownloadProgress) => void,
): Promise<DownloadOutcome> {
  const channel = new Channel<DownloadProgress>();
  channel.onmessage = onProgress;
  return invoke<DownloadOutcome>("download_model", { id, token, channel });
}

export function stopDownload(id: string): Promise<boolean> {
  return invoke<boolean>("stop_download", { id });
}

/** Deletes a found model (a cache snapshot or an added folder's checkpoint) and its packed weights. */
export function removeModel(path: string): Promise<RemovedModel> {
  return invoke<RemovedModel>("remove_model", { path });
}

/** How fast the model in `dir` ran here, per precision, from its replies in the history. */
export function measuredSpeeds(dir: string): Promise<MeasuredSpeed[]> {
  return invoke<MeasuredSpeed[]>("measured_speeds", { dir });
}

export function pickModelDir(): Promise<string | null> {
  return invoke<string | null>("pick_model_dir");
}

export function pickPictures(): Promise<AttachedPicture[]> {
  return invoke<AttachedPicture[]>("pick_pictures");
}

export function attachPicturePath(path: string): Promise<AttachedPicture> {
  return invoke<AttachedPicture>("attach_picture_path", { path });
}

export function attachPictureBytes(dataBase64: string): Promise<AttachedPicture> {
  return invoke<AttachedPicture>("attach_picture_bytes", { data_base64: dataBase64 });
}

/** What the model will see of an attached picture at the picture detail `maxPixels`. */
export function viewPicture(sha256: string, maxPixels: number): Promise<PictureView> {
  return invoke<PictureView>("view_picture", { sha256, max_pixels: maxPixels });
}

/** Attaches a rectangle of an attached picture. */
export function cropPicture(crop: PictureCrop): Promise<AttachedPicture> {
  return invoke<AttachedPicture>("crop_picture", { crop });
}

export function captureScreen(): Promise<ScreenCapture> {
  return invoke<ScreenCapture>("capture_screen");
}

export function cropCapture(region: CaptureRegion): Promise<AttachedPicture> {
  return invoke<AttachedPicture>("crop_capture", { region });
}

export function cancelCapture(captureId: string): Promise<void> {
  return invoke<void>("cancel_capture", { capture_id: captureId });
}

/** Starts a generation. `onEvent` is attached before the command is sent, so no event is lost. */
export function ask(
  request: AskRequest,
  onEvent: (event: StreamEvent) => void,
): Promise<AskStarted> {
  const channel = new Channel<StreamEvent>();
  channel.onmessage = onEvent;
  return invoke<AskStarted>("ask", { request, channel });
}

export function solve(request: SolveRequest, onEvent: (event: StreamEvent) => void): Promise<SolveStarted> {
  const channel = new Channel<StreamEvent>();
  channel.onmessage = onEvent;
  return invoke<SolveStarted>("solve", { request, channel });
}

export function stopGeneration(): Promise<void> {
  return invoke<void>("stop_generation");
}

export function listConversations(limit: number, offset: number): Promise<ConversationSummary[]> {
  return invoke<ConversationSummary[]>("list_conversations", { limit, offset });
}

export function getConversation(id: number): Promise<Conversation> {
  return invoke<Conversation>("get_conversation", { id });
}

export function searchHistory(request: SearchRequest): Promise<SearchHit[]> {
  return invoke<SearchHit[]>("search_history", { request });
}

export function renameConversation(id: number, title: string): Promise<void> {
  return invoke<void>("rename_conversation", { id, title });
}

export function setPinned(id: number, pinned: boolean): Promise<void> {
  return invoke<void>("set_pinned", { id, pinned });
}

export function deleteConversation(id: number): Promise<void> {
  return invoke<void>("delete_conversation", { id });
}

export function exportConversation(id: number, format: ExportFormat): Promise<string | null> {
  return invoke<string | null>("export_conversation", { id, format });
}

export function importConversation(): Promise<number | null> {
  return invoke<number | null>("import_conversation");
}

export function openLink(url: string): Promise<void> {
  return invoke<void>("open_link", { url });
}

export function pickBenchmark(): Promise<string | null> {
  return invoke<string | null>("pick_benchmark");
}

/** Starts a benchmark run on the engine in use; its progress comes to `onEvent`. */
export function startEval(request: EvalRequest, onEvent: (event: EvalEvent) => void): Promise<EvalStarted> {
  const channel = new Channel<EvalEvent>();
  channel.onmessage = onEvent;
  return invoke<EvalStarted>("start_eval", { request, channel });
}

export function stopEval(): Promise<boolean> {
  return invoke<boolean>("stop_eval");
}

export function listEvalRuns(): Promise<EvalRun[]> {
  return invoke<EvalRun[]>("list_eval_runs");
}

export function getEvalRun(id: number): Promise<EvalRunDetail> {
  return invoke<EvalRunDetail>("get_eval_run", { id });
}

export function getEvalItem(id: number, index: string): Promise<EvalItem> {
  return invoke<EvalItem>("get_eval_item", { id, index });
}

/** Saves the item as a conversation; its id. */
export function openEvalItem(id: number, index: string): Promise<number> {
  return invoke<number>("open_eval_item", { id, index });
}

export function deleteEvalRun(id: number): Promise<void> {
  return invoke<void>("delete_eval_run", { id });
}
