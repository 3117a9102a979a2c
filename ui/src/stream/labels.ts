// The words under and above an assistant turn. Every number shown comes from the stream or the
// stored stats; where one is unknown the wording says less rather than make one up.
import { countWords, formatCount, formatLatency, formatRate, formatSeconds } from "./format";
import { isThinking, thinkingOrigin, type TurnState } from "./turn";

export function thinkingLabel(turn: TurnState, now: number): string {
  if (isThinking(turn)) {
    const origin = thinkingOrigin(turn) ?? now;
    return `Thinking… ${formatSeconds(now - origin)}`;
  }
  const words = countWords(turn.think);
  // Tokens when the engine counted them; until it has (an answer still streaming), the words
  // written so far, rather than no count at all.
  const count =
    turn.thinkTokens !== null
      ? ` · ${counted(turn.thinkTokens, "token")}`
      : words > 0
        ? ` · ${counted(words, "word")}`
        : "";
  if (turn.thinkMs !== null) {
    const time = turn.thinkMs < 1000 ? "under a second" : formatSeconds(turn.thinkMs);
    return `Thought for ${time}${count}`;
  }
  return `Thought${count}`;
}

function counted(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** "23.4 tokens/s · first token in 850 ms · 1,204 tokens"; empty while nothing is known. */
export function statsLabel(turn: TurnState): string {
  const parts: string[] = [];
  if (turn.tokensPerS !== null && turn.tokensPerS > 0) parts.push(formatRate(turn.tokensPerS));
  if (turn.ttftMs !== null) parts.push(`first token in ${formatLatency(turn.ttftMs)}`);
  if (turn.tokens !== null) parts.push(`${formatCount(turn.tokens)} tokens`);
  return parts.join(" · ");
}

const STATUS_WORDS: Partial<Record<TurnState["status"], string>> = {
  stopped: "Stopped",
  failed: "Failed",
  interrupted: "Interrupted",
};

export function statusBadge(turn: TurnState): string | null {
  if (turn.status === "complete" && turn.finishReason === "length") return "Cut off at the token limit";
  return STATUS_WORDS[turn.status] ?? null;
}
