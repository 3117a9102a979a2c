import { fireEvent, render, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { MachineModels } from "../ipc/types";
import { ModelPanel } from "./ModelPanel";
import type { ModelState } from "./useModel";

vi.mock("../ipc/commands", () => ({ findModels: vi.fn(), pickModelDir: vi.fn(), measuredSpeeds: vi.fn() }));

const machine: MachineModels = {
  hub_cache: "/hub",
  gpu_note: null,
  ram_total_bytes: 16e9,
  has_token: true,
  folder_errors: [],
  others: [],
  models: [
    {
      id: "qwen2.5-vl-3b",
      name: "Qwen2.5-VL-3B-Instruct",
      repo: "Qwen/Qwen2.5-VL-3B-Instruct",
      download_bytes: 7.5e9,
      gated: false,
      preset: "plain",
      licence: "Qwen Research License (non-commercial use)",
      note: "smaller and faster; plain chat",
      advice: "Runs on the CPU in f32.",
      fits: true,
      device: "cpu",
      dtype: "f32",
      quant: "q8_0",
      copies: [{ path: "/hub/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc", complete: true, missing: [], bytes: 7.5e9, downloaded: true }],
    },
  ],
};

const downloads = { states: {}, finished: 0, start: vi.fn(), stop: vi.fn() };

function failedModel(dir: string): ModelState {
  localStorage.setItem("onevision.model-request.v1", JSON.stringify({ dir, device: "auto", dtype: "auto", quant: "none" }));
  return { info: null, loadingSince: null, error: `${dir} is not a folder`, load: vi.fn(), connect: vi.fn(), cancel: vi.fn() };
}

describe("ModelPanel", () => {
  beforeEach(() => {
    localStorage.clear();
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    vi.mocked(commands.measuredSpeeds).mockResolvedValue([]);
  });

  it("shows the speeds measured here for the chosen folder, marking the chosen precision", async () => {
    vi.mocked(commands.measuredSpeeds).mockResolvedValue([
      { device: "cpu", dtype: "f32", quant: "q4k", replies: 12, decode_tok_s: 3.7, prefill_tok_s: 10.5, last_at: 2 },
      { device: "cpu", dtype: "f32", quant: "q8_0", replies: 3, decode_tok_s: 2.4, prefill_tok_s: 6.1, last_at: 1 },
    ]);
    localStorage.setItem("onevision.model-request.v1", JSON.stringify({ dir: "/models/r1", device: "auto", dtype: "auto", quant: "q4k" }));
    const model: ModelState = { info: null, loadingSince: null, error: null, load: vi.fn(), connect: vi.fn(), cancel: vi.fn() };
    render(<ModelPanel model={model} downloads={downloads} onClose={vi.fn()} />);
    const lines = await screen.findAllByTestId("measured-speed");
    expect(commands.measuredSpeeds).toHaveBeenCalledWith("/models/r1");
    expect(lines.map((l) => l.getAttribute("data-chosen"))).toEqual(["true", "false"]);
    expect(lines[0]?.textContent).toContain("3.7 tokens/s writing, 10.5 tokens/s reading the question");
    fireEvent.change(screen.getByTestId("model-quant-select"), { target: { value: "none" } });
    expect(screen.getAllByTestId("measured-speed").map((l) => l.getAttribute("data-chosen"))).toEqual(["false", "false"]);
    expect(screen.getByTestId("speed-not-measured").textContent).toMatch(/with full weights on this computer/);
  });

  it("fills the folder and the advised precision from a found copy, and drops the old folder's error", async () => {
    render(<ModelPanel model={failedModel("/nope")} downloads={downloads} onClose={vi.fn()} />);
    expect(screen.getByTestId("model-error").textContent).toBe("/nope is not a folder");
    fireEvent.click(await screen.findByRole("button", { name: "Use" }));
    const dir = screen.getByTestId<HTMLInputElement>("model-dir-input");
    expect(dir.value).toBe("/hub/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/abc");
    expect(screen.getByTestId<HTMLSelectElement>("model-quant-select").value).toBe("q8_0");
    expect(screen.queryByTestId("model-error")).toBeNull();
  });

  it("keeps the error in view while the folder that failed is still chosen", async () => {
    const model = failedModel("/nope");
    render(<ModelPanel model={model} downloads={downloads} onClose={vi.fn()} />);
    await screen.findByRole("button", { name: "Use" });
    fireEvent.click(screen.getByTestId("model-load-button"));
    expect(model.load).toHaveBeenCalledWith({ dir: "/nope", device: "auto", dtype: "auto", quant: "none" });
    expect(screen.getByTestId("model-error").textContent).toBe("/nope is not a folder");
  });

  it("shows a load the app began by itself with its folder, a sentence and a Cancel", () => {
    localStorage.setItem("onevision.model-request.v1", JSON.stringify({ dir: "/models/r1", device: "auto", dtype: "auto", quant: "q4k" }));
    const model: ModelState = { info: null, loadingSince: Date.now(), error: null, load: vi.fn(), connect: vi.fn(), cancel: vi.fn() };
    render(<ModelPanel model={model} downloads={downloads} autoLoading onClose={vi.fn()} />);
    expect(screen.getByTestId<HTMLInputElement>("model-dir-input").value).toBe("/models/r1");
    expect(screen.getByTestId("model-autoload").textContent).toMatch(/model you used last time/);
    expect(screen.getByTestId<HTMLButtonElement>("model-load-button").disabled).toBe(true);
    fireEvent.click(screen.getByTestId("model-cancel"));
    expect(model.cancel).toHaveBeenCalledTimes(1);
  });

  it("offers no Cancel when nothing is loading", async () => {
    render(<ModelPanel model={failedModel("/nope")} downloads={downloads} onClose={vi.fn()} />);
    await screen.findByRole("button", { name: "Use" });
    expect(screen.queryByTestId("model-cancel")).toBeNull();
    expect(screen.queryByTestId("model-autoload")).toBeNull();
  });
});
