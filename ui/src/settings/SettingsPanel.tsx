import { useState } from "react";
import type { AppInfo, ModelInfo, PromptPreset } from "../ipc/types";
import { Modal } from "../ui/Modal";
import { DEFAULT_SETTINGS, PICTURE_DETAIL, PRESETS, type SavedSettings } from "./settings";

type NumericKey = "temperature" | "top_p" | "top_k" | "repetition_penalty" | "max_new_tokens" | "seed";

interface NumericField {
  key: NumericKey;
  label: string;
  integer: boolean;
  min: number;
  max: number;
  step: number;
  testId?: string;
  hint: string;
}

const FIELDS: readonly NumericField[] = [
  { key: "temperature", label: "Temperature", integer: false, min: 0, max: 2, step: 0.05, hint: "0 always picks the likeliest token." },
  { key: "top_p", label: "Top-p", integer: false, min: 0, max: 1, step: 0.01, hint: "Sample from the smallest set of tokens this likely." },
  { key: "top_k", label: "Top-k", integer: true, min: 0, max: 100000, step: 1, hint: "Sample from this many likeliest tokens; 0 for all." },
  {
    key: "repetition_penalty",
    label: "Repetition penalty",
    integer: false,
    min: 0.5,
    max: 2,
    step: 0.01,
    hint: "Above 1 discourages repeating tokens.",
  },
  {
    key: "max_new_tokens",
    label: "Max new tokens",
    integer: true,
    min: 1,
    max: 1000000,
    step: 1,
    testId: "max-new-tokens-input",
    hint: "Long reasoning can need several thousand.",
  },
  { key: "seed", label: "Seed", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER, step: 1, hint: "Same seed, same settings, same answer." },
];

function defaultFor(key: NumericKey, model: ModelInfo | null | undefined): string {
  if (!model) return "Model default";
  if (key === "seed") return "Random";
  return `Model default: ${model.defaults[key]}`;
}

/** The typed text as a setting: empty is "the model's default", anything out of range is
 * refused with the reason. */
export function parseField(field: NumericField, text: string): { value: number | null } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { value: null };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { error: `${field.label} must be a number.` };
  if (field.integer && !Number.isInteger(value)) return { error: `${field.label} must be a whole number.` };
  if (value < field.min || value > field.max) {
    return { error: `${field.label} must be between ${field.min} and ${field.max}.` };
  }
  return { value };
}

export interface SettingsPanelProps {
  settings: SavedSettings;
  model: ModelInfo | null | undefined;
  appInfo: AppInfo | null;
  onChange: (settings: SavedSettings) => void;
  onClose: () => void;
}

export function SettingsPanel({ settings, model, appInfo, onChange, onClose }: SettingsPanelProps) {
  const [drafts, setDrafts] = useState<Record<NumericKey, string>>(() => {
    const entries = FIELDS.map((f) => [f.key, settings[f.key] === null ? "" : String(settings[f.key])]);
    return Object.fromEntries(entries) as Record<NumericKey, string>;
  });
  const [errors, setErrors] = useState<Partial<Record<NumericKey, string>>>({});

  const edit = (field: NumericField, text: string) => {
    setDrafts((d) => ({ ...d, [field.key]: text }));
    const parsed = parseField(field, text);
    if ("error" in parsed) {
      setErrors((e) => ({ ...e, [field.key]: parsed.error }));
      return;
    }
    setErrors((e) => ({ ...e, [field.key]: undefined }));
    onChange({ ...settings, [field.key]: parsed.value });
  };

  const reset = () => {
    setDrafts(Object.fromEntries(FIELDS.map((f) => [f.key, ""])) as Record<NumericKey, string>);
    setErrors({});
    onChange({ ...DEFAULT_SETTINGS });
  };

  const knownDetail = PICTURE_DETAIL.some((d) => d.pixels === settings.max_pixels);
  const suggested = model?.suggested_preset;

  return (
    <Modal title="Settings" testId="settings-panel" onClose={onClose}>
      <form className="form" onSubmit={(e) => e.preventDefault()}>
        <div className="form__grid form__grid--two">
          {FIELDS.map((field) => (
            <label key={field.key} className="field">
              <span className="field__label">{field.label}</span>
              <input
                className={`input${errors[field.key] ? " input--invalid" : ""}`}
                data-testid={field.testId}
                inputMode={field.integer ? "numeric" : "decimal"}
                value={drafts[field.key]}
                placeholder={defaultFor(field.key, model)}
                aria-invalid={errors[field.key] ? true : undefined}
                onChange={(e) => edit(field, e.target.value)}
              />
              <span className={errors[field.key] ? "field__error" : "field__hint"}>{errors[field.key] ?? field.hint}</span>
            </label>
          ))}
        </div>
        <label className="field">
          <span className="field__label">Prompt style</span>
          <select
            className="select"
            value={settings.preset ?? ""}
            onChange={(e) => onChange({ ...settings, preset: (e.target.value || null) as PromptPreset | null })}
          >
            <option value="">
              Suggested for the model{suggested ? ` (${PRESETS.find((p) => p.value === suggested)?.label ?? suggested})` : ""}
            </option>
            {PRESETS.map((preset) => (
              <option key={preset.value} value={preset.value}>
                {preset.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field__label">Picture detail</span>
          <select
            className="select"
            value={settings.max_pixels}
            onChange={(e) => onChange({ ...settings, max_pixels: Number(e.target.value) })}
          >
            {!knownDetail && <option value={settings.max_pixels}>Custom ({settings.max_pixels.toLocaleString("en-US")} pixels)</option>}
            {PICTURE_DETAIL.map((detail) => (
              <option key={detail.pixels} value={detail.pixels}>
                {detail.label}
              </option>
            ))}
          </select>
          <span className="field__hint">Pictures are scaled down to at most this many pixels. More detail reads small print better but is slower.</span>
        </label>
        <label className="check">
          <input
            type="checkbox"
            data-testid="settings-load-last"
            checked={settings.load_last_model}
            onChange={(e) => onChange({ ...settings, load_last_model: e.target.checked })}
          />
          <span>Load the last model used when the app starts</span>
        </label>
        <label className="check">
          <input
            type="checkbox"
            data-testid="settings-transcribe-first"
            checked={settings.transcribe_first}
            onChange={(e) => onChange({ ...settings, transcribe_first: e.target.checked })}
          />
          <span>Read the picture first: the model writes down what a picture shows for you to check, then solves</span>
        </label>
        <div className="form__actions">
          <button type="button" className="button" onClick={reset}>
            Reset to defaults
          </button>
          <button type="button" className="button button--primary" onClick={onClose}>
            Done
          </button>
        </div>
      </form>
      {appInfo && (
        <p className="settings__about">
          OneVision Desk {appInfo.version} · data kept in <span className="facts__path">{appInfo.data_dir}</span>
        </p>
      )}
    </Modal>
  );
}
