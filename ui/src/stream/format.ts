// Numbers as the turn shows them. English formatting throughout, matching the UI's words.
const counts = new Intl.NumberFormat("en-US");

export function formatCount(n: number): string {
  return counts.format(Math.round(n));
}

/** Whole seconds for a running clock or a thinking time: "0 s", "41 s", "2 min 05 s". */
export function formatSeconds(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes} min ${String(seconds).padStart(2, "0")} s`;
}

/** A short latency: "850 ms", "1.3 s". */
export function formatLatency(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function formatRate(tokensPerS: number): string {
  return `${tokensPerS >= 100 ? Math.round(tokensPerS) : tokensPerS.toFixed(1)} tokens/s`;
}

export function countWords(text: string): number {
  const matches = text.match(/\S+/g);
  return matches ? matches.length : 0;
}

/** A download or memory size: "16.6 GB", "850 MB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}
