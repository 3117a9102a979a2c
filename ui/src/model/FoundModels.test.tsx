import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { MachineModels } from "../ipc/types";
import { formatBytes } from "../stream/format";
import { FoundModels } from "./FoundModels";

vi.mock("../ipc/commands", () => ({ findModels: vi.fn() }));

const machine: MachineModels = {
  hub_cache: "/home/s/.cache/huggingface/hub",
  gpu_note: "this build has no CUDA support",
  ram_total_bytes: 24e9,
  models: [
    {
      id: "r1-onevision-7b",
      name: "R1-Onevision-7B",
      repo: "Fancy-MLLM/R1-Onevision-7B",
      download_bytes: 16.6e9,
      gated: false,
      preset: "r1-onevision",
      advice: "Runs on the CPU: choose q8_0 (~14.4 GB).",
      fits: true,
      device: "cpu",
      dtype: "f32",
      quant: "q8_0",
      copies: [{ path: "/cache/models--Fancy-MLLM--R1-Onevision-7B/snapshots/abc", complete: true, missing: [] }],
    },
    {
      id: "ovr-7b-rl",
      name: "OVR-7B-RL",
      repo: "Kangheng/OVR-7B-RL",
      download_bytes: 16.6e9,
      gated: true,
      preset: "plain",
      advice: "Runs on the CPU: choose q8_0.",
      fits: true,
      device: "cpu",
      dtype: "f32",
      quant: "q8_0",
      copies: [],
    },
  ],
};

describe("FoundModels", () => {
  it("offers complete copies, says how the rest are fetched, and hands the advice to the panel", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    const onUse = vi.fn();
    render(<FoundModels onUse={onUse} />);
    const items = await screen.findAllByTestId("found-model");
    expect(items).toHaveLength(2);
    const [found, missing] = items as [HTMLElement, HTMLElement];
    expect(found.textContent).toContain("choose q8_0");
    fireEvent.click(found.querySelector("button") as HTMLButtonElement);
    expect(onUse).toHaveBeenCalledWith(machine.models[0]?.copies[0]?.path, machine.models[0]);
    expect(missing.querySelector("button")).toBeNull();
    expect(missing.textContent).toContain("Not downloaded · 16.6 GB");
    expect(missing.textContent).toContain("onevision models download ovr-7b-rl");
    expect(missing.textContent).toContain("token");
  });

  it("shows the engine's sentence when the machine cannot be read", async () => {
    vi.mocked(commands.findModels).mockRejectedValue("cannot read the Hugging Face cache");
    render(<FoundModels onUse={() => {}} />);
    expect((await screen.findByRole("alert")).textContent).toBe("cannot read the Hugging Face cache");
  });
});

describe("formatBytes", () => {
  it("says gigabytes with one decimal and megabytes whole", () => {
    expect(formatBytes(16_600_000_000)).toBe("16.6 GB");
    expect(formatBytes(850_000_000)).toBe("850 MB");
    expect(formatBytes(10)).toBe("1 MB");
  });
});
