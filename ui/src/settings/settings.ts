// Generation settings as the user leaves them, kept in localStorage between runs. Anything
// unreadable in storage falls back to the defaults rather than breaking the app.
import type { GenerationSettings, ModelInfo, PromptPreset } from "../ipc/types";

export interface SavedSettings {
  temperature: number | null;
  top_p: number | null;
  top_k: number | null;
  repetition_penalty: number | null;
  max_new_tokens: number | null;
  seed: number | null;
  max_pixels: number;
  /** null: follow the loaded model's suggested preset. */
  preset: PromptPreset | null;
  /** Load the model last asked for when the app starts. */
  load_last_model: boolean;
  /** Transcribe-first: for a question with pictures, the model first writes what they show,
   * for the student to check and correct, then solves (DESIGN.md §10). */
  transcribe_first: boolean;
}

export const DEFAULT_MAX_PIXELS = 1003520;

/** Picture detail choices: multiples of 28 × 28, the model's patch grid. */
export const PICTURE_DETAIL: readonly { label: string; pixels: number }[] = [
  { label: "Low (0.25 MP, fastest)", pixels: 250880 },
  { label: "Medium (0.5 MP)", pixels: 501760 },
  { label: "Standard (1 MP)", pixels: DEFAULT_MAX_PIXELS },
  { label: "High (2 MP)", pixels: 2007040 },
  { label: "Very high (4 MP, slow)", pixels: 4014080 },
];

export const PRESETS: readonly { value: PromptPreset; label: string }[] = [
  { value: "r1-onevision", label: "R1-Onevision (Hint: … Question: …)" },
  { value: "r1-onevision-rl", label: "R1-Onevision RL (<think> / <answer> tags)" },
  { value: "plain", label: "Plain chat" },
];

export const DEFAULT_SETTINGS: SavedSettings = {
  temperature: null,
  top_p: null,
  top_k: null,
  repetition_penalty: null,
  max_new_tokens: null,
  seed: null,
  max_pixels: DEFAULT_MAX_PIXELS,
  preset: null,
  load_last_model: true,
  transcribe_first: true,
};

const KEY = "onevision.settings.v1";

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function isPreset(value: unknown): value is PromptPreset {
  return PRESETS.some((p) => p.value === value);
}

export function parseSettings(raw: string | null): SavedSettings {
  if (!raw) return DEFAULT_SETTINGS;
  try {
    const data = JSON.parse(raw) as Record<string, unknown>;
    if (!data || typeof data !== "object") return DEFAULT_SETTINGS;
    const pixels = numberOrNull(data.max_pixels);
    return {
      temperature: numberOrNull(data.temperature),
      top_p: numberOrNull(data.top_p),
      top_k: numberOrNull(data.top_k),
      repetition_penalty: numberOrNull(data.repetition_penalty),
      max_new_tokens: numberOrNull(data.max_new_tokens),
      seed: numberOrNull(data.seed),
      max_pixels: pixels !== null && pixels > 0 ? pixels : DEFAULT_MAX_PIXELS,
      preset: isPreset(data.preset) ? data.preset : null,
      load_last_model: typeof data.load_last_model === "boolean" ? data.load_last_model : true,
      transcribe_first: typeof data.transcribe_first === "boolean" ? data.transcribe_first : true,
    };
  } catch {
    return DEFAULT_SETTINGS;
  }
}

export function loadSettings(): SavedSettings {
  try {
    return parseSettings(localStorage.getItem(KEY));
  } catch {
    return DEFAULT_SETTINGS;
  }
}

export function saveSettings(settings: SavedSettings) {
  try {
    localStorage.setItem(KEY, JSON.stringify(settings));
  } catch {
    // Storage full or disabled: the settings still apply for this run.
  }
}

export function effectivePreset(settings: SavedSettings, model: ModelInfo | null): PromptPreset {
  return settings.preset ?? model?.suggested_preset ?? "plain";
}

export function toGenerationSettings(settings: SavedSettings, model: ModelInfo | null): GenerationSettings {
  return {
    temperature: settings.temperature,
    top_p: settings.top_p,
    top_k: settings.top_k,
    repetition_penalty: settings.repetition_penalty,
    max_new_tokens: settings.max_new_tokens,
    seed: settings.seed,
    max_pixels: settings.max_pixels,
    preset: effectivePreset(settings, model),
  };
}
