// A download's progress in words, for the model panel: sizes, speed, time left, current file.
import type { DownloadProgress } from "../ipc/types";
import type { DownloadState } from "./useDownloads";
import { formatBytes, formatLatency, formatSeconds } from "../stream/format";

/** "85 MB/s", "640 kB/s", "0 kB/s" (a stalled connection). */
export function formatSpeed(bytesPerS: number): string {
  if (bytesPerS >= 1e6) return `${formatBytes(bytesPerS)}/s`;
  return `${Math.round(bytesPerS / 1e3)} kB/s`;
}

/** Time left, as rough as it is: "40 s left", "12 min left", "1 h 05 min left". */
export function formatTimeLeft(seconds: number): string {
  // Rounded up: "0 s left" would read as done while bytes are still coming.
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 90) return `${s} s left`;
  const minutes = Math.round(s / 60);
  if (minutes < 90) return `${minutes} min left`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min left`;
}

/** The share done, 0 to 1; 0 while the size is not known yet. */
export function fractionDone(p: DownloadProgress): number {
  return p.total > 0 ? Math.min(1, p.done / p.total) : 0;
}

/** "1.2 GB of 7.0 GB · 85 MB/s · 12 min left". */
export function describeProgress(p: DownloadProgress): string {
  const parts = [`${formatBytes(p.done)} of ${formatBytes(p.total)}`, formatSpeed(p.bytes_per_s)];
  if (p.eta_s !== null && p.done < p.total) parts.push(formatTimeLeft(p.eta_s));
  return parts.join(" · ");
}

/** "model-00002-of-00004.safetensors (file 3 of 9)". */
export function describeFile(p: DownloadProgress): string {
  return `${p.file} (file ${p.file_index} of ${p.file_count})`;
}

/** How long a finished download took: "15 ms", "12.0 s", "14 min 03 s". */
export function formatTook(seconds: number): string {
  return seconds < 60 ? formatLatency(seconds * 1000) : formatSeconds(seconds * 1000);
}

/** The top bar's word on downloads under way: "Downloading 34%", or null when none runs. Several
 * downloads count as one, by bytes. */
export function downloadingLabel(states: Readonly<Record<string, DownloadState>>): string | null {
  let running = 0;
  let done = 0;
  let total = 0;
  for (const s of Object.values(states)) {
    if (s.phase !== "running") continue;
    running += 1;
    done += s.progress?.done ?? 0;
    total += s.progress?.total ?? 0;
  }
  if (running === 0) return null;
  return total > 0 ? `Downloading ${Math.floor((100 * done) / total)}%` : "Downloading…";
}
