// Stream events and stored messages for tests, spelled as the backend sends them.
import type { FinishReason, GenerationStats, MessageStatus, StoredMessage, StreamEvent } from "../ipc/types";

export const NO_STATS: GenerationStats = {
  prompt_tokens: null,
  generated_tokens: null,
  ttft_ms: null,
  vision_ms: null,
  prefill_ms: null,
  decode_ms: null,
  tokens_per_s: null,
  think_ms: null,
  think_tokens: null,
};

export const ev = {
  started: (promptTokens = 100): StreamEvent => ({
    event: "started",
    data: { prompt_tokens: promptTokens, reused_tokens: 0, cached_pictures: 0 },
  }),
  think: (delta: string): StreamEvent => ({ event: "think", data: { delta } }),
  answer: (delta: string): StreamEvent => ({ event: "answer", data: { delta } }),
  stats: (generated: number, elapsedMs = 0, tokensPerS = 0): StreamEvent => ({
    event: "stats",
    data: { generated_tokens: generated, elapsed_ms: elapsedMs, tokens_per_s: tokensPerS },
  }),
  done: (
    data: {
      finish_reason?: FinishReason;
      status?: MessageStatus;
      final_answer?: string | null;
      stats?: Partial<GenerationStats>;
    } = {},
  ): StreamEvent => ({
    event: "done",
    data: {
      finish_reason: data.finish_reason ?? "stop",
      status: data.status ?? "complete",
      final_answer: data.final_answer ?? null,
      stats: { ...NO_STATS, ...data.stats },
    },
  }),
  failed: (error: string): StreamEvent => ({ event: "failed", data: { error } }),
};

/** `text` cut into pieces of the given sizes, cycling through them (1, 2, 3 by default), the
 * way a detokenizer hands out deltas. */
export function cutInto(text: string, sizes: readonly number[] = [1, 2, 3]): string[] {
  const chars = Array.from(text);
  const pieces: string[] = [];
  let i = 0;
  let k = 0;
  while (i < chars.length) {
    const n = sizes[k % sizes.length]!;
    pieces.push(chars.slice(i, i + n).join(""));
    i += n;
    k += 1;
  }
  return pieces;
}

export function storedAssistant(patch: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id: 2,
    conversation_id: 1,
    position: 1,
    role: "assistant",
    kind: "reply",
    text: "",
    think: "",
    answer: "",
    edited_from: null,
    final_answer: null,
    status: "complete",
    error: null,
    stats: NO_STATS,
    settings: null,
    pictures: [],
    created_at: 0,
    updated_at: 0,
    ...patch,
  };
}
