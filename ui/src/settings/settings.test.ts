import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ModelInfo } from "../ipc/types";
import {
  DEFAULT_MAX_PIXELS,
  DEFAULT_SETTINGS,
  PICTURE_DETAIL,
  effectivePreset,
  loadSettings,
  parseSettings,
  saveSettings,
  toGenerationSettings,
  type SavedSettings,
} from "./settings";

const MODEL = { suggested_preset: "r1-onevision-rl" } as ModelInfo;

beforeEach(() => {
  localStorage.clear();
});

describe("parseSettings", () => {
  it("falls back to the defaults for missing or unreadable storage", () => {
    for (const raw of [null, "", "not json", "[", "null", "42", '"text"']) {
      expect(parseSettings(raw), String(raw)).toEqual(DEFAULT_SETTINGS);
    }
  });

  it("keeps valid values", () => {
    const saved: SavedSettings = {
      temperature: 0.6,
      top_p: 0.95,
      top_k: 40,
      repetition_penalty: 1.05,
      max_new_tokens: 4096,
      seed: 7,
      max_pixels: 501760,
      preset: "plain",
      load_last_model: false,
      transcribe_first: false,
    };
    expect(parseSettings(JSON.stringify(saved))).toEqual(saved);
  });

  it("replaces each invalid value with its default, one by one", () => {
    const parsed = parseSettings(
      JSON.stringify({
        temperature: "0.7",
        top_p: null,
        top_k: true,
        repetition_penalty: {},
        max_new_tokens: 1e400,
        seed: 3,
        max_pixels: -5,
        preset: "made-up",
        load_last_model: "no",
        transcribe_first: 1,
        extra: "ignored",
      }),
    );
    expect(parsed).toEqual({ ...DEFAULT_SETTINGS, seed: 3 });
    // Settings saved before transcribe-first existed turn it on.
    expect(parseSettings(JSON.stringify({ seed: 3 })).transcribe_first).toBe(true);
    expect(parseSettings(JSON.stringify({ max_pixels: 0 })).max_pixels).toBe(DEFAULT_MAX_PIXELS);
  });
});

describe("loadSettings and saveSettings", () => {
  it("round-trips through localStorage", () => {
    const settings: SavedSettings = { ...DEFAULT_SETTINGS, temperature: 0.2, preset: "r1-onevision" };
    saveSettings(settings);
    expect(loadSettings()).toEqual(settings);
  });

  it("loads the defaults when nothing was saved", () => {
    expect(loadSettings()).toEqual(DEFAULT_SETTINGS);
  });

  it("survives storage that throws", () => {
    vi.spyOn(Storage.prototype, "setItem").mockImplementation(() => {
      throw new Error("quota");
    });
    vi.spyOn(Storage.prototype, "getItem").mockImplementation(() => {
      throw new Error("denied");
    });
    expect(() => saveSettings(DEFAULT_SETTINGS)).not.toThrow();
    expect(loadSettings()).toEqual(DEFAULT_SETTINGS);
  });
});

describe("presets and generation settings", () => {
  it("follows the model's suggested preset unless one was chosen", () => {
    expect(effectivePreset(DEFAULT_SETTINGS, MODEL)).toBe("r1-onevision-rl");
    expect(effectivePreset(DEFAULT_SETTINGS, null)).toBe("plain");
    expect(effectivePreset({ ...DEFAULT_SETTINGS, preset: "r1-onevision" }, MODEL)).toBe("r1-onevision");
  });

  it("passes every value through, with the preset resolved", () => {
    const settings: SavedSettings = { ...DEFAULT_SETTINGS, top_k: 20, seed: 1, max_pixels: 250880 };
    expect(toGenerationSettings(settings, MODEL)).toEqual({
      temperature: null,
      top_p: null,
      top_k: 20,
      repetition_penalty: null,
      max_new_tokens: null,
      seed: 1,
      max_pixels: 250880,
      preset: "r1-onevision-rl",
    });
  });

  it("offers picture sizes on the model's 28 × 28 patch grid, the default among them", () => {
    for (const { pixels } of PICTURE_DETAIL) expect(pixels % (28 * 28), String(pixels)).toBe(0);
    expect(PICTURE_DETAIL.map((d) => d.pixels)).toContain(DEFAULT_MAX_PIXELS);
  });
});
