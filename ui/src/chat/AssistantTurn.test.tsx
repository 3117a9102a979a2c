import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { StreamEvent } from "../ipc/types";
import { applyEvent, newTurn, type TurnState } from "../stream/turn";
import { cutInto, ev } from "../test/events";
import { squash, typesetTex } from "../test/markdown";
import { AssistantTurn } from "./AssistantTurn";

const T0 = new Date("2025-05-01T10:00:00Z").getTime();

function feed(turn: TurnState, events: StreamEvent[], at: number): TurnState {
  return events.reduce((s, e) => applyEvent(s, e, at), turn);
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

describe("AssistantTurn: the thinking section", () => {
  it("is open with a running timer while the model thinks", () => {
    const turn = feed(newTurn(T0), cutInto("Consider $x^2$ first.").map(ev.think), T0 + 300);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    const header = screen.getByTestId("thinking-header");
    expect(header.getAttribute("aria-expanded")).toBe("true");
    expect(header.querySelector(".thinking__label")?.textContent).toBe("Thinking… 0 s");
    const body = screen.getByTestId("thinking-body");
    expect(typesetTex(body)).toEqual(["x^2"]);

    act(() => {
      vi.advanceTimersByTime(12_300);
    });
    expect(screen.getByTestId("thinking-header").querySelector(".thinking__label")?.textContent).toBe("Thinking… 12 s");
  });

  it("says it is reading the question before any text comes", () => {
    render(<AssistantTurn turn={newTurn(T0)} onStop={() => {}} />);
    expect(screen.getByTestId("thinking-body").textContent).toContain("Reading the question");
  });

  it("folds to 'Thought for N s · N tokens' when the answer starts, and opens on a click", () => {
    let turn = feed(newTurn(T0), [ev.think("Let me see.")], T0 + 300);
    turn = applyEvent(turn, ev.stats(1204), T0 + 41_000);
    turn = applyEvent(turn, ev.answer("It is 5."), T0 + 41_500);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    const header = screen.getByTestId("thinking-header");
    expect(header.getAttribute("aria-expanded")).toBe("false");
    expect(header.querySelector(".thinking__label")?.textContent).toBe("Thought for 41 s · 1,204 tokens");
    expect(screen.queryByTestId("thinking-body")).toBeNull();

    fireEvent.click(header);
    expect(screen.getByTestId("thinking-header").getAttribute("aria-expanded")).toBe("true");
    expect(screen.getByTestId("thinking-body").textContent).toContain("Let me see.");
    fireEvent.click(screen.getByTestId("thinking-header"));
    expect(screen.queryByTestId("thinking-body")).toBeNull();
  });

  it("is absent for a finished answer that did not think", () => {
    const turn = feed(newTurn(T0), [ev.answer("4"), ev.done({ final_answer: "4" })], T0 + 100);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    expect(screen.queryByTestId("thinking-header")).toBeNull();
  });
});

describe("AssistantTurn: the answer", () => {
  it("hides <answer> tags, even one cut off at the end of the stream", () => {
    let turn = newTurn(T0);
    const { rerender } = render(<AssistantTurn turn={turn} onStop={() => {}} />);
    const text = "Adding up:\n\n<answer>The result is 4</answer>";
    for (const piece of cutInto(text)) {
      turn = applyEvent(turn, ev.answer(piece), T0 + 100);
      rerender(<AssistantTurn turn={turn} onStop={() => {}} />);
      const shown = screen.queryByTestId("answer")?.textContent ?? "";
      expect(shown).not.toMatch(/<\/?a(n(s(w(e(r)?)?)?)?)?>?$/);
      expect(shown).not.toContain("answer>");
    }
    const paragraphs = Array.from(screen.getByTestId("answer").querySelectorAll("p")).map((p) => p.textContent);
    expect(paragraphs).toEqual(["Adding up:", "The result is 4"]);
  });

  it("shows half-written math as text while streaming, then typesets it", () => {
    let turn = applyEvent(newTurn(T0), ev.answer("So \\[ x = \\frac{1}{"), T0 + 100);
    const { rerender } = render(<AssistantTurn turn={turn} onStop={() => {}} />);
    const answer = screen.getByTestId("answer");
    expect(answer.querySelector(".katex, .katex-error")).toBeNull();
    expect(squash(answer.textContent)).toBe("So \\[ x = \\frac{1}{");

    turn = feed(turn, [ev.answer("2} \\]"), ev.done()], T0 + 200);
    rerender(<AssistantTurn turn={turn} onStop={() => {}} />);
    expect(screen.getByTestId("answer").querySelector(".katex-error")).toBeNull();
    expect(typesetTex(screen.getByTestId("answer"))).toEqual(["\\displaystyle x = \\frac{1}{2}"]);
  });

  const finals: [string, string, (el: HTMLElement) => void][] = [
    ["an <answer> block", "4", (el) => expect(squash(el.querySelector(".markdown")?.textContent)).toBe("4")],
    // The final answer is set in display style: its fractions full size.
    [
      "a \\boxed{} formula",
      "\\frac{\\sqrt{3}}{2}",
      (el) => expect(typesetTex(el)).toEqual(["\\displaystyle \\frac{\\sqrt{3}}{2}"]),
    ],
    ["an Answer: line", "$x = 3$", (el) => expect(typesetTex(el)).toEqual(["\\displaystyle x = 3"])],
    ["a choice", "B", (el) => expect(squash(el.querySelector(".markdown")?.textContent)).toBe("B")],
  ];
  for (const [shape, finalAnswer, check] of finals) {
    it(`highlights the final answer from ${shape}`, () => {
      const turn = feed(newTurn(T0), [ev.answer("Working… done."), ev.done({ final_answer: finalAnswer })], T0 + 10);
      render(<AssistantTurn turn={turn} onStop={() => {}} />);
      const box = screen.getByTestId("final-answer");
      expect(box.textContent).toContain("Final answer");
      expect(box.querySelector(".katex-error")).toBeNull();
      check(box);
    });
  }

  it("shows an answer that is all final answer once, inside the highlight", () => {
    const text = "The hypotenuse is $c = 5$.";
    const turn = feed(newTurn(T0), [ev.answer(`<answer>${text}</answer>`), ev.done({ final_answer: text })], T0 + 10);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    const answers = screen.getAllByTestId("answer");
    expect(answers).toHaveLength(1);
    const only = answers[0] as HTMLElement;
    expect(screen.getByTestId("final-answer").contains(only)).toBe(true);
    expect(typesetTex(only)).toEqual(["\\displaystyle c = 5"]);
  });

  it("shows no final answer while streaming, or when there is none", () => {
    const streaming = { ...applyEvent(newTurn(T0), ev.answer("x"), T0 + 1), finalAnswer: "4" };
    const { rerender } = render(<AssistantTurn turn={streaming} onStop={() => {}} />);
    expect(screen.queryByTestId("final-answer")).toBeNull();
    const done = feed(newTurn(T0), [ev.answer("x"), ev.done()], T0 + 1);
    rerender(<AssistantTurn turn={done} onStop={() => {}} />);
    expect(screen.queryByTestId("final-answer")).toBeNull();
  });
});

describe("AssistantTurn: controls and problems", () => {
  it("offers Stop while streaming and the copy and regenerate buttons after", () => {
    const onStop = vi.fn();
    const onRegenerate = vi.fn();
    const live = applyEvent(newTurn(T0), ev.answer("x"), T0 + 1);
    const { rerender } = render(<AssistantTurn turn={live} onStop={onStop} onRegenerate={onRegenerate} />);
    fireEvent.click(screen.getByTestId("stop-button"));
    expect(onStop).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("regenerate-button")).toBeNull();
    expect(screen.getByTestId("assistant-turn").getAttribute("aria-busy")).toBe("true");

    const done = applyEvent(live, ev.done({ stats: { tokens_per_s: 25, ttft_ms: 900, generated_tokens: 12 } }), T0 + 2);
    rerender(<AssistantTurn turn={done} onStop={onStop} onRegenerate={onRegenerate} />);
    expect(screen.queryByTestId("stop-button")).toBeNull();
    expect(screen.getByTestId("copy-text-button")).toBeTruthy();
    expect(screen.getByTestId("copy-latex-button")).toBeTruthy();
    fireEvent.click(screen.getByTestId("regenerate-button"));
    expect(onRegenerate).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("turn-stats").textContent).toBe("25.0 tokens/s · first token in 900 ms · 12 tokens");
  });

  it("shows a failure's sentence and badge", () => {
    const turn = feed(newTurn(T0), [ev.answer("part"), ev.failed("The model ran out of memory.")], T0 + 5);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    expect(screen.getByRole("alert").textContent).toBe("The model ran out of memory.");
    expect(screen.getByTestId("assistant-turn").dataset.status).toBe("failed");
    expect(screen.getByText("Failed")).toBeTruthy();
    expect(screen.getByTestId("answer").textContent).toContain("part");
  });

  it("says when the answer was cut off at the token limit", () => {
    const turn = feed(newTurn(T0), [ev.answer("long…"), ev.done({ finish_reason: "length" })], T0 + 5);
    render(<AssistantTurn turn={turn} onStop={() => {}} />);
    expect(screen.getByText("Cut off at the token limit")).toBeTruthy();
  });
});

describe("AssistantTurn: a transcription", () => {
  it("says it is the reading of the picture, and whose", () => {
    const turn = { ...newTurn(T0), status: "complete" as const, answer: "Kind: geometry\nAB = 6" };
    const { rerender } = render(<AssistantTurn turn={turn} reading="model" onStop={() => {}} />);
    expect(screen.getByTestId("transcription-label").textContent).toBe("What the picture shows, as the model read it");
    rerender(<AssistantTurn turn={turn} reading="corrected" onStop={() => {}} />);
    expect(screen.getByTestId("transcription-label").textContent).toBe("What the picture shows, as corrected by you");
    rerender(<AssistantTurn turn={turn} onStop={() => {}} />);
    expect(screen.queryByTestId("transcription-label")).toBeNull();
  });

  it("shows the kind as a label and the reading typeset, with no final-answer box", () => {
    const turn = {
      ...newTurn(T0),
      status: "complete" as const,
      answer: "<answer>Kind: equation\n$x^2 = 4$</answer>",
      finalAnswer: "Kind: equation\n$x^2 = 4$",
    };
    render(<AssistantTurn turn={turn} reading="model" onStop={() => {}} />);
    expect(screen.getByTestId("transcription-kind").textContent).toBe("Equation");
    expect(typesetTex(screen.getByTestId("answer"))).toEqual(["x^2 = 4"]);
    expect(screen.getByTestId("answer").textContent).not.toContain("Kind");
    expect(screen.queryByTestId("final-answer")).toBeNull();
  });

  it("asks for a check and solves from the reading as it is", () => {
    const onSolve = vi.fn();
    const turn = { ...newTurn(T0), status: "complete" as const, answer: "Kind: geometry\nAB = 3" };
    render(<AssistantTurn turn={turn} reading="model" onSolve={onSolve} unanswered onStop={() => {}} />);
    fireEvent.click(screen.getByTestId("solve-button"));
    expect(onSolve).toHaveBeenCalledWith(null);
  });

  it("edits the reading's source and solves from the correction; unchanged text is no correction", () => {
    const onSolve = vi.fn();
    const turn = { ...newTurn(T0), status: "complete" as const, answer: "Kind: geometry\nAB = 3" };
    render(<AssistantTurn turn={turn} reading="model" onSolve={onSolve} unanswered onStop={() => {}} />);
    fireEvent.click(screen.getByTestId("reading-edit"));
    const editor = screen.getByTestId("reading-editor") as HTMLTextAreaElement;
    expect(editor.value).toBe("Kind: geometry\nAB = 3");
    fireEvent.click(screen.getByTestId("reading-solve"));
    expect(onSolve).toHaveBeenLastCalledWith(null);

    fireEvent.click(screen.getByTestId("reading-edit"));
    fireEvent.change(screen.getByTestId("reading-editor"), { target: { value: "   " } });
    expect((screen.getByTestId("reading-solve") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(screen.getByTestId("reading-editor"), { target: { value: "Kind: geometry\nAB = 6" } });
    fireEvent.keyDown(screen.getByTestId("reading-editor"), { key: "Enter", ctrlKey: true });
    expect(onSolve).toHaveBeenLastCalledWith("Kind: geometry\nAB = 6");
    expect(screen.queryByTestId("reading-editor")).toBeNull();
  });

  it("opens a refused correction again with the reason", () => {
    const turn = { ...newTurn(T0), status: "complete" as const, answer: "Kind: geometry\nAB = 3" };
    render(
      <AssistantTurn
        turn={turn}
        reading="model"
        onSolve={() => {}}
        unanswered
        draft={{ text: "x".repeat(50), error: "the transcription is 50 characters long" }}
        onStop={() => {}}
      />,
    );
    expect((screen.getByTestId("reading-editor") as HTMLTextAreaElement).value).toBe("x".repeat(50));
    expect(screen.getByTestId("reading-error").textContent).toBe("the transcription is 50 characters long");
  });

  it("offers editing (not the solve prompt) once answered, and nothing while generating elsewhere", () => {
    const turn = { ...newTurn(T0), status: "complete" as const, answer: "AB = 3" };
    const { rerender } = render(<AssistantTurn turn={turn} reading="model" onSolve={() => {}} onStop={() => {}} />);
    expect(screen.queryByTestId("solve-button")).toBeNull();
    expect(screen.getByTestId("reading-edit")).toBeTruthy();
    rerender(<AssistantTurn turn={turn} reading="model" onStop={() => {}} />);
    expect(screen.queryByTestId("reading-edit")).toBeNull();
  });
});
