// Which catalog model the model panel recommends for this machine, and how long it takes to fetch.
import type { MachineModels, ModelOffer } from "../ipc/types";

/** A typical home line, 50 Mbit/s, for saying how long a download takes. */
export const TYPICAL_LINE_BITS_PER_S = 50e6;

/** The first catalog model (the catalog lists the project's own first) that runs on this machine
 * and downloads without further steps (a gated one needs a token); none when a catalog model is
 * already on disk, or when none runs here. */
export function recommendedModel(found: MachineModels): ModelOffer | null {
  if (found.models.some((m) => m.copies.some((c) => c.complete))) return null;
  return found.models.find((m) => m.fits && (!m.gated || found.has_token)) ?? null;
}

/** How long `bytes` take at `bitsPerSecond`, in words: "about 44 min". */
export function downloadTime(bytes: number, bitsPerSecond = TYPICAL_LINE_BITS_PER_S): string {
  const seconds = (bytes * 8) / bitsPerSecond;
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `about ${minutes} min` : `about ${(seconds / 3600).toFixed(1)} h`;
}
