import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_REQUEST, loadLastRequest, parseRequest, saveLastRequest } from "./lastRequest";

beforeEach(() => {
  localStorage.clear();
});

describe("parseRequest", () => {
  it("falls back to the default for missing or unreadable storage", () => {
    expect(parseRequest(null)).toEqual(DEFAULT_REQUEST);
    expect(parseRequest("{")).toEqual(DEFAULT_REQUEST);
  });

  it("keeps known choices and replaces unknown ones", () => {
    expect(parseRequest(JSON.stringify({ dir: "/models/R1", device: "cuda", dtype: "bf16", quant: "q4k" }))).toEqual({
      dir: "/models/R1",
      device: "cuda",
      dtype: "bf16",
      quant: "q4k",
    });
    expect(parseRequest(JSON.stringify({ dir: 5, device: "tpu", dtype: "f8", quant: "q2" }))).toEqual(DEFAULT_REQUEST);
  });

  it("round-trips through localStorage", () => {
    const request = { dir: "C:\\models\\R1", device: "cpu" as const, dtype: "f32" as const, quant: "q8_0" as const };
    saveLastRequest(request);
    expect(loadLastRequest()).toEqual(request);
  });
});
