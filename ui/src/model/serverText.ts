// The words the server form uses for what a server answered.
import type { ModelInfo, ServerCheck, ServerModel } from "../ipc/types";
import { formatCount, formatLatency } from "../stream/format";

/** "fixture · reads pictures · 4,096 tokens of context" */
export function describeServerModel(m: ServerModel): string {
  const pictures =
    m.takes_pictures === true
      ? "reads pictures"
      : m.takes_pictures === false
        ? "text only: pictures will be refused"
        : "pictures: the server does not say";
  const context = m.context_tokens ? ` · ${formatCount(m.context_tokens)} tokens of context` : "";
  return `${m.id} · ${pictures}${context}`;
}

/** "http://10.0.0.2:8000/v1 (vLLM) answered in 12 ms with 2 models" */
export function checkSummary(c: ServerCheck): string {
  const n = c.models.length;
  const engine = c.served_by ? ` (${c.served_by})` : "";
  return `${c.base_url}${engine} answered in ${formatLatency(c.elapsed_ms)} with ${n} ${n === 1 ? "model" : "models"}`;
}

/** The host (and port) of a server's address, for the top bar: "10.0.0.2:8000". */
export function serverHost(endpoint: string | null): string {
  if (!endpoint) return "";
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

export function isServer(info: ModelInfo | null | undefined): boolean {
  return info?.engine === "server";
}
