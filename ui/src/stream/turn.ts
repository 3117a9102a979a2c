// The state of one assistant turn, live or stored, and how stream events change it. Pure: the
// caller passes the clock, so timings can be tested without waiting.
import type {
  FinishReason,
  GenerationStats,
  MessageStatus,
  StoredMessage,
  StreamEvent,
} from "../ipc/types";

export interface TurnState {
  think: string;
  answer: string;
  status: MessageStatus;
  /** When the question was sent (ms since the epoch); null for a stored message. */
  startedAt: number | null;
  thinkStartedAt: number | null;
  answerStartedAt: number | null;
  /** How long the thinking took, once it is over; null while it runs or when unknown. */
  thinkMs: number | null;
  /** Tokens generated when the answer began, as last reported by the engine's stats. */
  thinkTokens: number | null;
  tokens: number | null;
  tokensPerS: number | null;
  ttftMs: number | null;
  promptTokens: number | null;
  error: string | null;
  finalAnswer: string | null;
  finishReason: FinishReason | null;
}

export function newTurn(now: number): TurnState {
  return {
    think: "",
    answer: "",
    status: "streaming",
    startedAt: now,
    thinkStartedAt: null,
    answerStartedAt: null,
    thinkMs: null,
    thinkTokens: null,
    tokens: null,
    tokensPerS: null,
    ttftMs: null,
    promptTokens: null,
    error: null,
    finalAnswer: null,
    finishReason: null,
  };
}

/** A stored assistant message as a turn. Thinking time and tokens are the ones recorded with it;
 * for rows written before they were recorded they are known only when the whole generation was
 * thinking (then they are the decode time and tokens), and otherwise left unknown, not guessed. */
export function turnFromStored(message: StoredMessage): TurnState {
  const { stats } = message;
  const onlyThinking = message.think !== "" && message.answer === "";
  return {
    think: message.think,
    answer: message.answer,
    status: message.status,
    startedAt: null,
    thinkStartedAt: null,
    answerStartedAt: null,
    thinkMs: stats.think_ms ?? (onlyThinking ? stats.decode_ms : null),
    thinkTokens: stats.think_tokens ?? (onlyThinking ? stats.generated_tokens : null),
    tokens: stats.generated_tokens,
    tokensPerS: stats.tokens_per_s,
    ttftMs: stats.ttft_ms,
    promptTokens: stats.prompt_tokens,
    error: message.error,
    finalAnswer: message.final_answer,
    finishReason: null,
  };
}

function isOver(state: TurnState): boolean {
  return state.status !== "streaming";
}

function firstDelta(state: TurnState, now: number): Partial<TurnState> {
  if (state.ttftMs !== null || state.startedAt === null) return {};
  if (state.thinkStartedAt !== null || state.answerStartedAt !== null) return {};
  return { ttftMs: now - state.startedAt };
}

/** When thinking is counted from: the moment the question was sent, as the student waits from
 * then on (for a turn without a send time, the first thinking text). */
export function thinkingOrigin(state: TurnState): number | null {
  return state.startedAt ?? state.thinkStartedAt;
}

/** Closes the thinking phase at `now` if there was one and it is still open. */
function endThinking(state: TurnState, now: number): Partial<TurnState> {
  const origin = thinkingOrigin(state);
  if (state.thinkStartedAt === null || origin === null) return {};
  if (state.thinkMs !== null || state.answerStartedAt !== null) return {};
  return { thinkMs: now - origin, thinkTokens: state.thinkTokens ?? state.tokens };
}

function withFinalStats(state: TurnState, stats: GenerationStats): Partial<TurnState> {
  return {
    tokens: stats.generated_tokens ?? state.tokens,
    tokensPerS: stats.tokens_per_s ?? state.tokensPerS,
    ttftMs: stats.ttft_ms ?? state.ttftMs,
    promptTokens: stats.prompt_tokens ?? state.promptTokens,
  };
}

export function applyEvent(state: TurnState, event: StreamEvent, now: number): TurnState {
  if (isOver(state)) return state;
  switch (event.event) {
    case "started":
      return { ...state, promptTokens: event.data.prompt_tokens };
    case "think":
      if (event.data.delta === "") return state;
      return {
        ...state,
        ...firstDelta(state, now),
        thinkStartedAt: state.thinkStartedAt ?? now,
        think: state.think + event.data.delta,
      };
    case "answer": {
      if (event.data.delta === "") return state;
      const starting = state.answerStartedAt === null;
      return {
        ...state,
        ...firstDelta(state, now),
        ...(starting ? endThinking(state, now) : {}),
        answerStartedAt: state.answerStartedAt ?? now,
        answer: state.answer + event.data.delta,
      };
    }
    case "stats":
      return {
        ...state,
        tokens: event.data.generated_tokens,
        tokensPerS: event.data.tokens_per_s,
      };
    case "done": {
      const closed = { ...state, ...endThinking(state, now) };
      return {
        ...closed,
        ...withFinalStats(closed, event.data.stats),
        status: event.data.status,
        finishReason: event.data.finish_reason,
        finalAnswer: event.data.final_answer,
        // The engine's own measure, when it sends one, is what the history keeps: the turn then
        // reads the same live and reopened.
        thinkMs: event.data.stats.think_ms ?? closed.thinkMs,
        thinkTokens:
          event.data.stats.think_tokens ??
          (closed.answerStartedAt === null && closed.thinkStartedAt !== null
            ? (event.data.stats.generated_tokens ?? closed.thinkTokens)
            : closed.thinkTokens),
      };
    }
    case "failed":
      return { ...state, ...endThinking(state, now), status: "failed", error: event.data.error };
    default:
      return state;
  }
}

/** An event with the time it arrived, so batching never blurs the timings. */
export interface TimedEvent {
  event: StreamEvent;
  at: number;
}

export function applyEvents(state: TurnState, events: readonly TimedEvent[]): TurnState {
  let next = state;
  for (const { event, at } of events) next = applyEvent(next, event, at);
  return next;
}

/** The turn when the ask command itself was refused: nothing was generated. */
export function failTurn(state: TurnState, error: string): TurnState {
  if (isOver(state)) return state;
  return { ...state, status: "failed", error };
}

/** Whether the thinking section is still being written (and so shown open with a timer). */
export function isThinking(state: TurnState): boolean {
  return state.status === "streaming" && state.answerStartedAt === null;
}
