import { describe, expect, it } from "vitest";
import type { DownloadProgress } from "../ipc/types";
import {
  describeFile,
  describeProgress,
  formatSpeed,
  formatTimeLeft,
  downloadingLabel,
  formatTook,
  fractionDone,
} from "./downloadText";

const progress: DownloadProgress = {
  file: "model-00002-of-00004.safetensors",
  file_index: 3,
  file_count: 9,
  file_done: 1e9,
  file_total: 3.9e9,
  done: 1.2e9,
  total: 7.0e9,
  bytes_per_s: 85e6,
  eta_s: 67.2,
};

describe("download progress in words", () => {
  it("says how much, how fast and how long", () => {
    expect(describeProgress(progress)).toBe("1.2 GB of 7.0 GB · 85 MB/s · 68 s left");
    expect(describeFile(progress)).toBe("model-00002-of-00004.safetensors (file 3 of 9)");
    expect(fractionDone(progress)).toBeCloseTo(1.2 / 7.0, 12);
  });

  it("leaves out the time left when it is unknown or nothing is left", () => {
    expect(describeProgress({ ...progress, eta_s: null })).toBe("1.2 GB of 7.0 GB · 85 MB/s");
    expect(describeProgress({ ...progress, done: 7.0e9, eta_s: 0 })).toBe("7.0 GB of 7.0 GB · 85 MB/s");
    expect(fractionDone({ ...progress, total: 0, done: 0 })).toBe(0);
  });

  it("scales speeds and times", () => {
    expect(formatSpeed(640_400)).toBe("640 kB/s");
    expect(formatSpeed(0)).toBe("0 kB/s");
    expect(formatTimeLeft(88.4)).toBe("89 s left");
    expect(formatTimeLeft(0.27)).toBe("1 s left");
    expect(formatTimeLeft(12 * 60 + 10)).toBe("12 min left");
    expect(formatTimeLeft(3900)).toBe("65 min left");
    expect(formatTimeLeft(7500)).toBe("2 h 05 min left");
  });

  it("says how long a finished download took", () => {
    expect(formatTook(0.0145)).toBe("15 ms");
    expect(formatTook(0.4)).toBe("400 ms");
    expect(formatTook(12)).toBe("12.0 s");
    expect(formatTook(843)).toBe("14 min 03 s");
  });

  it("sums the running downloads for the top bar", () => {
    expect(downloadingLabel({})).toBeNull();
    expect(downloadingLabel({ a: { phase: "stopped", progress } })).toBeNull();
    expect(downloadingLabel({ a: { phase: "running", progress: null, stopping: false } })).toBe("Downloading…");
    expect(
      downloadingLabel({
        a: { phase: "running", progress, stopping: false },
        b: { phase: "running", progress: { ...progress, done: 0.8e9, total: 1e9 }, stopping: false },
        c: { phase: "done", snapshot: "/s", fetchedBytes: 1, seconds: 1 },
      }),
    ).toBe("Downloading 25%");
  });
});
