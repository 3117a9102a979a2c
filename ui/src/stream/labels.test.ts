import { describe, expect, it } from "vitest";
import { countWords, formatCount, formatLatency, formatRate, formatSeconds } from "./format";
import { statsLabel, statusBadge, thinkingLabel } from "./labels";
import { newTurn, type TurnState } from "./turn";

function turn(patch: Partial<TurnState>): TurnState {
  return { ...newTurn(0), ...patch };
}

describe("format", () => {
  it("formats counts with thousands separators", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(1204)).toBe("1,204");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(999.6)).toBe("1,000");
  });

  it("formats seconds, then minutes with padded seconds", () => {
    expect(formatSeconds(0)).toBe("0 s");
    expect(formatSeconds(999)).toBe("0 s");
    expect(formatSeconds(41_900)).toBe("41 s");
    expect(formatSeconds(59_999)).toBe("59 s");
    expect(formatSeconds(60_000)).toBe("1 min 00 s");
    expect(formatSeconds(125_000)).toBe("2 min 05 s");
    expect(formatSeconds(-5)).toBe("0 s");
  });

  it("formats latencies and rates", () => {
    expect(formatLatency(849.6)).toBe("850 ms");
    expect(formatLatency(1_300)).toBe("1.3 s");
    expect(formatRate(23.44)).toBe("23.4 tokens/s");
    expect(formatRate(123.6)).toBe("124 tokens/s");
  });

  it("counts words", () => {
    expect(countWords("")).toBe(0);
    expect(countWords("  \n ")).toBe(0);
    expect(countWords(" one two\nthree\tfour ")).toBe(4);
  });
});

describe("thinkingLabel", () => {
  it("runs a timer from the send while thinking", () => {
    const t = turn({ startedAt: 1_000, thinkStartedAt: 1_500 });
    expect(thinkingLabel(t, 13_400)).toBe("Thinking… 12 s");
  });

  it("folds to time and tokens", () => {
    expect(thinkingLabel(turn({ status: "complete", thinkMs: 41_000, thinkTokens: 1204 }), 0)).toBe(
      "Thought for 41 s · 1,204 tokens",
    );
  });

  it("says less when less is known", () => {
    expect(thinkingLabel(turn({ status: "complete", thinkMs: 3_000 }), 0)).toBe("Thought for 3 s");
    expect(thinkingLabel(turn({ status: "complete", thinkTokens: 99 }), 0)).toBe("Thought · 99 tokens");
    expect(thinkingLabel(turn({ status: "complete", think: "a b c" }), 0)).toBe("Thought · 3 words");
    expect(thinkingLabel(turn({ status: "complete", think: "a" }), 0)).toBe("Thought · 1 word");
    expect(thinkingLabel(turn({ status: "complete" }), 0)).toBe("Thought");
  });

  it("never says 0 s, and counts words while the tokens are not known yet", () => {
    expect(thinkingLabel(turn({ status: "streaming", answerStartedAt: 5, thinkMs: 400, think: "a b c" }), 9)).toBe(
      "Thought for under a second · 3 words",
    );
    expect(thinkingLabel(turn({ status: "complete", thinkMs: 12_000, think: "a b" }), 0)).toBe("Thought for 12 s · 2 words");
    expect(thinkingLabel(turn({ status: "complete", thinkMs: 12_000, thinkTokens: 9, think: "a b" }), 0)).toBe(
      "Thought for 12 s · 9 tokens",
    );
  });

  it("stops the timer once the answer starts", () => {
    const t = turn({ startedAt: 0, thinkStartedAt: 10, answerStartedAt: 5_000, thinkMs: 5_000, thinkTokens: 7 });
    expect(thinkingLabel(t, 60_000)).toBe("Thought for 5 s · 7 tokens");
  });
});

describe("statsLabel and statusBadge", () => {
  it("lists what is known", () => {
    expect(statsLabel(turn({}))).toBe("");
    expect(statsLabel(turn({ tokensPerS: 23.4, ttftMs: 850, tokens: 1204 }))).toBe(
      "23.4 tokens/s · first token in 850 ms · 1,204 tokens",
    );
    expect(statsLabel(turn({ tokensPerS: 0, tokens: 3 }))).toBe("3 tokens");
  });

  it("names the ways a turn can end badly", () => {
    expect(statusBadge(turn({ status: "streaming" }))).toBeNull();
    expect(statusBadge(turn({ status: "complete", finishReason: "stop" }))).toBeNull();
    expect(statusBadge(turn({ status: "complete", finishReason: "length" }))).toBe("Cut off at the token limit");
    expect(statusBadge(turn({ status: "stopped" }))).toBe("Stopped");
    expect(statusBadge(turn({ status: "failed" }))).toBe("Failed");
    expect(statusBadge(turn({ status: "interrupted" }))).toBe("Interrupted");
  });
});
