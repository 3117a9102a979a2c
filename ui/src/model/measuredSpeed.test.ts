import { describe, expect, it } from "vitest";
import type { MeasuredSpeed } from "../ipc/types";
import { notMeasuredYet, speedLines } from "./measuredSpeed";

const q4k: MeasuredSpeed = {
  device: "cpu",
  dtype: "f32",
  quant: "q4k",
  replies: 12,
  decode_tok_s: 3.71,
  prefill_tok_s: 10.46,
  last_at: 2,
};
const full: MeasuredSpeed = { ...q4k, dtype: "bf16", quant: "none", replies: 1, decode_tok_s: 0.9, prefill_tok_s: null, last_at: 1 };

describe("measured speeds", () => {
  it("says each precision's speeds and marks the one the panel would load", () => {
    const lines = speedLines([q4k, full], "auto", "auto", "q4k");
    expect(lines.map((l) => [l.precision, l.text, l.chosen])).toEqual([
      ["CPU · f32 · Q4K", "3.7 tokens/s writing, 10.5 tokens/s reading the question (median of 12 answers)", true],
      ["CPU · bf16 · full weights", "0.9 tokens/s writing (median of 1 answer)", false],
    ]);
    expect(notMeasuredYet(lines, "q4k")).toBeNull();
  });

  it("matches a named device or precision exactly", () => {
    expect(speedLines([q4k], "cuda", "auto", "q4k")[0]?.chosen).toBe(false);
    expect(speedLines([q4k], "cpu", "bf16", "q4k")[0]?.chosen).toBe(false);
    expect(speedLines([q4k], "cpu", "f32", "q4k")[0]?.chosen).toBe(true);
  });

  it("says when the chosen precision has not been measured", () => {
    expect(notMeasuredYet(speedLines([q4k], "auto", "auto", "q8_0"), "q8_0")).toMatch(/with Q8_0 on this computer/);
    expect(notMeasuredYet([], "none")).toMatch(/^No speed measured yet for this model on/);
  });
});
