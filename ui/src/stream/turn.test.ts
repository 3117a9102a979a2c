import { describe, expect, it } from "vitest";
import type { StreamEvent } from "../ipc/types";
import { cutInto, ev, storedAssistant } from "../test/events";
import { statsLabel, statusBadge, thinkingLabel } from "./labels";
import {
  applyEvent,
  applyEvents,
  failTurn,
  isThinking,
  newTurn,
  thinkingOrigin,
  turnFromStored,
  type TimedEvent,
  type TurnState,
} from "./turn";

const T0 = 1_000_000;

/** Applies `events` one by one, each `step` ms after the previous, starting at `at`. */
function feed(state: TurnState, events: StreamEvent[], at: number, step = 10): TurnState {
  return events.reduce((s, e, i) => applyEvent(s, e, at + i * step), state);
}

const THINKING =
  "Let me look at the picture: a right triangle with legs 3 and 4. 勾股定理 says \\(c^2 = a^2 + b^2\\), " +
  "so $c = \\sqrt{9 + 16} = 5$ 🙂. Check: \\frac{3}{5} + \\frac{4}{5} ≠ 1, fine.";
const ANSWER = "The hypotenuse is\n\n\\[ c = \\sqrt{3^2 + 4^2} = 5 \\]\n\nAnswer: $\\boxed{5}$";

describe("a turn that thinks, then answers", () => {
  // The student sends at T0; the engine starts 10 ms later, thinks from 500 ms to 41.2 s in
  // small deltas, then answers until 44 s.
  function run(): { mid: TurnState; answering: TurnState; final: TurnState } {
    let s = newTurn(T0);
    s = applyEvent(s, ev.started(321), T0 + 10);
    s = feed(s, cutInto(THINKING).map(ev.think), T0 + 500);
    s = applyEvent(s, ev.stats(600, 20_000, 30), T0 + 20_000);
    const mid = s;
    s = applyEvent(s, ev.stats(1204, 41_000, 29.4), T0 + 41_000);
    s = feed(s, cutInto(ANSWER, [2, 1, 4]).map(ev.answer), T0 + 41_200);
    const answering = s;
    s = applyEvent(s, ev.stats(1300, 43_000, 30.2), T0 + 43_000);
    const final = applyEvent(
      s,
      ev.done({ final_answer: "5", stats: { generated_tokens: 1310, tokens_per_s: 30.5, ttft_ms: 480, prompt_tokens: 321 } }),
      T0 + 44_000,
    );
    return { mid, answering, final };
  }

  it("accumulates thinking and answer exactly, however the deltas were cut", () => {
    const { mid, final } = run();
    expect(mid.think).toBe(THINKING);
    expect(mid.answer).toBe("");
    expect(final.think).toBe(THINKING);
    expect(final.answer).toBe(ANSWER);
  });

  it("is thinking until the first answer text, then folds", () => {
    const { mid, answering, final } = run();
    expect(isThinking(newTurn(T0))).toBe(true);
    expect(isThinking(mid)).toBe(true);
    expect(mid.thinkMs).toBeNull();
    expect(isThinking(answering)).toBe(false);
    expect(isThinking(final)).toBe(false);
  });

  it("times the thinking from the send to the first answer text, with the tokens so far", () => {
    const { answering } = run();
    expect(thinkingOrigin(answering)).toBe(T0);
    expect(answering.thinkMs).toBe(41_200);
    expect(answering.thinkTokens).toBe(1204);
    expect(thinkingLabel(answering, T0 + 99_000)).toBe("Thought for 41 s · 1,204 tokens");
  });

  it("shows a running timer while thinking", () => {
    const { mid } = run();
    expect(thinkingLabel(mid, T0 + 12_300)).toBe("Thinking… 12 s");
    expect(thinkingLabel(mid, T0 + 125_000)).toBe("Thinking… 2 min 05 s");
  });

  it("measures the first token from the send, and keeps the engine's figures at the end", () => {
    const { mid, final } = run();
    expect(mid.ttftMs).toBe(500);
    expect(mid.promptTokens).toBe(321);
    expect(mid.tokens).toBe(600);
    expect(final.ttftMs).toBe(480);
    expect(final.tokens).toBe(1310);
    expect(final.tokensPerS).toBe(30.5);
    expect(statsLabel(final)).toBe("30.5 tokens/s · first token in 480 ms · 1,310 tokens");
  });

  it("ends complete with the final answer, and ignores anything after", () => {
    const { final } = run();
    expect(final.status).toBe("complete");
    expect(final.finishReason).toBe("stop");
    expect(final.finalAnswer).toBe("5");
    expect(final.thinkMs).toBe(41_200);
    expect(statusBadge(final)).toBeNull();
    expect(applyEvent(final, ev.answer(" more"), T0 + 50_000)).toBe(final);
    expect(applyEvent(final, ev.failed("late"), T0 + 50_000)).toBe(final);
    expect(applyEvent(final, ev.done({ status: "stopped" }), T0 + 50_000)).toBe(final);
  });

  it("takes the engine's thinking time and tokens from done when it sends them", () => {
    const { answering } = run();
    const final = applyEvent(answering, ev.done({ stats: { think_ms: 40_800, think_tokens: 1190 } }), T0 + 44_000);
    expect(final.thinkMs).toBe(40_800);
    expect(final.thinkTokens).toBe(1190);
    expect(thinkingLabel(final, 0)).toBe("Thought for 40 s · 1,190 tokens");
  });

  it("gives the same state whether events come one by one or in batches", () => {
    const events: TimedEvent[] = [
      { event: ev.started(), at: T0 + 5 },
      ...cutInto(THINKING).map((d, i) => ({ event: ev.think(d), at: T0 + 100 + i })),
      { event: ev.stats(50), at: T0 + 900 },
      ...cutInto(ANSWER).map((d, i) => ({ event: ev.answer(d), at: T0 + 1000 + i })),
      { event: ev.done({ final_answer: "5" }), at: T0 + 2000 },
    ];
    const oneByOne = events.reduce((s, { event, at }) => applyEvent(s, event, at), newTurn(T0));
    let batched = newTurn(T0);
    for (let i = 0; i < events.length; i += 7) batched = applyEvents(batched, events.slice(i, i + 7));
    expect(batched).toEqual(oneByOne);
    expect(batched.thinkMs).toBe(1000);
    expect(batched.ttftMs).toBe(100);
  });
});

describe("deltas cut anywhere", () => {
  it("keeps text cut inside tags, LaTeX commands and UTF-16 pairs", () => {
    // The engine strips <think>/<answer> tags, but a tag-like text the model writes, a TeX
    // command, a surrogate pair or a combining mark may still be split at any point.
    const text = "x <answer-ish> </thi \\frac{\\alpha}{\\beta} 😀 e\u0301 𝔽 \\begin{aligned}a&=b\\end{aligned}";
    for (const size of [1, 2, 3, 5, 7]) {
      const pieces: string[] = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
      const thought = feed(newTurn(T0), pieces.map(ev.think), T0 + 1);
      expect(thought.think, `size ${size}`).toBe(text);
      const answered = feed(newTurn(T0), pieces.map(ev.answer), T0 + 1);
      expect(answered.answer, `size ${size}`).toBe(text);
    }
  });

  it("keeps whitespace-only and newline deltas, and skips empty ones", () => {
    const s0 = applyEvent(newTurn(T0), ev.answer("a"), T0 + 1);
    expect(applyEvent(s0, ev.answer(""), T0 + 2)).toBe(s0);
    expect(applyEvent(s0, ev.think(""), T0 + 2)).toBe(s0);
    const s = feed(s0, [" ", "\n", "\n", "  b", " "].map(ev.answer), T0 + 3);
    expect(s.answer).toBe("a \n\n  b ");
  });

  it("does not start the clocks on an empty delta", () => {
    const s = applyEvent(newTurn(T0), ev.think(""), T0 + 300);
    expect(s.ttftMs).toBeNull();
    expect(s.thinkStartedAt).toBeNull();
  });
});

describe("turns that end otherwise", () => {
  it("an answer without thinking has no thinking time", () => {
    let s = applyEvent(newTurn(T0), ev.started(), T0 + 1);
    s = feed(s, ["The ", "answer ", "is 4."].map(ev.answer), T0 + 250);
    s = applyEvent(s, ev.done({ final_answer: "4", stats: { generated_tokens: 6 } }), T0 + 900);
    expect(s.answer).toBe("The answer is 4.");
    expect(s.ttftMs).toBe(250);
    expect(s.thinkMs).toBeNull();
    expect(s.thinkTokens).toBeNull();
    expect(s.think).toBe("");
    expect(s.status).toBe("complete");
  });

  it("thinking cut off at the token limit counts all of it as thinking", () => {
    let s = feed(newTurn(T0), ["Hmm, ", "let me ", "think…"].map(ev.think), T0 + 400);
    s = applyEvent(s, ev.stats(2000), T0 + 60_000);
    s = applyEvent(
      s,
      ev.done({ finish_reason: "length", stats: { generated_tokens: 2048, tokens_per_s: 33 } }),
      T0 + 62_000,
    );
    expect(s.status).toBe("complete");
    expect(s.thinkMs).toBe(62_000);
    expect(s.thinkTokens).toBe(2048);
    expect(statusBadge(s)).toBe("Cut off at the token limit");
    expect(thinkingLabel(s, 0)).toBe("Thought for 1 min 02 s · 2,048 tokens");
  });

  it("a stopped turn keeps its text, closes the thinking and says it was stopped", () => {
    let s = feed(newTurn(T0), ["a", "b"].map(ev.think), T0 + 100);
    s = applyEvent(s, ev.done({ finish_reason: "cancelled", status: "stopped" }), T0 + 3_000);
    expect(s.status).toBe("stopped");
    expect(s.finishReason).toBe("cancelled");
    expect(s.think).toBe("ab");
    expect(s.thinkMs).toBe(3_000);
    expect(isThinking(s)).toBe(false);
    expect(statusBadge(s)).toBe("Stopped");
  });

  it("a failure mid-answer keeps the text and the error", () => {
    let s = feed(newTurn(T0), ["x"].map(ev.think), T0 + 100);
    s = feed(s, ["so ", "4"].map(ev.answer), T0 + 200);
    s = applyEvent(s, ev.failed("The model ran out of memory."), T0 + 500);
    expect(s.status).toBe("failed");
    expect(s.error).toBe("The model ran out of memory.");
    expect(s.answer).toBe("so 4");
    expect(s.thinkMs).toBe(200);
    expect(statusBadge(s)).toBe("Failed");
    expect(applyEvent(s, ev.answer("!"), T0 + 600)).toBe(s);
  });

  it("a failure while thinking closes the thinking", () => {
    const s = applyEvent(feed(newTurn(T0), [ev.think("x")], T0 + 100), ev.failed("boom"), T0 + 900);
    expect(s.thinkMs).toBe(900);
    expect(isThinking(s)).toBe(false);
  });

  it("failTurn marks a refused ask as failed, and leaves a finished turn alone", () => {
    const failed = failTurn(newTurn(T0), "No model is loaded.");
    expect(failed.status).toBe("failed");
    expect(failed.error).toBe("No model is loaded.");
    const done = applyEvent(newTurn(T0), ev.done(), T0 + 1);
    expect(failTurn(done, "late")).toBe(done);
  });
});

describe("turnFromStored", () => {
  const stats = {
    prompt_tokens: 321,
    generated_tokens: 1310,
    ttft_ms: 480,
    vision_ms: 100,
    prefill_ms: 200,
    decode_ms: 43_000,
    tokens_per_s: 30.5,
    think_ms: null,
    think_tokens: null,
  };

  it("shows a reopened turn's thinking exactly as it was shown live", () => {
    const turn = turnFromStored(
      storedAssistant({ think: "t", answer: "a", stats: { ...stats, think_ms: 41_200.5, think_tokens: 1204 } }),
    );
    expect(turn.thinkMs).toBe(41_200.5);
    expect(turn.thinkTokens).toBe(1204);
    expect(thinkingLabel(turn, 0)).toBe("Thought for 41 s · 1,204 tokens");
  });

  it("for older rows, knows the thinking time only when there was no answer", () => {
    const both = turnFromStored(storedAssistant({ think: "first, second and third", answer: "a", stats }));
    expect(both.thinkMs).toBeNull();
    expect(both.thinkTokens).toBeNull();
    expect(thinkingLabel(both, 0)).toBe("Thought · 4 words");
    const onlyThinking = turnFromStored(storedAssistant({ think: "t", answer: "", status: "stopped", stats }));
    expect(onlyThinking.thinkMs).toBe(43_000);
    expect(onlyThinking.thinkTokens).toBe(1310);
  });

  it("carries text, status, error, final answer and stats over", () => {
    const turn = turnFromStored(
      storedAssistant({ think: "t", answer: "a", final_answer: "4", status: "interrupted", error: "Closed.", stats }),
    );
    expect(turn).toMatchObject({
      think: "t",
      answer: "a",
      finalAnswer: "4",
      status: "interrupted",
      error: "Closed.",
      tokens: 1310,
      tokensPerS: 30.5,
      ttftMs: 480,
      promptTokens: 321,
      startedAt: null,
    });
    expect(isThinking(turn)).toBe(false);
    expect(statusBadge(turn)).toBe("Interrupted");
    expect(applyEvent(turn, ev.answer("x"), 1)).toBe(turn);
  });
});
