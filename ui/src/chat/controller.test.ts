import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { AskRequest, AskStarted, GenerationSettings, SolveRequest, SolveStarted, StreamEvent } from "../ipc/types";
import { DEFAULT_SETTINGS } from "../settings/settings";
import { cutInto, ev } from "../test/events";
import { ChatController } from "./controller";
import type { AssistantItem } from "./items";

vi.mock("../ipc/commands", () => ({
  ask: vi.fn(),
  solve: vi.fn(),
  stopGeneration: vi.fn(() => Promise.resolve()),
  getConversation: vi.fn(),
}));

// The panel's defaults with the preset a loaded R1-Onevision folder resolves to.
const SETTINGS: GenerationSettings = { ...DEFAULT_SETTINGS, preset: "r1-onevision" };

interface PendingAsk {
  request: AskRequest;
  emit: (event: StreamEvent) => void;
  resolve: (started: AskStarted) => void;
  reject: (reason: unknown) => void;
}

let asks: PendingAsk[];
let solves: { request: SolveRequest; emit: (event: StreamEvent) => void; resolve: (s: SolveStarted) => void; reject: (r: unknown) => void }[];
let clock: number;

function setup(transcribeFirst = false) {
  const onHistoryChanged = vi.fn();
  const controller = new ChatController({
    getSettings: () => SETTINGS,
    getTranscribeFirst: () => transcribeFirst,
    onHistoryChanged,
    now: () => clock,
  });
  return { controller, onHistoryChanged };
}

function assistant(controller: ChatController): AssistantItem {
  const items = controller.getSnapshot().items;
  const last = items[items.length - 1];
  if (!last || last.kind !== "assistant") throw new Error("no assistant turn");
  return last;
}

beforeEach(() => {
  vi.useFakeTimers();
  clock = 10_000;
  asks = [];
  solves = [];
  vi.mocked(commands.solve).mockImplementation(
    (request, onEvent) =>
      new Promise<SolveStarted>((resolve, reject) => {
        solves.push({ request, emit: onEvent, resolve, reject });
      }),
  );
  vi.mocked(commands.ask).mockImplementation(
    (request, onEvent) =>
      new Promise<AskStarted>((resolve, reject) => {
        asks.push({ request, emit: onEvent, resolve, reject });
      }),
  );
});

afterEach(() => {
  vi.useRealTimers();
});

describe("ChatController streaming", () => {
  it("asks with the question, the pictures and the settings", () => {
    const { controller } = setup();
    const picture = { sha256: "ab".repeat(32), width: 10, height: 10, mime: "image/png", thumbnail: "" };
    expect(controller.send("What is x?", [picture])).toBe(true);
    expect(asks).toHaveLength(1);
    expect(asks[0]!.request).toEqual({
      conversation_id: null,
      replace_from: null,
      text: "What is x?",
      pictures: [picture.sha256],
      settings: SETTINGS,
      transcribe_first: false,
    });
    const snapshot = controller.getSnapshot();
    expect(snapshot.generating).toBe(true);
    expect(snapshot.items.map((i) => i.kind)).toEqual(["user", "assistant"]);
    expect(assistant(controller).turn.status).toBe("streaming");
  });

  it("delivers deltas a frame at a time, all of them, in order", () => {
    const { controller } = setup();
    controller.send("q", []);
    const { emit } = asks[0]!;
    const listener = vi.fn();
    controller.subscribe(listener);

    emit(ev.started(50));
    const thinking = "Let me think about \\frac{a}{b} and <answer> tags… 🙂";
    for (const piece of cutInto(thinking)) emit(ev.think(piece));
    expect(assistant(controller).turn.think).toBe("");
    expect(listener).not.toHaveBeenCalled();

    vi.advanceTimersToNextFrame();
    expect(assistant(controller).turn.think).toBe(thinking);
    expect(listener).toHaveBeenCalledTimes(1);

    const answer = "So the answer is $\\boxed{4}$.";
    for (const piece of cutInto(answer, [4, 1])) emit(ev.answer(piece));
    vi.advanceTimersToNextFrame();
    expect(assistant(controller).turn.answer).toBe(answer);
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it("shows the end of the stream at once, with the tail that had not been delivered", () => {
    const { controller, onHistoryChanged } = setup();
    controller.send("q", []);
    const { emit } = asks[0]!;
    emit(ev.think("a"));
    vi.advanceTimersToNextFrame();
    emit(ev.think("b"));
    emit(ev.answer("c"));
    emit(ev.answer("d"));
    emit(ev.done({ final_answer: "d" }));
    // No frame has passed: done flushed everything.
    const turn = assistant(controller).turn;
    expect(turn.think).toBe("ab");
    expect(turn.answer).toBe("cd");
    expect(turn.status).toBe("complete");
    expect(turn.finalAnswer).toBe("d");
    expect(controller.getSnapshot().generating).toBe(false);
    expect(onHistoryChanged).toHaveBeenCalled();
    emit(ev.answer("late"));
    vi.advanceTimersToNextFrame();
    expect(assistant(controller).turn.answer).toBe("cd");
  });

  it("times each event when it arrived, not when its frame ran", () => {
    const { controller } = setup();
    controller.send("q", []);
    const { emit } = asks[0]!;
    clock = 10_400;
    emit(ev.think("x"));
    clock = 12_000;
    emit(ev.answer("y"));
    clock = 99_000;
    vi.advanceTimersToNextFrame();
    const turn = assistant(controller).turn;
    expect(turn.ttftMs).toBe(400);
    expect(turn.thinkMs).toBe(2_000);
  });

  it("a failed stream ends the generation and keeps the error", () => {
    const { controller } = setup();
    controller.send("q", []);
    asks[0]!.emit(ev.answer("part"));
    asks[0]!.emit(ev.failed("The engine stopped."));
    const turn = assistant(controller).turn;
    expect(turn.status).toBe("failed");
    expect(turn.error).toBe("The engine stopped.");
    expect(turn.answer).toBe("part");
    expect(controller.getSnapshot().generating).toBe(false);
  });

  it("a refused ask fails the turn with the backend's sentence", async () => {
    const { controller } = setup();
    controller.send("q", []);
    asks[0]!.reject("No model is loaded.");
    await vi.waitFor(() => expect(assistant(controller).turn.status).toBe("failed"));
    expect(assistant(controller).turn.error).toBe("No model is loaded.");
    expect(controller.getSnapshot().generating).toBe(false);
    expect(controller.send("again", [])).toBe(true);
  });

  it("runs one generation at a time", () => {
    const { controller } = setup();
    expect(controller.send("one", [])).toBe(true);
    expect(controller.send("two", [])).toBe(false);
    expect(asks).toHaveLength(1);
    asks[0]!.emit(ev.done());
    expect(controller.send("two", [])).toBe(true);
  });

  it("gives the turns their ids and the conversation its id when the ask is accepted", async () => {
    const { controller, onHistoryChanged } = setup();
    controller.send("q", []);
    asks[0]!.resolve({ conversation_id: 7, user_message_id: 70, assistant_message_id: 71, transcription: false });
    await vi.waitFor(() => expect(controller.getSnapshot().conversationId).toBe(7));
    expect(controller.getSnapshot().items.map((i) => i.id)).toEqual([70, 71]);
    expect(onHistoryChanged).toHaveBeenCalled();
  });

  it("stop asks the backend to stop only while generating", async () => {
    const { controller } = setup();
    await controller.stop();
    expect(commands.stopGeneration).not.toHaveBeenCalled();
    controller.send("q", []);
    await controller.stop();
    expect(commands.stopGeneration).toHaveBeenCalledTimes(1);
    asks[0]!.emit(ev.done({ status: "stopped", finish_reason: "cancelled" }));
    expect(assistant(controller).turn.status).toBe("stopped");
  });

  it("regenerate replaces the question and everything after it", async () => {
    const { controller } = setup();
    controller.send("first", []);
    asks[0]!.resolve({ conversation_id: 3, user_message_id: 30, assistant_message_id: 31, transcription: false });
    asks[0]!.emit(ev.answer("1"));
    asks[0]!.emit(ev.done());
    await vi.waitFor(() => expect(controller.getSnapshot().items[0]!.id).toBe(30));
    const userKey = controller.getSnapshot().items[0]!.key;

    expect(controller.regenerate(userKey)).toBe(true);
    expect(asks[1]!.request).toMatchObject({ conversation_id: 3, replace_from: 30, text: "first" });
    const items = controller.getSnapshot().items;
    expect(items).toHaveLength(2);
    expect(assistant(controller).turn.answer).toBe("");

    asks[1]!.emit(ev.done());
    expect(controller.editAndResend(controller.getSnapshot().items[0]!.key, "  ")).toBe(false);
    expect(controller.editAndResend(controller.getSnapshot().items[0]!.key, "second")).toBe(true);
    expect(asks[2]!.request.text).toBe("second");
  });
});

describe("ChatController transcribe-first", () => {
  const picture = { sha256: "cd".repeat(32), width: 10, height: 10, mime: "image/png", thumbnail: "" };

  /** A question with a picture whose reading has streamed and finished. */
  async function readPicture(controller: ChatController) {
    expect(controller.send("What is AC?", [picture])).toBe(true);
    expect(asks[0]!.request.transcribe_first).toBe(true);
    expect(assistant(controller).reading).toBe("model");
    asks[0]!.resolve({ conversation_id: 5, user_message_id: 50, assistant_message_id: 51, transcription: true });
    asks[0]!.emit(ev.answer("Kind: geometry\nAB = 3"));
    asks[0]!.emit(ev.done());
    await vi.waitFor(() => expect(assistant(controller).id).toBe(51));
    return assistant(controller).key;
  }

  it("asks for a reading only when the question has a picture", async () => {
    const { controller } = setup(true);
    controller.send("no picture here", []);
    expect(asks[0]!.request.transcribe_first).toBe(false);
    expect(assistant(controller).reading).toBeUndefined();
    asks[0]!.resolve({ conversation_id: 1, user_message_id: 10, assistant_message_id: 11, transcription: false });
    asks[0]!.emit(ev.done());
    await vi.waitFor(() => expect(assistant(controller).id).toBe(11));
    expect(assistant(controller).reading).toBeUndefined();
  });

  it("answers from the corrected reading after it, and shows the reading as saved", async () => {
    const { controller } = setup(true);
    const readingKey = await readPicture(controller);

    expect(controller.solve(readingKey, "Kind: geometry\nAB = 6")).toBe(true);
    expect(solves[0]!.request).toEqual({
      conversation_id: 5,
      transcription_id: 51,
      reading: "Kind: geometry\nAB = 6",
      settings: SETTINGS,
    });
    expect(controller.getSnapshot().items.map((i) => i.kind)).toEqual(["user", "assistant", "assistant"]);
    expect(controller.getSnapshot().generating).toBe(true);
    solves[0]!.resolve({ assistant_message_id: 52, reading: "Kind: geometry\nAB = 6", corrected: true });
    solves[0]!.emit(ev.answer("AC = 10"));
    solves[0]!.emit(ev.done());
    await vi.waitFor(() => expect(assistant(controller).id).toBe(52));
    const [, reading, answer] = controller.getSnapshot().items as AssistantItem[];
    expect(reading!.reading).toBe("corrected");
    expect(reading!.turn.answer).toBe("Kind: geometry\nAB = 6");
    expect(answer!.turn.answer).toBe("AC = 10");

    // Solving again from the same reading replaces the answer (regenerate of the second pass).
    expect(controller.solve(readingKey, null)).toBe(true);
    expect(solves[1]!.request.reading).toBeNull();
    expect(controller.getSnapshot().items).toHaveLength(3);
    expect(assistant(controller).turn.answer).toBe("");
  });

  it("puts a refused correction back into the card with why, losing nothing", async () => {
    const { controller } = setup(true);
    const readingKey = await readPicture(controller);
    controller.solve(readingKey, "   ");
    solves[0]!.reject("the transcription is empty: write what the picture shows");
    await vi.waitFor(() => expect(controller.getSnapshot().items).toHaveLength(2));
    const reading = assistant(controller);
    expect(reading.draft).toEqual({ text: "   ", error: "the transcription is empty: write what the picture shows" });
    expect(reading.turn.answer).toBe("Kind: geometry\nAB = 3");
    expect(controller.getSnapshot().generating).toBe(false);
    // The next try starts clean.
    expect(controller.solve(readingKey, "Kind: geometry\nAB = 6")).toBe(true);
    expect((controller.getSnapshot().items[1] as AssistantItem).draft).toBeUndefined();
  });

  it("reads the picture again when the reading is regenerated", async () => {
    const { controller } = setup(false);
    controller.send("What is AC?", [picture]);
    expect(asks[0]!.request.transcribe_first).toBe(false);
    asks[0]!.resolve({ conversation_id: 5, user_message_id: 50, assistant_message_id: 51, transcription: false });
    asks[0]!.emit(ev.done());
    await vi.waitFor(() => expect(assistant(controller).id).toBe(51));
    const userKey = controller.getSnapshot().items[0]!.key;
    expect(controller.regenerate(userKey, true)).toBe(true);
    expect(asks[1]!.request).toMatchObject({ replace_from: 50, transcribe_first: true });
    expect(assistant(controller).reading).toBe("model");
  });

  it("will not solve while another answer is generating, or from a reading without an id", () => {
    const { controller } = setup(true);
    controller.send("What is AC?", [picture]);
    const key = assistant(controller).key;
    expect(controller.solve(key, null)).toBe(false);
  });
});

