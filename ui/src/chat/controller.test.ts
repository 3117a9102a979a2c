import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as commands from "../ipc/commands";
import type { AskRequest, AskStarted, GenerationSettings, StreamEvent } from "../ipc/types";
import { DEFAULT_SETTINGS } from "../settings/settings";
import { cutInto, ev } from "../test/events";
import { ChatController } from "./controller";
import type { AssistantItem } from "./items";

vi.mock("../ipc/commands", () => ({
  ask: vi.fn(),
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
let clock: number;

function setup() {
  const onHistoryChanged = vi.fn();
  const controller = new ChatController({ getSettings: () => SETTINGS, onHistoryChanged, now: () => clock });
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
    asks[0]!.resolve({ conversation_id: 7, user_message_id: 70, assistant_message_id: 71 });
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
    asks[0]!.resolve({ conversation_id: 3, user_message_id: 30, assistant_message_id: 31 });
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
