import { fireEvent, render, screen } from "@testing-library/react";
import type { ReactNode } from "react";
import { describe, expect, it, vi } from "vitest";
import type { GenerationSettings } from "../ipc/types";
import { DEFAULT_SETTINGS } from "../settings/settings";
import { ChatController } from "./controller";
import { ConversationView } from "./ConversationView";
import { ChatContext } from "./useChat";

vi.mock("../ipc/commands", () => ({}));

const SETTINGS: GenerationSettings = { ...DEFAULT_SETTINGS, preset: "plain" };

/** A fresh conversation: the controller holds no turns yet. */
function inChat(view: ReactNode) {
  const controller = new ChatController({ getSettings: () => SETTINGS, onHistoryChanged: vi.fn() });
  return render(<ChatContext.Provider value={controller}>{view}</ChatContext.Provider>);
}

describe("ConversationView's empty state", () => {
  it("says no model answers yet and opens the model panel from there", () => {
    const onChooseModel = vi.fn();
    inChat(<ConversationView onChooseModel={onChooseModel} onTryExample={vi.fn()} />);
    expect(screen.getByTestId("empty-no-model").textContent).toMatch(/No model answers yet/);
    fireEvent.click(screen.getByRole("button", { name: "Choose a model" }));
    expect(onChooseModel).toHaveBeenCalledTimes(1);
    expect(screen.getAllByTestId("example").length).toBeGreaterThan(0);
  });

  it("leaves the sentence out once a model answers", () => {
    inChat(<ConversationView onTryExample={vi.fn()} />);
    expect(screen.queryByTestId("empty-no-model")).toBeNull();
  });
});
