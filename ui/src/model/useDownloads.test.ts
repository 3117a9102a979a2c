import { act, renderHook } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { DownloadOutcome, DownloadProgress } from "../ipc/types";
import { useDownloads } from "./useDownloads";

vi.mock("../ipc/commands", () => ({ downloadModel: vi.fn(), stopDownload: vi.fn() }));

const at = (done: number): DownloadProgress => ({
  file: "model.safetensors",
  file_index: 2,
  file_count: 2,
  file_done: done,
  file_total: 100,
  done,
  total: 100,
  bytes_per_s: 10,
  eta_s: (100 - done) / 10,
});

/** A download the test drives: progress and the outcome come when the test says. */
function scriptedDownload() {
  let report: (p: DownloadProgress) => void = () => {};
  let finish: (o: DownloadOutcome) => void = () => {};
  let fail: (reason: unknown) => void = () => {};
  vi.mocked(commands.downloadModel).mockImplementation((_id, _token, onProgress) => {
    report = onProgress;
    return new Promise((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
  });
  return { report: (p: DownloadProgress) => report(p), finish: (o: DownloadOutcome) => finish(o), fail: (r: unknown) => fail(r) };
}

describe("useDownloads", () => {
  it("follows a download from progress to done and counts it as finished", async () => {
    const script = scriptedDownload();
    const { result } = renderHook(() => useDownloads());
    act(() => result.current.start("qwen2.5-vl-3b", "hf_x"));
    expect(commands.downloadModel).toHaveBeenCalledWith("qwen2.5-vl-3b", "hf_x", expect.any(Function));
    expect(result.current.states["qwen2.5-vl-3b"]).toEqual({ phase: "running", progress: null, stopping: false });
    act(() => script.report(at(40)));
    expect(result.current.states["qwen2.5-vl-3b"]).toEqual({ phase: "running", progress: at(40), stopping: false });
    await act(async () =>
      script.finish({ outcome: "done", snapshot: "/hub/snap", total_bytes: 100, fetched_bytes: 100, seconds: 2 }),
    );
    expect(result.current.states["qwen2.5-vl-3b"]).toEqual({
      phase: "done",
      snapshot: "/hub/snap",
      fetchedBytes: 100,
      seconds: 2,
    });
    expect(result.current.finished).toBe(1);
  });

  it("marks a stop as asked, keeps the last progress when stopped, and resumes from it", async () => {
    let script = scriptedDownload();
    vi.mocked(commands.stopDownload).mockResolvedValue(true);
    const { result } = renderHook(() => useDownloads());
    act(() => result.current.start("r1-onevision-7b", null));
    act(() => script.report(at(30)));
    act(() => result.current.stop("r1-onevision-7b"));
    expect(commands.stopDownload).toHaveBeenCalledWith("r1-onevision-7b");
    // A report already on its way does not clear the stop the student asked for.
    act(() => script.report(at(31)));
    expect(result.current.states["r1-onevision-7b"]).toEqual({ phase: "running", progress: at(31), stopping: true });
    await act(async () => script.finish({ outcome: "stopped" }));
    expect(result.current.states["r1-onevision-7b"]).toEqual({ phase: "stopped", progress: at(31) });
    expect(result.current.finished).toBe(0);

    script = scriptedDownload();
    act(() => result.current.start("r1-onevision-7b", null));
    expect(result.current.states["r1-onevision-7b"]).toEqual({ phase: "running", progress: at(31), stopping: false });
    await act(async () => script.fail("cannot download R1-Onevision-7B: cannot reach https://huggingface.co"));
    expect(result.current.states["r1-onevision-7b"]).toEqual({
      phase: "failed",
      progress: at(31),
      error: "cannot download R1-Onevision-7B: cannot reach https://huggingface.co",
    });
  });
});
