import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { DownloadProgress, MachineModels } from "../ipc/types";
import { formatBytes } from "../stream/format";
import { FoundModels } from "./FoundModels";
import type { Downloads, DownloadState } from "./useDownloads";

vi.mock("../ipc/commands", () => ({ findModels: vi.fn(), pickModelDir: vi.fn(), removeModel: vi.fn() }));

const machine: MachineModels = {
  hub_cache: "/home/s/.cache/huggingface/hub",
  gpu_note: "this build has no CUDA support",
  ram_total_bytes: 24e9,
  has_token: false,
  others: [{ name: "my-finetune", path: "/models/my-finetune", complete: true, missing: [], bytes: 8.3e9, downloaded: false }],
  folder_errors: [],
  models: [
    {
      id: "r1-onevision-7b",
      name: "R1-Onevision-7B",
      repo: "Fancy-MLLM/R1-Onevision-7B",
      download_bytes: 16.6e9,
      gated: false,
      preset: "r1-onevision",
      licence: "see the model card",
      note: "reasons step by step, then ends with the answer",
      advice: "Runs on the CPU: choose q8_0 (~14.4 GB).",
      fits: true,
      device: "cpu",
      dtype: "f32",
      quant: "q8_0",
      copies: [{ path: "/home/s/.cache/huggingface/hub/models--Fancy-MLLM--R1-Onevision-7B/snapshots/abc", complete: true, missing: [], bytes: 16.6e9, downloaded: true }],
    },
    {
      id: "ovr-7b-rl",
      name: "OVR-7B-RL",
      repo: "Kangheng/OVR-7B-RL",
      download_bytes: 16.6e9,
      gated: true,
      preset: "plain",
      licence: "Apache-2.0",
      note: "needs a Hugging Face token; answers in \\boxed{}",
      advice: "Runs on the CPU: choose q8_0.",
      fits: true,
      device: "cpu",
      dtype: "f32",
      quant: "q8_0",
      copies: [],
    },
  ],
};

function downloadsWith(states: Record<string, DownloadState> = {}): Downloads {
  return { states, finished: 0, start: vi.fn(), stop: vi.fn() };
}

const halfway: DownloadProgress = {
  file: "model-00001-of-00002.safetensors",
  file_index: 4,
  file_count: 6,
  file_done: 2e9,
  file_total: 4e9,
  done: 8.3e9,
  total: 16.6e9,
  bytes_per_s: 50e6,
  eta_s: 166,
};

describe("FoundModels", () => {
  beforeEach(() => localStorage.clear());

  it("offers complete copies and hands the advice to the panel", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    const onUse = vi.fn();
    render(<FoundModels onUse={onUse} downloads={downloadsWith()} />);
    const items = await screen.findAllByTestId("found-model");
    expect(items).toHaveLength(2);
    const [found, missing] = items as [HTMLElement, HTMLElement];
    expect(found.textContent).toContain("choose q8_0");
    expect(found.querySelector('[data-testid="model-note"]')?.textContent).toBe(
      "Reasons step by step, then ends with the answer. Licence: see the model card.",
    );
    fireEvent.click(found.querySelector("button") as HTMLButtonElement);
    expect(onUse).toHaveBeenCalledWith(machine.models[0]?.copies[0]?.path, machine.models[0]);
    expect(missing.textContent).toContain("Download · 16.6 GB");
    expect(missing.textContent).toContain("onevision models download ovr-7b-rl");
    // A model the catalog does not know, from an added folder, keeps the panel's precision.
    const other = screen.getByTestId("found-other");
    fireEvent.click(other.querySelector("button") as HTMLButtonElement);
    expect(onUse).toHaveBeenLastCalledWith("/models/my-finetune", null);
  });

  it("downloads a gated model with the token typed for it", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    const downloads = downloadsWith();
    render(<FoundModels onUse={vi.fn()} downloads={downloads} />);
    const token = await screen.findByTestId("download-token");
    expect(token.getAttribute("type")).toBe("password");
    fireEvent.change(token, { target: { value: "  hf_secret " } });
    fireEvent.click(screen.getByTestId("download-button"));
    expect(downloads.start).toHaveBeenCalledWith("ovr-7b-rl", "hf_secret");
  });

  it("uses the token already set up unless another is typed", async () => {
    vi.mocked(commands.findModels).mockResolvedValue({ ...machine, has_token: true });
    const downloads = downloadsWith();
    render(<FoundModels onUse={vi.fn()} downloads={downloads} />);
    expect((await screen.findByTestId("download-token-hint")).textContent).toContain(
      "the token saved by huggingface-cli login (or HF_TOKEN) is used",
    );
    fireEvent.click(screen.getByTestId("download-button"));
    expect(downloads.start).toHaveBeenCalledWith("ovr-7b-rl", null);
  });

  it("shows a running download's progress with a stop button, and a stopped one resumes", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    const running = downloadsWith({ "ovr-7b-rl": { phase: "running", progress: halfway, stopping: false } });
    const { rerender } = render(<FoundModels onUse={vi.fn()} downloads={running} />);
    const bar = await screen.findByRole("progressbar");
    expect(bar.getAttribute("aria-valuenow")).toBe("50");
    expect(screen.getByTestId("download-text").textContent).toBe(
      "8.3 GB of 16.6 GB · 50 MB/s · 3 min left · model-00001-of-00002.safetensors (file 4 of 6)",
    );
    fireEvent.click(screen.getByTestId("download-stop"));
    expect(running.stop).toHaveBeenCalledWith("ovr-7b-rl");
    expect(screen.queryByTestId("download-button")).toBeNull();

    const stopped = downloadsWith({ "ovr-7b-rl": { phase: "stopped", progress: halfway } });
    rerender(<FoundModels onUse={vi.fn()} downloads={stopped} />);
    expect(screen.getByTestId("download-button").textContent).toBe("Resume download");
    expect(screen.getByTestId("download-status").textContent).toContain("What arrived is kept");
    expect(screen.getByTestId("download-text").textContent).toBe("8.3 GB of 16.6 GB · 50 MB/s · 3 min left");
  });

  it("says why a download failed", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    const failed = downloadsWith({
      "ovr-7b-rl": { phase: "failed", progress: null, error: "cannot download OVR-7B-RL: the token was refused" },
    });
    render(<FoundModels onUse={vi.fn()} downloads={failed} />);
    expect((await screen.findByTestId("download-status")).textContent).toBe(
      "cannot download OVR-7B-RL: the token was refused",
    );
    expect(screen.getByTestId("download-button").textContent).toBe("Resume download");
  });

  it("looks in an added folder, remembers it, and forgets it when removed", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    vi.mocked(commands.pickModelDir).mockResolvedValue("/data/models");
    const { unmount } = render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    fireEvent.click(await screen.findByTestId("add-folder-button"));
    await waitFor(() => expect(commands.findModels).toHaveBeenLastCalledWith(["/data/models"]));
    expect(screen.getByTestId("model-folder").textContent).toContain("/data/models");
    unmount();

    render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    expect(commands.findModels).toHaveBeenLastCalledWith(["/data/models"]);
    fireEvent.click(await screen.findByRole("button", { name: "Stop looking in /data/models" }));
    await waitFor(() => expect(commands.findModels).toHaveBeenLastCalledWith([]));
    expect(screen.queryByTestId("model-folder")).toBeNull();
  });

  it("removes a downloaded copy after asking, then lists the machine again", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    vi.mocked(commands.removeModel).mockResolvedValue({ freed_bytes: 16.6e9, packed_files: 1 });
    render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    fireEvent.click(await screen.findByRole("button", { name: "Remove R1-Onevision-7B from this computer" }));
    expect(screen.getByTestId("remove-model-question").textContent).toContain("Delete R1-Onevision-7B (16.6 GB)");
    expect(commands.removeModel).not.toHaveBeenCalled();
    const listed = vi.mocked(commands.findModels).mock.calls.length;
    fireEvent.click(screen.getByTestId("remove-model-confirm"));
    expect((await screen.findByTestId("model-removed")).textContent).toBe(
      "Removed R1-Onevision-7B: 16.6 GB freed, with its packed weights.",
    );
    expect(commands.removeModel).toHaveBeenCalledWith(machine.models[0]?.copies[0]?.path);
    // The list is asked for again after the message shows; under load that can be a tick later.
    await waitFor(() => expect(vi.mocked(commands.findModels).mock.calls.length).toBe(listed + 1));
  });

  it("keeps a folder of one's own when Keep is chosen, and says why a removal failed", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    vi.mocked(commands.removeModel).mockRejectedValue("/models/my-finetune is the model in use; load another before removing it");
    render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    const remove = await screen.findByRole("button", { name: "Remove my-finetune from this computer" });
    fireEvent.click(remove);
    expect(screen.getByTestId("remove-model-question").textContent).toContain("Other files in /models/my-finetune stay");
    fireEvent.click(screen.getByRole("button", { name: "Keep" }));
    expect(screen.queryByTestId("remove-model-question")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Remove my-finetune from this computer" }));
    fireEvent.click(screen.getByTestId("remove-model-confirm"));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "/models/my-finetune is the model in use; load another before removing it",
    );
    expect(screen.queryByTestId("model-removed")).toBeNull();
  });

  it("shows the engine's sentence when the machine cannot be read", async () => {
    vi.mocked(commands.findModels).mockRejectedValue("cannot read the Hugging Face cache");
    render(<FoundModels onUse={() => {}} downloads={downloadsWith()} />);
    expect((await screen.findByRole("alert")).textContent).toBe("cannot read the Hugging Face cache");
  });
});

describe("formatBytes", () => {
  it("puts the model recommended for this machine first, with its download time", async () => {
    const [r1, ovr] = machine.models;
    const small = { ...ovr!, id: "qwen2.5-vl-3b", name: "Qwen2.5-VL-3B-Instruct", gated: false, download_bytes: 7.5e9 };
    const fresh: MachineModels = {
      ...machine,
      models: [{ ...r1!, fits: false, copies: [] }, ovr!, small],
    };
    vi.mocked(commands.findModels).mockResolvedValue(fresh);
    render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    await waitFor(() => expect(screen.getAllByTestId("found-model")).toHaveLength(3));
    const order = screen.getAllByTestId("found-model").map((el) => el.getAttribute("data-id"));
    expect(order).toEqual(["qwen2.5-vl-3b", "r1-onevision-7b", "ovr-7b-rl"]);
    expect(screen.getAllByTestId("recommended")).toHaveLength(1);
    expect(screen.getByTestId("recommended-download").textContent).toBe(
      "7.5 GB to download: about 20 min on a typical 50 Mbit/s line.",
    );
  });

  it("recommends nothing while a catalog model is on disk", async () => {
    vi.mocked(commands.findModels).mockResolvedValue(machine);
    render(<FoundModels onUse={vi.fn()} downloads={downloadsWith()} />);
    await waitFor(() => expect(screen.getAllByTestId("found-model")).toHaveLength(2));
    expect(screen.queryByTestId("recommended")).toBeNull();
  });

  it("says gigabytes with one decimal and megabytes whole", () => {
    expect(formatBytes(16_600_000_000)).toBe("16.6 GB");
    expect(formatBytes(850_000_000)).toBe("850 MB");
    expect(formatBytes(10)).toBe("1 MB");
  });
});
