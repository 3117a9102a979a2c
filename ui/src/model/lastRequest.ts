// The last model the user asked to load, so the model panel opens filled in (and the app can
// load it again at start), and whether this computer or a server answered last.
import type { DeviceChoice, DtypeChoice, LoadRequest, QuantChoice } from "../ipc/types";

export const DEVICES: readonly DeviceChoice[] = ["auto", "cpu", "cuda", "metal"];
export const DTYPES: readonly DtypeChoice[] = ["auto", "f32", "bf16", "f16"];
export const QUANTS: readonly QuantChoice[] = ["none", "q8_0", "q4k"];

export const DEFAULT_REQUEST: LoadRequest = { dir: "", device: "auto", dtype: "auto", quant: "none" };

const KEY = "onevision.model-request.v1";

function pick<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

export function parseRequest(raw: string | null): LoadRequest {
  if (!raw) return DEFAULT_REQUEST;
  try {
    const data = JSON.parse(raw) as Record<string, unknown>;
    return {
      dir: typeof data.dir === "string" ? data.dir : "",
      device: pick(data.device, DEVICES, "auto"),
      dtype: pick(data.dtype, DTYPES, "auto"),
      quant: pick(data.quant, QUANTS, "none"),
    };
  } catch {
    return DEFAULT_REQUEST;
  }
}

export function loadLastRequest(): LoadRequest {
  try {
    return parseRequest(localStorage.getItem(KEY));
  } catch {
    return DEFAULT_REQUEST;
  }
}

export function saveLastRequest(request: LoadRequest) {
  try {
    localStorage.setItem(KEY, JSON.stringify(request));
  } catch {
    // Not remembered next time; this load still goes ahead.
  }
}

export type Source = "local" | "server";
const SOURCE_KEY = "onevision.engine-source.v1";

/** Who answered last: this computer or a server. */
export function loadSource(): Source {
  try {
    return localStorage.getItem(SOURCE_KEY) === "server" ? "server" : "local";
  } catch {
    return "local";
  }
}

export function saveSource(source: Source) {
  try {
    localStorage.setItem(SOURCE_KEY, source);
  } catch {
    // Storage may be off; the choice then lasts as long as the window.
  }
}
