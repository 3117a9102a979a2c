import { describe, expect, it } from "vitest";
import type { MachineModels, ModelOffer } from "../ipc/types";
import { downloadTime, recommendedModel } from "./recommend";

const offer = (id: string, over: Partial<ModelOffer> = {}): ModelOffer => ({
  id,
  name: id,
  repo: `org/${id}`,
  download_bytes: 16.6e9,
  gated: false,
  preset: "r1-onevision",
  licence: "Apache-2.0",
  note: "a model",
  advice: "runs here",
  fits: true,
  device: "cpu",
  dtype: "f32",
  quant: "q8_0",
  copies: [],
  ...over,
});

const machine = (models: ModelOffer[], has_token = false): MachineModels => ({
  hub_cache: "/hub",
  gpu_note: null,
  ram_total_bytes: 16e9,
  has_token,
  folder_errors: [],
  others: [],
  models,
});

describe("recommendedModel", () => {
  it("takes the first model that runs here and needs no token", () => {
    const found = machine([offer("big", { fits: false }), offer("gated", { gated: true }), offer("r1"), offer("small")]);
    expect(recommendedModel(found)?.id).toBe("r1");
    expect(recommendedModel({ ...found, has_token: true })?.id).toBe("gated");
  });

  it("recommends nothing when a catalog model is on disk already, or none runs here", () => {
    const onDisk = offer("small", { copies: [{ path: "/hub/small", complete: true, missing: [], bytes: 7.5e9, downloaded: true }] });
    expect(recommendedModel(machine([offer("r1"), onDisk]))).toBeNull();
    expect(recommendedModel(machine([offer("r1", { fits: false })]))).toBeNull();
    // A download left half-way is not a copy: the recommendation stands.
    const partial = offer("r1", { copies: [{ path: "/hub/r1", complete: false, missing: ["model.safetensors"], bytes: 1e6, downloaded: true }] });
    expect(recommendedModel(machine([partial]))?.id).toBe("r1");
  });
});

describe("downloadTime", () => {
  it("says seconds, minutes or hours at a 50 Mbit/s line", () => {
    expect(downloadTime(100e6)).toBe("about 16 s");
    expect(downloadTime(16.6e9)).toBe("about 44 min");
    expect(downloadTime(40e9)).toBe("about 1.8 h");
    expect(downloadTime(1)).toBe("about 1 s");
  });
});
