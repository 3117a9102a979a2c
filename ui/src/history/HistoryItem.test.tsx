import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { ConversationSummary } from "../ipc/types";
import { HistoryItem } from "./HistoryItem";

function summary(interrupted: boolean): ConversationSummary {
  return {
    id: 7,
    title: "Area of the triangle",
    model_id: "m",
    pinned: false,
    created_at: 0,
    updated_at: 0,
    message_count: 2,
    interrupted,
  };
}

const noop = () => {};

describe("HistoryItem", () => {
  it("marks a conversation whose reply a crash cut off", () => {
    const { rerender } = render(
      <ul>
        <HistoryItem conversation={summary(true)} current={false} onOpen={noop} onChanged={noop} onDeleted={noop} onError={noop} />
      </ul>,
    );
    expect(screen.getByTestId("history-interrupted").textContent).toBe("interrupted");
    rerender(
      <ul>
        <HistoryItem conversation={summary(false)} current={false} onOpen={noop} onChanged={noop} onDeleted={noop} onError={noop} />
      </ul>,
    );
    expect(screen.queryByTestId("history-interrupted")).toBeNull();
  });
});
