import { describe, expect, it } from "vitest";
import type { Conversation } from "../ipc/types";
import { storedAssistant } from "../test/events";
import { itemsFromConversation } from "./items";

function conversation(messages: Conversation["messages"]): Conversation {
  return {
    id: 1,
    title: "t",
    model_id: "m",
    pinned: false,
    created_at: 0,
    updated_at: 0,
    message_count: messages.length,
    interrupted: false,
    messages,
  };
}

describe("itemsFromConversation", () => {
  it("marks transcribe-first's readings, corrected or not, and leaves answers alone", () => {
    const question = { ...storedAssistant({ id: 1, position: 0, text: "What is AC?" }), role: "user" as const };
    const items = itemsFromConversation(
      conversation([
        question,
        storedAssistant({ id: 2, position: 1, kind: "transcription", answer: "Kind: geometry\nAB = 3" }),
        storedAssistant({ id: 3, position: 2, answer: "AC = 5" }),
        storedAssistant({ id: 4, position: 3, kind: "transcription", answer: "AB = 6", edited_from: "AB = 3" }),
      ]),
    );
    expect(items.map((i) => (i.kind === "assistant" ? (i.reading ?? "answer") : "question"))).toEqual([
      "question",
      "model",
      "answer",
      "corrected",
    ]);
  });
});
